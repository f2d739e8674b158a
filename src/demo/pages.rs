//! The signed-in pages: the shell with navigation, the Dashboard and the Admin Console.

use leptos::prelude::*;
use session_guard::ui::use_session;

/// Header, navigation and sign-out around every signed-in page.
#[component]
pub fn Shell(
    /// The page.
    children: Children,
) -> impl IntoView {
    let session = use_session();
    let name = move || {
        session
            .user
            .get()
            .map(|u| u.display_name)
            .unwrap_or_default()
    };
    view! {
        <header class="shell-header">
            <span class="brand">"Secure Access Console"</span>
            <nav aria-label="Main">
                <a href="/dashboard">"Dashboard"</a>
                <Show when=move || session.privileged.get()>
                    <a href="/admin">"Admin Console"</a>
                </Show>
                <a href="/dashboard" target="_blank">"Open in new tab"</a>
            </nav>
            <span class="user">{name}</span>
            <button type="button" class="sg-secondary" on:click=move |_| session.logout.run(())>
                "Sign out"
            </button>
        </header>
        <main class="page">{children()}</main>
    }
}

/// Everyone's landing page.
#[component]
pub fn Dashboard() -> impl IntoView {
    let session = use_session();
    let limit = move || match session.idle_timeout.get() {
        Some(ms) => format!(
            "You are signed out after {} minutes of inactivity.",
            ms / 60_000
        ),
        None => "Your session has no inactivity timeout.".to_string(),
    };
    view! {
        <h1>"Dashboard"</h1>
        <p>{limit}</p>
        <p>"Sessions last at most 24 hours."</p>
    }
}

/// Privileged users only; everyone else is told so (the server refuses them anyway).
#[component]
pub fn AdminConsole() -> impl IntoView {
    let session = use_session();
    view! {
        <h1>"Admin Console"</h1>
        <Show
            when=move || session.privileged.get()
            fallback=|| view! { <p role="alert">"The Admin Console needs a privileged role."</p> }
        >
            <p>"Manage users, roles, groups and sessions."</p>
        </Show>
    }
}

/// Unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <h1>"Not found"</h1>
        <p><a href="/dashboard">"Back to the Dashboard"</a></p>
    }
}
