//! The confirmation dialog of every destructive action: it names the action, says what
//! it ends as the server counts it (an impact preview), takes an optional reason where
//! the audit records one, and runs the action only when confirmed.

use leptos::html::{Button, Div};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::api::{Destructive, Impact};
use super::{Console, Panel};

/// A destructive action waiting for its confirmation.
#[derive(Clone)]
pub struct Confirming {
    /// What runs when confirmed.
    pub action: Destructive,
    /// The dialog's heading: the question, naming what is acted on.
    pub question: String,
    /// The confirm button's text ("End session").
    pub confirm_label: String,
    /// Where the outcome is shown.
    pub panel: Panel,
}

/// The impact preview's state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Preview {
    Loading,
    Known(Impact),
    /// The action's own words, for actions that end nothing ([`Destructive::stated_impact`]).
    Stated(&'static str),
    Failed(String),
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "This signs out 3 users in 5 sessions." and whether the caller is among them.
pub fn impact_text(impact: Impact) -> String {
    if impact.tabs > 0 && impact.sessions == 0 {
        let mut text = format!(
            "This closes {}; the session and its other tabs stay signed in.",
            plural(impact.tabs, "tab", "tabs")
        );
        if impact.includes_you {
            text.push_str(" It is a tab of your own session.");
        }
        return text;
    }
    if impact.sessions == 0 {
        return "This signs out nobody: no live session ends.".to_string();
    }
    let mut text = format!(
        "This signs out {} in {}.",
        plural(impact.users, "user", "users"),
        plural(impact.sessions, "session", "sessions")
    );
    if impact.includes_you {
        text.push_str(" You are one of them: your own session ends too.");
    }
    text
}

/// The element that has keyboard focus.
fn active_element() -> Option<web_sys::Element> {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
}

impl Console {
    /// Asks for confirmation of `action` in the dialog; focus returns to the element that
    /// had it (the button that asked) when the dialog closes.
    pub fn ask(self, panel: Panel, action: Destructive, question: String, confirm_label: &str) {
        self.return_focus.set_value(active_element());
        panel.error.set(None);
        panel.notice.set(String::new());
        self.confirm.set(Some(Confirming {
            action,
            question,
            confirm_label: confirm_label.to_string(),
            panel,
        }));
    }

    fn close_confirmation(self) {
        self.confirm.set(None);
        if let Some(element) = self.return_focus.get_value() {
            if let Some(element) = element.dyn_ref::<web_sys::HtmlElement>() {
                let _ = element.focus();
            }
        }
    }
}

/// Keeps Tab and Shift+Tab inside the dialog (between its first and last control) and
/// lets Escape cancel.
fn on_keydown(event: web_sys::KeyboardEvent, dialog: NodeRef<Div>, cancel: impl Fn()) {
    match event.key().as_str() {
        "Escape" => {
            event.prevent_default();
            cancel();
        }
        "Tab" => {
            let Some(dialog) = dialog.get_untracked() else {
                return;
            };
            // The reason field (when shown) comes first, the confirm button last.
            let (Ok(Some(first)), Ok(Some(last))) = (
                dialog.query_selector("input, button"),
                dialog.query_selector("#confirm-run"),
            ) else {
                return;
            };
            let (first, last): (web_sys::Node, web_sys::Node) = (first.into(), last.into());
            let active = active_element();
            let on = |node: &web_sys::Node| {
                active
                    .as_ref()
                    .is_some_and(|a| a.unchecked_ref::<web_sys::Node>() == node)
            };
            let inside = active
                .as_ref()
                .is_some_and(|a| dialog.contains(Some(a.unchecked_ref())));
            let target = if event.shift_key() && (on(&first) || !inside) {
                Some(last)
            } else if !event.shift_key() && (on(&last) || !inside) {
                Some(first)
            } else {
                None
            };
            if let Some(target) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
                event.prevent_default();
                let _ = target.focus();
            }
        }
        _ => {}
    }
}

