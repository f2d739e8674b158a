use leptos::prelude::*;
use session_guard::ui::{
    use_session, use_session_guard_with_options, IdleWarning, LogoutNotice, SessionGuard,
    UseSessionGuardOptions,
};

// Around the protected app: nothing inside renders before the server confirmed the
// session (and recording consent, where required, was given).
#[component]
pub fn App() -> impl IntoView {
    let options = UseSessionGuardOptions::default()
        .login_path("/login")
        .on_before_logout(|reason| leptos::logging::log!("saving drafts: {}", reason.wire_name()));
    view! {
        <SessionGuard options=options>
            <Console />
        </SessionGuard>
    }
}

// Inside it: state, countdown, recording flag, user, and the actions.
#[component]
fn Console() -> impl IntoView {
    let session = use_session();
    let name = move || session.user.get().map(|user| user.display_name);
    view! {
        <p>"Signed in as " {name}</p>
        <button on:click=move |_| session.logout.run(())>"Sign out"</button>
    }
}

// On the login page: why the last session ended, in fixed words per reason.
#[component]
pub fn LoginPage() -> impl IntoView {
    view! { <LogoutNotice /> }
}

// Without the component: the hook alone, and the app shows the guard's parts itself.
#[component]
pub fn OwnLayout() -> impl IntoView {
    let session = use_session_guard_with_options(UseSessionGuardOptions::default());
    let warning = move || {
        matches!(
            session.state.get(),
            session_guard::core::State::Warning { .. }
        )
    };
    view! {
        <Show when=warning>
            <IdleWarning
                remaining_ms=session.remaining_ms
                on_stay=session.stay_signed_in
                on_logout=session.logout
            />
        </Show>
    }
}
