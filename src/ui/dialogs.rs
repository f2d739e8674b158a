//! The two modal dialogs: recording consent and the idle warning.

use leptos::prelude::*;
use leptos::tachys::html::InertElement;
use wasm_bindgen::JsValue;

use super::dom;

use crate::core::push_number;
use crate::core::Millis;

/// The element with this id in the page's document.
fn element_by_id(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}

/// Keeps keyboard focus inside a modal: Tab and Shift+Tab cycle between its buttons, and
/// Escape is swallowed so it cannot dismiss a dialog that needs an answer. `event` is a
/// `keydown` on the dialog (its current target).
pub(super) fn trap_focus(event: &JsValue) {
    let prevent_default = || dom::call(event, "preventDefault", &JsValue::UNDEFINED);
    match dom::get(event, "key").as_string().as_deref() {
        Some("Escape") => {
            prevent_default();
        }
        Some("Tab") => {
            let dialog = dom::get(event, "currentTarget");
            let first = dom::query(&dialog, "button");
            let last = dom::query(&dialog, "button:last-of-type");
            if !first.is_object() || !last.is_object() {
                return;
            }
            let active = dom::active_element();
            let on = |button: &JsValue| js_sys::Object::is(&active, button);
            let shift = dom::get(event, "shiftKey").as_bool() == Some(true);
            let wraps_back = shift && on(&first);
            let wraps_forward = !shift && on(&last);
            let escaped = !on(&first) && !on(&last);
            if wraps_back {
                prevent_default();
                dom::focus(&last);
            } else if wraps_forward || escaped {
                prevent_default();
                dom::focus(&first);
            }
        }
        _ => {}
    }
}

/// Which of the dialog's buttons a click landed on: its `data-button` index.
pub(super) fn clicked_button(event: &JsValue) -> Option<usize> {
    let target = dom::get(event, "target");
    let button = dom::call(
        &target,
        "closest",
        &JsValue::from_str("button[data-button]"),
    );
    let index = dom::call(&button, "getAttribute", &JsValue::from_str("data-button"));
    match index.as_string()?.as_str() {
        "0" => Some(0),
        "1" => Some(1),
        _ => None,
    }
}

/// What a dialog says and offers; both modals are this one shell.
struct DialogParts {
    /// The id of the dialog element in `markup` (one of each dialog shows at a time).
    id: &'static str,
    /// The dialog as static HTML (no outside input in it): the page builds it from one
    /// string instead of carrying code for each element. Its two buttons, first and last
    /// in the tab order, carry `data-button="0"` and `"1"`.
    markup: &'static str,
    /// The live countdown to write into `#sg-countdown`, when the dialog has one.
    countdown: Option<Signal<Option<Millis>>>,
    /// Focus the dialog itself on opening (read first) instead of its first button.
    focus_dialog: bool,
    /// What the two buttons do.
    buttons: [Callback<()>; 2],
}

/// The shared modal: a backdrop around the dialog's markup, one click handler for its
/// buttons; focus moves in on opening and stays inside ([`trap_focus`]).
fn dialog_shell(parts: DialogParts) -> impl IntoView {
    let DialogParts {
        id,
        markup,
        countdown,
        focus_dialog,
        buttons,
    } = parts;
    // Effects run once the view is in the document. The first run moves the focus in (to
    // the dialog, or its first button); every run writes the countdown, if there is one.
    Effect::new(move |opened: Option<()>| {
        if opened.is_none() {
            if let Some(dialog) = element_by_id(id) {
                if focus_dialog {
                    dom::focus(&dialog);
                } else {
                    dom::focus(&dom::query(&dialog, "button"));
                }
            }
        }
        if let Some(remaining) = countdown {
            let text = remaining.get().map(format_countdown).unwrap_or_default();
            if let Some(timer) = element_by_id("sg-countdown") {
                dom::set_text(&timer, &text);
            }
        }
    });
    let on_click = move |event: web_sys::MouseEvent| {
        if let Some(index) = clicked_button(event.as_ref()) {
            buttons[index].run(());
        }
    };
    view! {
        <div class="sg-backdrop" on:click=on_click on:keydown=move |event: web_sys::KeyboardEvent| trap_focus(event.as_ref())>
            {InertElement::new(markup)}
        </div>
    }
}