/// The one confirmation dialog of the console, shown while an action waits for it.
#[component]
pub fn ConfirmDialog(
    /// The console's shared state.
    console: Console,
) -> impl IntoView {
    let preview = RwSignal::new(Preview::Loading);
    let reason = RwSignal::new(String::new());
    let dialog = NodeRef::<Div>::new();
    let cancel_button = NodeRef::<Button>::new();
    // A new question: ask the server what it would end.
    Effect::new(move |_| {
        let Some(asked) = console.confirm.get() else {
            return;
        };
        preview.set(Preview::Loading);
        reason.set(String::new());
        if let Some(text) = asked.action.stated_impact() {
            preview.set(Preview::Stated(text));
            return;
        }
        spawn_local(async move {
            let outcome = asked.action.clone().preview().await;
            // Only if the same question is still open.
            if console.confirm.try_with_untracked(|c| {
                c.as_ref()
                    .is_some_and(|c| c.action == asked.action && c.question == asked.question)
            }) != Some(true)
            {
                return;
            }
            preview.try_set(match outcome {
                Ok(impact) => Preview::Known(impact),
                Err(error) => {
                    Preview::Failed(super::explain(console.denied, error).unwrap_or_default())
                }
            });
        });
    });
    // The safe choice takes the focus when the dialog opens.
    Effect::new(move |_| {
        if let Some(button) = cancel_button.get() {
            let _ = button.focus();
        }
    });
    let cancel = move || console.close_confirmation();
    let confirm = move |_| {
        if !matches!(
            preview.get_untracked(),
            Preview::Known(_) | Preview::Stated(_)
        ) {
            return;
        }
        let Some(asked) = console.confirm.get_untracked() else {
            return;
        };
        let reason = Some(reason.get_untracked()).filter(|r| !r.trim().is_empty());
        console.close_confirmation();
        let panel = asked.panel;
        console.act(panel, async move {
            if let Some(n) = asked.action.run(reason).await? {
                panel
                    .notice
                    .try_set(format!("Ended {}.", plural(n, "session", "sessions")));
            }
            Ok(())
        });
    };
    let question = move || {
        console
            .confirm
            .with(|c| c.as_ref().map(|c| c.question.clone()))
            .unwrap_or_default()
    };
    let confirm_label = move || {
        console
            .confirm
            .with(|c| c.as_ref().map(|c| c.confirm_label.clone()))
            .unwrap_or_default()
    };
    let takes_reason = move || {
        console
            .confirm
            .with(|c| c.as_ref().is_some_and(|c| c.action.takes_reason()))
    };
    let impact = move || match preview.get() {
        Preview::Loading => "Checking what this ends…".to_string(),
        Preview::Known(impact) => impact_text(impact),
        Preview::Stated(text) => text.to_string(),
        Preview::Failed(message) => format!("The server refuses this: {message}"),
    };
    view! {
        <Show when=move || console.confirm.with(Option::is_some)>
            <div class="sg-backdrop">
                <div
                    class="sg-dialog confirm-dialog"
                    role="alertdialog"
                    aria-modal="true"
                    aria-labelledby="confirm-title"
                    aria-describedby="confirm-impact"
                    node_ref=dialog
                    on:keydown=move |ev| on_keydown(ev, dialog, cancel)
                >
                    <h2 id="confirm-title">{question}</h2>
                    <p id="confirm-impact" aria-live="polite">{impact}</p>
                    <Show when=takes_reason>
                        <div class="field confirm-reason">
                            <label for="confirm-reason">
                                "Reason (optional, recorded in the audit log)"
                            </label>
                            <input
                                id="confirm-reason"
                                maxlength="256"
                                autocomplete="off"
                                bind:value=reason
                            />
                        </div>
                    </Show>
                    <div class="sg-actions">
                        <button
                            id="confirm-cancel"
                            type="button"
                            class="sg-secondary"
                            node_ref=cancel_button
                            on:click=move |_| cancel()
                        >
                            "Cancel"
                        </button>
                        <button
                            id="confirm-run"
                            type="button"
                            class="danger"
                            aria-disabled=move || {
                                (!matches!(preview.get(), Preview::Known(_) | Preview::Stated(_)))
                                    .to_string()
                            }
                            on:click=confirm
                        >
                            {confirm_label}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
