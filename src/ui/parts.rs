//! Everything [`SessionGuard`] shows (recording badge, connection banner, lifetime notice,
//! status lines, consent dialog, recording notices, the protected content, idle warning),
//! put in and taken out by one small imperative renderer.
//!
//! Why not `view!`: every reactive closure, memo and `Show` is its own monomorphised copy of
//! the reactive graph and renderer code, and those copies were a quarter of the guard's
//! bytes. Here one renderer, called with each new snapshot, adds and removes a handful of
//! elements built from static markup (no outside input in it; text only ever goes in as text
//! nodes), and one listener serves every button and the dialogs' keyboard handling.
//!
//! [`SessionGuard`]: super::SessionGuard

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use leptos::children::ChildrenFn;
use leptos::prelude::{untrack, Owner};
use leptos::reactive::owner::WeakOwner;
use leptos::tachys::view::any_view::AnyViewState;
use leptos::tachys::view::{Mountable, Render};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::browser::dom;

use super::dialogs::{clicked_button, format_countdown, trap_focus};
use super::guard::{recording_paused_text, with_runtime, Runtime, RECORDING_BLOCKED_TEXT};
use super::notices::{format_clock_time, BADGE_MARKUP};
use crate::browser::GuardSnapshot;
use crate::core::{DurationMs, LifetimeWarning, Millis, RecordingStatus, State};

// The parts, in document order: the protected content is one of them.
const BADGE: usize = 0;
const CONNECTION: usize = 1;
const LIFETIME_REGION: usize = 2;
const STARTING: usize = 3;
const ENDED: usize = 4;
const CONSENT: usize = 5;
const PAUSED: usize = 6;
const BLOCKED: usize = 7;
const CONTENT: usize = 8;
const WARNING: usize = 9;
const PARTS: usize = 10;

/// Each part's static markup: one element, whose text (when the part has a variable one)
/// is set afterwards as a text node.
const MARKUP: [&str; PARTS] = [
    BADGE_MARKUP,
    concat!(
        r#"<p class="sg-connection" role="status">Connection problem: the session server "#,
        "cannot be reached. Your session stays open; retrying.</p>"
    ),
    // A polite live region that stays in the document, so that screen readers announce
    // each new lifetime notice.
    r#"<div class="sg-lifetime-region" role="status" aria-live="polite" aria-atomic="true"></div>"#,
    r#"<p class="sg-status" role="status">Checking your session…</p>"#,
    r#"<p class="sg-status" role="status">Your session has ended. Redirecting to sign in…</p>"#,
    concat!(
        r#"<div class="sg-backdrop">"#,
        super::dialogs::consent_markup!(),
        "</div>"
    ),
    r#"<p class="sg-recording-paused" role="status"></p>"#,
    r#"<div class="sg-recording-blocked" role="alert"></div>"#,
    // The app's own view is mounted into it.
    r#"<div class="sg-protected"></div>"#,
    concat!(
        r#"<div class="sg-backdrop">"#,
        super::dialogs::warning_markup!(),
        "</div>"
    ),
];

/// One lifetime notice inside the region: its text goes into the `p`.
const LIFETIME_MARKUP: &str = concat!(
    r#"<div class="sg-lifetime"><p></p>"#,
    r#"<button type="button" class="sg-secondary" data-button="0">Dismiss</button></div>"#
);

/// The guard's own parts inside the `<SessionGuard>` element: what is shown, and what the
/// buttons do.
pub(super) struct GuardParts {
    /// The `<SessionGuard>` element.
    root: web_sys::Element,
    /// The protected app, built each time the content shows.
    children: ChildrenFn,
    /// The `<SessionGuard>`'s owner: the app's view is owned by a child of it, so that it
    /// finds the guard's context and is disposed when it is taken out or the guard goes.
    owner: Option<WeakOwner>,
    /// The app's view while the content shows, and its owner.
    content: RefCell<Option<(AnyViewState, Owner)>>,
    /// The running guard whose actions the buttons call.
    runtime: Runtime,
    /// Whether the recording badge shows (the `recording_badge` prop).
    recording_badge: bool,
    /// Each part's element while it is in the document.
    shown: RefCell<[Option<web_sys::Element>; PARTS]>,
    /// The text the shown "Recording paused" line was built with.
    paused_text: RefCell<Option<String>>,
    /// The lifetime notice shown in the region, if any.
    lifetime: Cell<Option<LifetimeWarning>>,
    /// The `within` of the lifetime notice the user dismissed: the next one shows again.
    dismissed: Cell<Option<DurationMs>>,
    /// Set while [`render`](Self::render) runs: the app's view, built inside it, may act on
    /// the guard, whose new snapshot is then drawn after this render, not inside it.
    drawing: Cell<bool>,
    /// What had the focus before a dialog opened, to return it there when it closes.
    focus_before: RefCell<Option<JsValue>>,
    /// Where the focus goes back once a dialog that had it is gone: the listener's next
    /// call without an event (queued as a microtask) puts it there.
    focus_return: RefCell<Option<JsValue>>,
    /// The one listener for every part's clicks and the dialogs' keys; it holds the parts
    /// weakly, so dropping the parts releases it. `FnMut(web_sys::Event)`, the closure type
    /// of tachys' event listeners and the browser adapters' page listeners, so the page has
    /// no closure glue for it alone.
    listener: Closure<dyn FnMut(web_sys::Event)>,
}

