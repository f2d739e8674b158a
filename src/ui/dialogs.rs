//! The two modal dialogs: recording consent and the idle warning.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::Millis;

/// The dialog's first and last button, found in the dialog the key event came from: no
/// node references to keep (the page carries less code for a plain query).
fn dialog_buttons(
    event: &web_sys::KeyboardEvent,
) -> Option<(web_sys::HtmlElement, web_sys::HtmlElement)> {
    let dialog = event
        .current_target()?
        .dyn_into::<web_sys::Element>()
        .ok()?;
    let button = |selector| {
        dialog
            .query_selector(selector)
            .ok()
            .flatten()
            .and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok())
    };
    Some((button("button")?, button("button:last-of-type")?))
}

/// Keeps keyboard focus inside a modal: Tab and Shift+Tab cycle between its buttons, and
/// Escape is swallowed so it cannot dismiss a dialog that needs an answer.
fn trap_focus(event: web_sys::KeyboardEvent) {
    match event.key().as_str() {
        "Escape" => event.prevent_default(),
        "Tab" => {
            let Some((first, last)) = dialog_buttons(&event) else {
                return;
            };
            let active = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element());
            let on = |button: &web_sys::HtmlElement| {
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

/// One button of a dialog.
struct DialogButton {
    /// `sg-primary` or `sg-secondary`.
    class: &'static str,
    label: &'static str,
    on_click: Callback<()>,
}

/// What a dialog says and offers; both modals are this one shell, so the page carries its
/// view code once.
struct DialogParts {
    /// `dialog` or `alertdialog`.
    role: &'static str,
    class: &'static str,
    /// The dialog element's id (one of each dialog shows at a time).
    id: &'static str,
    title_id: &'static str,
    title: &'static str,
    text_id: &'static str,
    /// The text, with a live countdown between its two parts when there is one.
    text: (&'static str, &'static str),
    countdown: Option<Signal<Option<Millis>>>,
    /// Focus the dialog itself on opening (read first) instead of its first button.
    focus_dialog: bool,
    /// First and last in the tab order.
    buttons: [DialogButton; 2],
}

fn dialog_button(button: DialogButton) -> impl IntoView {
    let DialogButton {
        class,
        label,
        on_click,
    } = button;
    view! {
        <button type="button" class=class on:click=move |_| on_click.run(())>
            {label}
        </button>
    }
}

/// The shared modal: backdrop, labelled dialog, text, two buttons; focus moves in on
/// opening and stays inside ([`trap_focus`]).
fn dialog_shell(parts: DialogParts) -> impl IntoView {
    let DialogParts {
        role,
        class,
        id,
        title_id,
        title,
        text_id,
        text,
        countdown,
        focus_dialog,
        buttons: [first_button, last_button],
    } = parts;
    // Effects run once the view is in the document: focus the dialog, or its first button.
    Effect::new(move |_| {
        let dialog = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id));
        let target = if focus_dialog {
            dialog
        } else {
            dialog.and_then(|d| d.query_selector("button").ok().flatten())
        };
        if let Some(target) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = target.focus();
        }
    });
    let countdown = countdown.map(|remaining| {
        view! {
            <span class="sg-countdown" role="timer">
                {move || remaining.get().map(format_countdown).unwrap_or_default()}
            </span>
        }
    });
    view! {
        <div class="sg-backdrop">
            <div
                id=id
                class=class
                role=role
                aria-modal="true"
                aria-labelledby=title_id
                aria-describedby=text_id
                tabindex=focus_dialog.then_some("-1")
                on:keydown=trap_focus
            >
                <h2 id=title_id>{title}</h2>
                <p id=text_id>{text.0}{countdown}{text.1}</p>
                <div class="sg-actions">
                    {dialog_button(first_button)}
                    {dialog_button(last_button)}
                </div>
            </div>
        </div>
    }
}

/// What the recording consent dialog says and offers ([`ConsentModal`]).
fn consent_parts(on_answer: Callback<bool>) -> DialogParts {
    DialogParts {
        role: "dialog",
        class: "sg-dialog",
        id: "sg-consent",
        title_id: "sg-consent-title",
        title: "This session will be recorded",
        text_id: "sg-consent-text",
        text: (
            RECORDING_SCOPE_TEXT,
            " This confirmation is required to start the session; if you decline, the session will not be started.",
        ),
        countdown: None,
        focus_dialog: true,
        buttons: [
            DialogButton {
                class: "sg-secondary",
                label: "Decline",
                on_click: Callback::new(move |()| on_answer.run(false)),
            },
            DialogButton {
                class: "sg-primary",
                label: "Accept and continue",
                on_click: Callback::new(move |()| on_answer.run(true)),
            },
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
        role: "alertdialog",
        class: "sg-dialog sg-warning",
        id: "sg-warning",
        title_id: "sg-warning-title",
        title: "Are you still there?",
        text_id: "sg-warning-text",
        text: (
            "For your security you will be signed out in ",
            " because of inactivity.",
        ),
        countdown: Some(remaining_ms),
        focus_dialog: false,
        buttons: [
            DialogButton {
                class: "sg-primary",
                label: "Stay signed in",
                on_click: on_stay,
            },
            DialogButton {
                class: "sg-secondary",
                label: "Sign out now",
                on_click: on_logout,
            },
        ],
    }
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
    dialog_shell(consent_parts(on_answer))
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
    dialog_shell(warning_parts(remaining_ms, on_stay, on_logout))
}
