//! The signed-in pages: the shell with navigation and the Dashboard (the Admin Console
//! lives in `admin`).

use leptos::prelude::*;
use session_guard::core::describe_duration;
use session_guard::ui::{use_session, RecordingIndicator};

use super::{Route, PRODUCT};

/// Skip link, header (product name, navigation, recording badge, user, sign-out) and the
/// main landmark around every signed-in page.
#[component]
pub fn Shell(
    /// The page shown, marked `aria-current` in the navigation.
    route: Route,
    /// The page.
    children: Children,
) -> impl IntoView {
    let session = use_session();
    // Never the raw `location.pathname`: on `http://host//evil.example` it is
    // `//evil.example`, which as a link leaves the origin.
    let current_path = session_guard::browser::current_path();
    let name = move || {
        session
            .user
            .get()
            .map(|u| u.display_name)
            .unwrap_or_default()
    };
    let current = move |page: Route| (route == page).then_some("page");
    view! {
        <a class="skip-link" href="#main">"Skip to main content"</a>
        <header class="shell-header">
            <span class="brand">{PRODUCT}</span>
            <nav aria-label="Main">
                <a href="/dashboard" aria-current=current(Route::Dashboard)>"Dashboard"</a>
                <Show when=move || session.privileged.get()>
                    <a href="/admin" aria-current=current(Route::Admin)>"Admin Console"</a>
                </Show>
                // `rel="opener"` makes the browser copy sessionStorage into the new tab, so it
                // knows which tab opened it; the same path and query keep the navigation context.
                <a id="open-new-tab" href=current_path target="_blank" rel="opener">
                    "Open in new tab"
                </a>
            </nav>
            <div class="shell-session">
                <Show when=move || session.is_recording.get()>
                    <RecordingIndicator />
                </Show>
                <span class="user">{name}</span>
                <button type="button" class="sg-secondary" on:click=move |_| session.logout.run(())>
                    "Sign out"
                </button>
            </div>
        </header>
        <main id="main" class="page" tabindex="-1">{children()}</main>
    }
}

/// Everyone's landing page.
#[component]
pub fn Dashboard() -> impl IntoView {
    let session = use_session();
    let limit = move || match session.idle_timeout.get() {
        Some(ms) => format!(
            "You are signed out after {} of inactivity.",
            describe_duration(ms)
        ),
        None => "Your session has no inactivity timeout.".to_string(),
    };
    let user = move || {
        session
            .user
            .get()
            .map(|u| format!("{} ({})", u.display_name, u.username))
            .unwrap_or_default()
    };
    let lifetime = move || {
        session.lifetime.get().map(|ms| {
            format!(
                "Your session lasts {} from sign-in; it cannot be extended.",
                describe_duration(ms)
            )
        })
    };
    let scopes = Memo::new(move |_| session.snapshot.with(|s| s.scopes.clone()));
    view! {
        <h1>"Dashboard"</h1>
        <dl class="facts">
            <dt>"Signed in as"</dt>
            <dd id="dashboard-user">{user}</dd>
            <dt>"Privileged"</dt>
            <dd id="dashboard-privileged">
                {move || if session.privileged.get() { "Yes" } else { "No" }}
            </dd>
            <dt>"Scopes"</dt>
            <dd id="dashboard-scopes">
                <Show
                    when=move || !scopes.with(Vec::is_empty)
                    fallback=|| view! { <span class="muted">"None"</span> }
                >
                    <ul class="chips">
                        <For
                            each=move || scopes.get()
                            key=|s| s.clone()
                            children=|scope| view! { <li class="chip"><code>{scope}</code></li> }
                        />
                    </ul>
                </Show>
            </dd>
            <dt>"Idle limit"</dt>
            <dd id="dashboard-idle-limit">
                {move || match session.idle_timeout.get() {
                    Some(ms) => describe_duration(ms),
                    None => "None".to_string(),
                }}
            </dd>
        </dl>
        <p>{limit}</p>
        <p id="dashboard-lifetime">{lifetime}</p>
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