impl GuardParts {
    /// The renderer for `root`; nothing is drawn before the first [`render`](Self::render).
    pub(super) fn new(
        root: web_sys::Element,
        runtime: Runtime,
        recording_badge: bool,
        children: ChildrenFn,
        owner: Option<WeakOwner>,
    ) -> Rc<GuardParts> {
        Rc::new_cyclic(|parts: &Weak<GuardParts>| {
            let parts = parts.clone();
            let listener =
                Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    if let Some(parts) = parts.upgrade() {
                        parts.handle(event.as_ref());
                    }
                });
            GuardParts {
                root,
                children,
                owner,
                content: RefCell::default(),
                runtime,
                recording_badge,
                shown: RefCell::default(),
                paused_text: RefCell::default(),
                lifetime: Cell::default(),
                dismissed: Cell::default(),
                drawing: Cell::default(),
                focus_before: RefCell::default(),
                focus_return: RefCell::default(),
                listener,
            }
        })
    }

    /// Brings the document in line with `snapshot`: adds the parts that should show, removes
    /// the ones that should not, and writes the countdown (`remaining_ms`).
    /// Does nothing when called from inside a render (see `drawing`).
    pub(super) fn render(&self, snapshot: &GuardSnapshot, remaining_ms: Option<Millis>) {
        if self.drawing.replace(true) {
            return;
        }
        let paused = recording_paused_text(snapshot.recording);
        if self.paused_text.borrow().as_deref() != paused.as_deref() {
            self.remove(PAUSED);
            *self.paused_text.borrow_mut() = paused;
        }
        let mut wanted = [false; PARTS];
        wanted[BADGE] = self.recording_badge && snapshot.is_recording;
        wanted[CONNECTION] = snapshot.connection_problem;
        wanted[LIFETIME_REGION] = true;
        wanted[STARTING] = snapshot.state == State::Starting;
        wanted[ENDED] = matches!(snapshot.state, State::Ended { .. });
        wanted[CONSENT] = snapshot.state == State::AwaitingConsent;
        wanted[PAUSED] = self.paused_text.borrow().is_some();
        wanted[BLOCKED] = matches!(snapshot.recording, RecordingStatus::Blocked(_));
        wanted[CONTENT] = matches!(snapshot.state, State::Active | State::Warning { .. });
        wanted[WARNING] = matches!(snapshot.state, State::Warning { .. });
        for (part, wanted) in wanted.into_iter().enumerate() {
            let present = self.shown.borrow()[part].is_some();
            if wanted && !present {
                self.add(part);
            } else if present && !wanted {
                self.remove(part);
            }
        }
        self.render_lifetime(snapshot.lifetime_warning);
        // Hidden, not unmounted, while the recording cannot be delivered: the app keeps its
        // state (forms, scroll, drafts) and shows again as it was once delivery resumes.
        // `inert` keeps keyboard and pointer out of it meanwhile.
        // The `hidden` and `inert` properties add and remove their attributes.
        if let Some(content) = self.shown.borrow()[CONTENT].as_ref() {
            let blocked = JsValue::from_bool(wanted[BLOCKED]);
            dom::set(content, "hidden", &blocked);
            dom::set(content, "inert", &blocked);
        }
        if let Some(warning) = self.shown.borrow()[WARNING].as_ref() {
            let countdown = dom::query(warning, ".sg-countdown");
            let text = remaining_ms.map(format_countdown).unwrap_or_default();
            if dom::get(&countdown, "textContent").as_string().as_deref() != Some(text.as_str()) {
                dom::set_text(&countdown, &text);
            }
        }
        self.drawing.set(false);
    }

    /// Shows the lifetime notice for `warning` unless the user dismissed that one.
    fn render_lifetime(&self, warning: Option<LifetimeWarning>) {
        let shown = warning.filter(|w| self.dismissed.get() != Some(w.within));
        if shown == self.lifetime.get() {
            return;
        }
        self.lifetime.set(shown);
        let Some(region) = self.shown.borrow()[LIFETIME_REGION].clone() else {
            return;
        };
        dom::set_text(&region, "");
        if let Some(w) = shown {
            let text = w.message(&format_clock_time(w.ends_at.as_millis()));
            if let Some(notice) = element_from(LIFETIME_MARKUP) {
                if let Some(p) = notice.first_element_child() {
                    dom::set_text(&p, &text);
                }
                let _ = region.insert_before(&notice, None);
            }
        }
    }

    /// Puts `part` into the document in its place, with its listeners, and moves the focus
    /// into it if it is a dialog.
    fn add(&self, part: usize) {
        let Some(element) = element_from(MARKUP[part]) else {
            return;
        };
        match part {
            PAUSED => dom::set_text(&element, self.paused_text.borrow().as_deref().unwrap_or("")),
            BLOCKED => dom::set_text(&element, RECORDING_BLOCKED_TEXT),
            _ => {}
        }
        let listener = self.listener.as_ref().unchecked_ref();
        if matches!(part, LIFETIME_REGION | CONSENT | WARNING) {
            let _ = element.add_event_listener_with_callback("click", listener);
        }
        if matches!(part, CONSENT | WARNING) {
            let _ = element.add_event_listener_with_callback("keydown", listener);
        }
        if part == CONTENT {
            // No guard owner left: the guard is being disposed, so nothing shows.
            let Some(owner) = self.owner.as_ref().and_then(WeakOwner::upgrade) else {
                return;
            };
            let owner = owner.child();
            // Built without tracking: the app's reads are its own, not this renderer's.
            let mut view = owner.with(|| untrack(|| (self.children)().build()));
            view.mount(&element, None);
            *self.content.borrow_mut() = Some((view, owner));
        }
        // Before the next part shown, or last.
        let next = self.shown.borrow()[part + 1..]
            .iter()
            .flatten()
            .next()
            .cloned();
        let _ = self.root.insert_before(&element, next.as_deref());
        if matches!(part, CONSENT | WARNING) {
            // Nothing to return to when the body had the focus (nothing did): it has it
            // again once the dialog is gone, and focusing it only makes the browser update
            // style and layout (about 0.3 ms in Chromium here).
            let before = dom::active_element();
            let body = document().map_or(JsValue::UNDEFINED, |d| dom::get(&d, "body"));
            *self.focus_before.borrow_mut() =
                (before.is_object() && !js_sys::Object::is(&before, &body)).then_some(before);
            // The consent dialog takes the focus itself, so that a screen reader reads the
            // question first and a stray Enter cannot accept it unread; the warning focuses
            // "Stay signed in".
            let target = if part == CONSENT {
                element
                    .first_element_child()
                    .map_or(JsValue::UNDEFINED, Into::into)
            } else {
                dom::query(&element, "button")
            };
            dom::focus(&target);
        }
        self.shown.borrow_mut()[part] = Some(element);
    }

    /// Takes `part` out of the document; a dialog that had the focus returns it to where it
    /// was before the dialog opened, in a microtask of its own ([`Self::return_focus`]).
    fn remove(&self, part: usize) {
        let Some(element) = self.shown.borrow_mut()[part].take() else {
            return;
        };
        let had_focus = matches!(part, CONSENT | WARNING)
            && dom::call(&element, "contains", &dom::active_element()).as_bool() == Some(true);
        element.remove();
        if part == CONTENT {
            if let Some((mut view, owner)) = self.content.take() {
                view.unmount();
                owner.cleanup();
            }
        }
        if had_focus {
            if let Some(before) = self.focus_before.take() {
                // In a microtask of its own, queued after this one: see `return_focus`.
                *self.focus_return.borrow_mut() = Some(before);
                if let Some(window) = web_sys::window() {
                    dom::call(&window, "queueMicrotask", self.listener.as_ref());
                }
            }
        }
    }

    /// Moves the focus back to where it was before the closed dialog opened, if that is
    /// still in the document and no dialog opened meanwhile (one opened in the same render
    /// keeps the focus it took). Not in the microtask that took the dialog out: moving the
    /// focus makes the browser update styles (0.1-0.3 ms in headless Chromium here), which
    /// would hold back whatever waits for the dialog to be gone (mutation observers).
    fn return_focus(&self) {
        let Some(before) = self.focus_return.take() else {
            return;
        };
        let dialog_open = {
            let shown = self.shown.borrow();
            shown[CONSENT].is_some() || shown[WARNING].is_some()
        };
        if !dialog_open && dom::get(&before, "isConnected").as_bool() == Some(true) {
            dom::focus(&before);
        }
    }

    /// A click on a part's button, a key in a dialog, or, called without an event, the
    /// focus return [`remove`](Self::remove) queued.
    fn handle(&self, event: &JsValue) {
        // Called without an event: the microtask `remove` queued.
        if event.is_undefined() {
            self.return_focus();
            return;
        }
        if dom::get(event, "type").as_string().as_deref() == Some("keydown") {
            trap_focus(event);
            return;
        }
        let Some(button) = clicked_button(event) else {
            return;
        };
        let current = dom::get(event, "currentTarget");
        let is = |part: usize| {
            self.shown.borrow()[part]
                .as_ref()
                .is_some_and(|element| js_sys::Object::is(element, &current))
        };
        if is(CONSENT) {
            with_runtime(self.runtime, &|rt| rt.consent(button == 1));
        } else if is(WARNING) {
            with_runtime(self.runtime, &|rt| {
                if button == 0 {
                    rt.stay_signed_in();
                } else {
                    rt.logout();
                }
            });
        } else if is(LIFETIME_REGION) {
            if let Some(w) = self.lifetime.get() {
                self.dismissed.set(Some(w.within));
                self.render_lifetime(Some(w));
            }
        }
    }
}

/// The page's document.
fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// The one element `markup` (static HTML, never outside input) describes.
fn element_from(markup: &str) -> Option<web_sys::Element> {
    let holder = document()?.create_element("div").ok()?;
    holder.set_inner_html(markup);
    holder.first_element_child()
}
