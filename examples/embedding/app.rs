use leptos::prelude::*;
use session_guard::core::State;
use session_guard::ui::{
    login_return_path, use_session, use_session_guard_with_options, ConsentModal, IdleWarning,
    LifetimeNotice, LogoutNotice, RecordingIndicator, SessionGuard, UseSessionGuardOptions,
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

// On the login page: why the last session ended, in fixed words per reason, and the
// same-origin page to return to after signing in.
#[component]
pub fn LoginPage() -> impl IntoView {
    let return_to = login_return_path(None);
    view! {
        <LogoutNotice />
        <p>"After signing in you return to " {return_to}</p>
    }
}

// Without the component: the hook alone, and the app places the guard's parts itself.
#[component]
pub fn OwnLayout() -> impl IntoView {
    let session = use_session_guard_with_options(UseSessionGuardOptions::default());
    let state = session.state;
    let live = move || matches!(state.get(), State::Active | State::Warning { .. });
    view! {
        <Show when=move || session.is_recording.get()>
            <RecordingIndicator />
        </Show>
        <LifetimeNotice warning=session.lifetime_warning />
        <Show when=move || state.get() == State::AwaitingConsent>
            <ConsentModal on_answer=session.consent />
        </Show>
        <Show when=move || matches!(state.get(), State::Warning { .. })>
            <IdleWarning
                remaining_ms=session.remaining_ms
                on_stay=session.stay_signed_in
                on_logout=session.logout
            />
        </Show>
        <Show when=live>
            <p>"Protected content"</p>
        </Show>
    }
}
