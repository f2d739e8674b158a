//! The two modal dialogs: recording consent and the idle warning.

use leptos::html::{Button, Div};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::Millis;

/// Keeps keyboard focus inside a modal: Tab and Shift+Tab cycle between its buttons, and
/// Escape is swallowed so it cannot dismiss a dialog that needs an answer.
fn trap_focus(event: web_sys::KeyboardEvent, first: NodeRef<Button>, last: NodeRef<Button>) {
    match event.key().as_str() {
        "Escape" => event.prevent_default(),
        "Tab" => {
            let (Some(first), Some(last)) = (first.get_untracked(), last.get_untracked()) else {
                return;
            };
            let active = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element());
            let on = |button: &web_sys::HtmlButtonElement| {
                active
                    .as_ref()
                    .is_some_and(|a| a == button.unchecked_ref::<web_sys::Element>())
            };
            let wraps_back = event.shift_key() && on(&first);
            let wraps_forward = !event.shift_key() && on(&last);
            let escaped = !on(&first) && !on(&last);
            if wraps_back {
                event.prevent_default();
                let _ = last.focus();
            } else if wraps_forward || escaped {
                event.prevent_default();
                let _ = first.focus();
            }
        }
        _ => {}
    }
}

/// Focuses `button` once it is in the document.
fn focus_on_mount(button: NodeRef<Button>) {
    Effect::new(move |_| {
        if let Some(button) = button.get() {
            let _ = button.focus();
        }
    });
}

/// What recording captures, as the consent dialog states it. It must claim no more than
/// the server records: today that is the audit trail of the session and of each tab
/// registered in it. Change this sentence when recording captures more.
pub const RECORDING_SCOPE_TEXT: &str = "Recording keeps an audit record of this session \
    (when it starts and ends) and of each browser tab you open in it. Your screen and \
    keystrokes are not captured.";

/// The recording consent dialog. It has no close button: Escape and clicks outside do
/// nothing, the user must accept or decline. It opens with the focus on the dialog
/// itself, so that a screen reader reads the question first and a stray Enter cannot
/// accept it unread. [`SessionGuard`] shows it while the state is `AwaitingConsent`; an app
/// using the hook alone places it itself.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::core::State;
/// # use session_guard::ui::{use_session_guard, ConsentModal};
/// # #[component] fn Layout() -> impl IntoView {
/// let session = use_session_guard();
/// view! {
///     <Show when=move || session.state.get() == State::AwaitingConsent>
///         <ConsentModal on_answer=session.consent />
///     </Show>
/// }
/// # }
/// ```
///
/// [`SessionGuard`]: super::SessionGuard
#[component]
pub fn ConsentModal(
    /// Called with `true` when the user accepts recording, `false` when they decline.
    on_answer: Callback<bool>,
) -> impl IntoView {
    let dialog = NodeRef::<Div>::new();
    let decline = NodeRef::<Button>::new();
    let accept = NodeRef::<Button>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get() {
            let _ = dialog.focus();
        }
    });
    view! {
        <div class="sg-backdrop">
            <div
                class="sg-dialog"
                role="dialog"
                aria-modal="true"
                aria-labelledby="sg-consent-title"
                aria-describedby="sg-consent-text"
                tabindex="-1"
                node_ref=dialog
                on:keydown=move |event| trap_focus(event, decline, accept)
            >
                <h2 id="sg-consent-title">"This session will be recorded"</h2>
                <p id="sg-consent-text">
                    {RECORDING_SCOPE_TEXT}
                    " This confirmation is required to start the session; if you decline, the session will not be started."
                </p>
                <div class="sg-actions">
                    <button
                        type="button"
                        class="sg-secondary"
                        node_ref=decline
                        on:click=move |_| on_answer.run(false)
                    >
                        "Decline"
                    </button>
                    <button
                        type="button"
                        class="sg-primary"
                        node_ref=accept
                        on:click=move |_| on_answer.run(true)
                    >
                        "Accept and continue"
                    </button>
                </div>
            </div>
        </div>
    }
}

/// `m:ss` for a countdown; never negative.
pub fn format_countdown(remaining_ms: Millis) -> String {
    let seconds = (remaining_ms.max(0) + 999) / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// The idle warning with a live countdown. Any activity (in any tab) also closes it.
/// [`SessionGuard`] shows it during the warning; an app using the hook alone places it
/// itself.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::core::State;
/// # use session_guard::ui::{use_session_guard, IdleWarning};
/// # #[component] fn Layout() -> impl IntoView {
/// let session = use_session_guard();
/// view! {
///     <Show when=move || matches!(session.state.get(), State::Warning { .. })>
///         <IdleWarning
///             remaining_ms=session.remaining_ms
///             on_stay=session.stay_signed_in
///             on_logout=session.logout
///         />
///     </Show>
/// }
/// # }
/// ```
///
/// [`SessionGuard`]: super::SessionGuard
#[component]
pub fn IdleWarning(
    /// Milliseconds left before the automatic sign-out.
    remaining_ms: Signal<Option<Millis>>,
    /// The "Stay signed in" action.
    on_stay: Callback<()>,
    /// The "Sign out now" action.
    on_logout: Callback<()>,
) -> impl IntoView {
    let stay = NodeRef::<Button>::new();
    let leave = NodeRef::<Button>::new();
    focus_on_mount(stay);
    let countdown = move || remaining_ms.get().map(format_countdown).unwrap_or_default();
    view! {
        <div class="sg-backdrop">
            <div
                class="sg-dialog sg-warning"
                role="alertdialog"
                aria-modal="true"
                aria-labelledby="sg-warning-title"
                aria-describedby="sg-warning-text"
                on:keydown=move |event| trap_focus(event, stay, leave)
            >
                <h2 id="sg-warning-title">"Are you still there?"</h2>
                <p id="sg-warning-text">
                    "For your security you will be signed out in "
                    <span class="sg-countdown" role="timer">{countdown}</span>
                    " because of inactivity."
                </p>
                <div class="sg-actions">
                    <button
                        type="button"
                        class="sg-primary"
                        node_ref=stay
                        on:click=move |_| on_stay.run(())
                    >
                        "Stay signed in"
                    </button>
                    <button
                        type="button"
                        class="sg-secondary"
                        node_ref=leave
                        on:click=move |_| on_logout.run(())
                    >
                        "Sign out now"
                    </button>
                </div>
            </div>
        </div>
    }
}