/// What recording captures, as the consent dialog states it: exactly what the guard's
/// recorder (`src/browser/recorder.rs`) captures and masks, what the server records on its
/// own, and how long recordings are kept. Change it with the recorder, the server's API
/// recording or the retention default (`--recording-retention`). A macro, so the dialog's
/// markup can include it as a literal.
macro_rules! recording_scope_text {
    () => {
        "Recording captures what you see and do in each browser tab of this session: the \
         pages and every change to them, the window size, scrolling, pointer movements and \
         clicks, that a key was pressed (never which key), focus and tab visibility changes, \
         and the pages you open (their path only). What you type into fields is masked \
         (passwords always), and parts of a page marked private are left out. The server \
         also records every request this session makes to it (method, path, result, tab). \
         Recordings are kept for 90 days unless your administrator set another period, then \
         deleted."
    };
}
pub(crate) use recording_scope_text;

/// The recording consent dialog's markup ([`ConsentModal`]), as a literal for the guard's
/// own parts to wrap.
macro_rules! consent_markup {
    () => { concat!(
    r#"<div id="sg-consent" class="sg-dialog" role="dialog" aria-modal="true" "#,
    r#"aria-labelledby="sg-consent-title" aria-describedby="sg-consent-text" tabindex="-1">"#,
    r#"<h2 id="sg-consent-title">This session will be recorded</h2>"#,
    r#"<p id="sg-consent-text">"#,
    $crate::ui::dialogs::recording_scope_text!(),
    " This confirmation is required to start the session; if you decline, the session \
     will not be started.</p>",
    r#"<div class="sg-actions">"#,
    r#"<button type="button" class="sg-secondary" data-button="0">Decline</button>"#,
    r#"<button type="button" class="sg-primary" data-button="1">Accept and continue</button>"#,
    "</div></div>"
    ) };
}
pub(crate) use consent_markup;

/// The recording consent dialog's markup ([`ConsentModal`]).
const CONSENT_MARKUP: &str = consent_markup!();

/// The idle warning's markup ([`IdleWarning`]), as a literal for the guard's own parts to
/// wrap; the countdown is written into its `#sg-countdown`.
macro_rules! warning_markup {
    () => { concat!(
    r#"<div id="sg-warning" class="sg-dialog sg-warning" role="alertdialog" aria-modal="true" "#,
    r#"aria-labelledby="sg-warning-title" aria-describedby="sg-warning-text">"#,
    r#"<h2 id="sg-warning-title">Are you still there?</h2>"#,
    r#"<p id="sg-warning-text">For your security you will be signed out in "#,
    r#"<span id="sg-countdown" class="sg-countdown" role="timer"></span>"#,
    " because of inactivity.</p>",
    r#"<div class="sg-actions">"#,
    r#"<button type="button" class="sg-primary" data-button="0">Stay signed in</button>"#,
    r#"<button type="button" class="sg-secondary" data-button="1">Sign out now</button>"#,
    "</div></div>"
    ) };
}
pub(crate) use warning_markup;

/// The idle warning's markup ([`IdleWarning`]).
const WARNING_MARKUP: &str = warning_markup!();

/// What the recording consent dialog says and offers ([`ConsentModal`]).
fn consent_parts(on_answer: Callback<bool>) -> DialogParts {
    DialogParts {
        id: "sg-consent",
        markup: CONSENT_MARKUP,
        countdown: None,
        focus_dialog: true,
        buttons: [
            Callback::new(move |()| on_answer.run(false)),
            Callback::new(move |()| on_answer.run(true)),
        ],
    }
}

/// What the idle warning says and offers ([`IdleWarning`]).
fn warning_parts(
    remaining_ms: Signal<Option<Millis>>,
    on_stay: Callback<()>,
    on_logout: Callback<()>,
) -> DialogParts {
    DialogParts {
        id: "sg-warning",
        markup: WARNING_MARKUP,
        countdown: Some(remaining_ms),
        focus_dialog: false,
        buttons: [on_stay, on_logout],
    }
}

/// [`recording_scope_text!`] for the component tests to compare with.
#[cfg(feature = "test-support")]
pub const RECORDING_SCOPE_TEXT: &str = recording_scope_text!();

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
    dialog_shell(consent_parts(on_answer))
}

/// `m:ss` for a countdown; never negative.
pub fn format_countdown(remaining_ms: Millis) -> String {
    let seconds = remaining_ms.max(0).saturating_add(999) / 1000;
    let mut text = String::new();
    push_number(&mut text, seconds / 60, 1);
    text.push(':');
    push_number(&mut text, seconds % 60, 2);
    text
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
    dialog_shell(warning_parts(remaining_ms, on_stay, on_logout))
}
