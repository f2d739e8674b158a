//! The page itself: wake-up events, this tab's identity, navigation, and the recording
//! marks on the tab (title and favicon).

use std::rc::Rc;

use wasm_bindgen::JsValue;

use session_guard_contract::json::ObjectWriter;

use super::channel::random_id;
use super::{dom, json, BrowserError, EventListener};
use crate::redirect::{same_origin_path, DEFAULT_RETURN};

/// The page's events the guard listens to ([`page_event`] says what each means):
/// `visibilitychange` on the document, the others on the window.
const PAGE_EVENTS: &[&str] = &[
    "pageshow",
    "online",
    "focus",
    "pagehide",
    "click",
    "auxclick",
    "visibilitychange",
];

/// One of [`PAGE_EVENTS`]: calls `on_wake` with what it means for the session, or notes a
/// link opened in a new tab.
fn page_event(
    event: &str,
    heard: &web_sys::Event,
    document: &web_sys::Document,
    on_wake: &dyn Fn(Wake),
) {
    let wake = match event {
        // Deadlines must be re-checked at once: background tabs get timers throttled to one
        // a minute or frozen, and a tab restored from the back/forward cache resumes with
        // stale state.
        "pageshow" | "online" => Wake::Resumed,
        // Window focus only (the event's target is the window it is heard on): focus events
        // of elements do not reach a non-capturing window listener, and code focusing a
        // button is not the user coming back.
        "focus" => {
            if dom::get(heard, "target") != dom::get(heard, "currentTarget") {
                return;
            }
            Wake::UserReturned
        }
        "pagehide" => Wake::Left,
        // A link of this page opened in a new tab: note it for that tab (its opener).
        "click" | "auxclick" => {
            note_link_opened(heard, event == "auxclick");
            return;
        }
        _ if is_hidden(document) => Wake::Hidden,
        _ => Wake::UserReturned,
    };
    on_wake(wake);
}

/// Why the page woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The user came back: the tab became visible or the window got focus. Counts as
    /// activity once deadlines are checked.
    UserReturned,
    /// Restored from the back/forward cache or back online.
    Resumed,
    /// The page was hidden (another tab, a minimised window).
    Hidden,
    /// The page is going away (`pagehide`: closed, reloaded, navigated, or put in the
    /// back/forward cache, from which `pageshow` brings it back as [`Wake::Resumed`]).
    Left,
}

/// Whether the page is visible now (`true` where the browser cannot tell).
///
/// `document.hidden` is `visibilityState == "hidden"` as a boolean; read as such, the page
/// carries no conversion of the state's string into an enum (and its panic for a value
/// the binding does not know).
pub fn page_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| !is_hidden(&d))
}

/// `document.hidden`, read by name (`dom`); a document without it counts as visible.
fn is_hidden(document: &web_sys::Document) -> bool {
    dom::get(document, "hidden").as_bool() == Some(true)
}

/// Listeners for "the page may have slept"; dropping it removes them.
#[must_use = "the listeners are removed when this handle is dropped"]
pub struct PageListeners {
    _listeners: Vec<EventListener>,
}

impl PageListeners {
    /// Calls `on_wake` when the page becomes visible or hidden, the window gains focus, the
    /// page is restored from the back/forward cache or comes back online, or goes away.
    /// Also notes every same-origin link the user opens in a new tab, for that tab to find
    /// this one as its opener ([`tab_identity`]).
    pub fn new(on_wake: Rc<dyn Fn(Wake)>) -> Result<Self, BrowserError> {
        let window = super::window()?;
        let document = window.document().ok_or(BrowserError::Js("no document"))?;
        let mut listeners = Vec::with_capacity(PAGE_EVENTS.len());
        // One closure type for every event: the page carries its call and drop code once.
        for &event in PAGE_EVENTS {
            let target: &web_sys::EventTarget = if event == "visibilitychange" {
                &document
            } else {
                &window
            };
            let on_wake = on_wake.clone();
            let watched = document.clone();
            listeners.push(EventListener::new(
                target,
                event,
                Box::new(move |heard| page_event(event, &heard, &watched, &*on_wake)),
            )?);
        }
        Ok(PageListeners {
            _listeners: listeners,
        })
    }
}

/// This tab's id and the tab it was opened from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabIdentity {
    /// Stable for the life of the tab, across reloads and same-tab navigation.
    pub tab_id: String,
    /// The tab this one was opened from, when the browser copied its session storage.
    pub opener_tab_id: Option<String>,
}

const WINDOW_NAME_PREFIX: &str = "sg-tab:";
const LAST_TAB_KEY: &str = "session-guard:tab";
/// `localStorage` key of the links this origin's tabs just opened in new tabs.
const OPENER_HANDOFF_KEY: &str = "session-guard:opener-handoff";
/// How long a noted link waits for its new tab to claim it.
const HANDOFF_WINDOW_MS: f64 = 10_000.0;
/// Most notes kept at once (several links opened in quick succession).
const MAX_HANDOFFS: usize = 8;

/// "Tab `opener_tab_id` opened `path` in a new tab at `at`": left in `localStorage` by
/// the opening tab, claimed by the new one. A link opened with `target=_blank` (which
/// browsers treat as `noopener`), a middle click or Ctrl/Cmd/Shift+click gets no copy of
/// the opener's session storage, so this is how such a tab learns its opener.
#[derive(Debug, Clone, PartialEq)]
struct Handoff {
    opener_tab_id: String,
    /// Path and query of the opened link, resolved against the opening page.
    path: String,
    /// `Date.now()` of the click.
    at: f64,
}

/// This tab's id, if it has one yet.
fn own_tab_id(window: &web_sys::Window) -> Option<String> {
    window
        .name()
        .ok()
        .and_then(|name| name.strip_prefix(WINDOW_NAME_PREFIX).map(str::to_string))
        .filter(|id| session_guard_contract::ids::is_tab_id(id))
}

/// The still-fresh notes (anything unreadable, foreign or stale is dropped).
fn read_handoffs(storage: &JsValue, now: f64) -> Vec<Handoff> {
    let text = dom::storage_get(storage, OPENER_HANDOFF_KEY);
    let mut notes: Vec<Handoff> = text
        .filter(|t| t.len() <= 16 * 1024)
        .and_then(|t| parse_handoffs(&t))
        .unwrap_or_default();
    notes.retain(|n| {
        session_guard_contract::ids::is_tab_id(&n.opener_tab_id)
            && n.path.starts_with('/')
            && n.path.len() <= 2048
            && (now - n.at).abs() <= HANDOFF_WINDOW_MS
    });
    notes
}

/// The notes as stored: a JSON array of `{"opener_tab_id", "path", "at"}`; `None` when the
/// text is not such an array or any note lacks a field (then none is trusted).
fn parse_handoffs(text: &str) -> Option<Vec<Handoff>> {
    let mut notes = Vec::new();
    for note in json::objects(text)? {
        notes.push(Handoff {
            opener_tab_id: note.string("opener_tab_id").ok()?,
            path: note.string("path").ok()?,
            at: note.number("at").ok()?,
        });
    }
    Some(notes)
}

fn write_handoffs(storage: &JsValue, notes: &[Handoff]) {
    if notes.is_empty() {
        dom::storage_remove(storage, OPENER_HANDOFF_KEY);
        return;
    }
    let mut text = String::from("[");
    for (i, note) in notes.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        // `Date.now()` is a whole number of milliseconds.
        let note = ObjectWriter::new()
            .string("opener_tab_id", &note.opener_tab_id)
            .string("path", &note.path)
            .int("at", note.at as i64)
            .finish();
        text.push_str(&note);
    }
    text.push(']');
    let _ = dom::storage_set(storage, OPENER_HANDOFF_KEY, &text);
}

/// The page's address (`location.href`) and its parts. Read through the URL parser, whose
/// bindings the guard uses anyway, instead of `location`'s own getters.
fn page_url(window: &web_sys::Window) -> Option<(String, web_sys::Url)> {
    let href = window.location().href().ok()?;
    let url = web_sys::Url::new_with_base(&href, &href).ok()?;
    Some((href, url))
}

/// `url`'s path and query, and its fragment when `with_fragment`: what a link or a return
/// path keeps of an address.
fn path_of(url: &web_sys::Url, with_fragment: bool) -> String {
    let mut path = dom::text(url, "pathname");
    path.push_str(&dom::text(url, "search"));
    if with_fragment {
        path.push_str(&dom::text(url, "hash"));
    }
    path
}

/// The path and query `href` leads to from this page, when it stays on this origin.
fn same_origin_link_path(window: &web_sys::Window, href: &str) -> Option<String> {
    let (base, page) = page_url(window)?;
    let url = web_sys::Url::new_with_base(href, &base).ok()?;
    (dom::text(&url, "origin") == dom::text(&page, "origin")).then(|| path_of(&url, false))
}

/// A `click` or `auxclick` on the page: when it opens a same-origin link in a new tab
/// (`target=_blank`, middle click, Ctrl/Cmd/Shift+click) and the page did not cancel it,
/// notes the link with this tab as its opener. `auxiliary` for an `auxclick`.
fn note_link_opened(event: &web_sys::Event, auxiliary: bool) {
    // Read by name (`dom`): an event that is no mouse event has no numeric `button`, and a
    // property it lacks reads as no modifier, so nothing is noted for it.
    let event: &JsValue = event.as_ref();
    let Some(button) = dom::get(event, "button").as_f64() else {
        return;
    };
    let flag = |name| dom::get(event, name).as_bool() == Some(true);
    if flag("defaultPrevented") {
        return;
    }
    let modified = flag("ctrlKey") || flag("metaKey") || flag("shiftKey");
    // A target that is no element has no `closest`, which reads as no link.
    let link = dom::call(
        &dom::get(event, "target"),
        "closest",
        &JsValue::from_str("a[href]"),
    );
    if !link.is_object() {
        return;
    }
    let attribute = |name| dom::call(&link, "getAttribute", &JsValue::from_str(name)).as_string();
    let blank = attribute("target").is_some_and(|target| target.eq_ignore_ascii_case("_blank"));
    let new_tab = if auxiliary {
        button == 1.0
    } else {
        button == 0.0 && (blank || modified)
    };
    if !new_tab || attribute("download").is_some() {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let (Some(opener_tab_id), Some(path), Some(storage)) = (
        own_tab_id(&window),
        attribute("href").and_then(|href| same_origin_link_path(&window, &href)),
        dom::storage("localStorage"),
    ) else {
        return;
    };
    let now = js_sys::Date::now();
    let mut notes = read_handoffs(&storage, now);
    notes.push(Handoff {
        opener_tab_id,
        path,
        at: now,
    });
    let excess = notes.len().saturating_sub(MAX_HANDOFFS);
    notes.drain(..excess);
    write_handoffs(&storage, &notes);
}

/// The opener a new tab finds noted for its own path and query: the newest fresh note
/// for it, which is then removed so no other tab takes it.
fn claim_handoff(window: &web_sys::Window, tab_id: &str) -> Option<String> {
    let storage = dom::storage("localStorage")?;
    let (_, page) = page_url(window)?;
    let here = path_of(&page, false);
    let mut notes = read_handoffs(&storage, js_sys::Date::now());
    let index = notes
        .iter()
        .rposition(|n| n.path == here && n.opener_tab_id != tab_id);
    let claimed = index.map(|i| notes.remove(i).opener_tab_id);
    write_handoffs(&storage, &notes);
    claimed
}

/// Works out this tab's identity.
///
/// `window.name` survives reloads and navigation within a tab but starts empty in a new
/// tab, so it holds the tab id. `sessionStorage` is copied into a tab opened from a link of
/// this one with `rel="opener"`, so the id found there in a tab with a fresh `window.name`
/// is the opener's. Any other new tab looks for a note its opener left on the click
/// ([`PageListeners`] write them) for its own address.
pub fn tab_identity() -> Result<TabIdentity, BrowserError> {
    let window = super::window()?;
    let existing = own_tab_id(&window);
    let new_tab = existing.is_none();
    let storage = dom::storage("sessionStorage");
    let stored = storage
        .as_ref()
        .and_then(|s| dom::storage_get(s, LAST_TAB_KEY))
        .filter(|id| session_guard_contract::ids::is_tab_id(id));
    let tab_id = match existing {
        Some(id) => id,
        None => {
            let mut id = String::from("t_");
            id.push_str(&random_id());
            let mut name = String::from(WINDOW_NAME_PREFIX);
            name.push_str(&id);
            let _ = window.set_name(&name);
            id
        }
    };
    let opener_tab_id = stored
        .filter(|id| *id != tab_id)
        .or_else(|| new_tab.then(|| claim_handoff(&window, &tab_id)).flatten());
    if let Some(storage) = storage {
        let _ = dom::storage_set(&storage, LAST_TAB_KEY, &tab_id);
    }
    Ok(TabIdentity {
        tab_id,
        opener_tab_id,
    })
}

/// Drops this tab's id from `window.name`: an administrator ended the tab's
/// sub-session, and the server never registers that id again, so should the user come back
/// to a protected page in this tab, it starts as a new sub-session under a fresh id.
pub fn forget_tab_identity() {
    if let Some(window) = web_sys::window() {
        if window
            .name()
            .is_ok_and(|name| name.starts_with(WINDOW_NAME_PREFIX))
        {
            let _ = window.set_name("");
        }
    }
}

/// The current path, query and fragment, checked like any other link target with
/// [`same_origin_target`]: where to come back to after signing in again, or where a link to
/// "this page" may point. The raw `location.pathname` of `http://host//evil.example` is
/// `//evil.example`, which as a link would leave the origin; it becomes `/`.
pub fn current_path() -> String {
    let raw = web_sys::window()
        .and_then(|w| page_url(&w))
        .map(|(_, page)| path_of(&page, true))
        .unwrap_or_default();
    same_origin_target(&raw)
}

/// The page's path as [`current_path`] gives it, worked out again only when the page's
/// address changed since the last time. A tab leaving for the login page needs it at the
/// moment its session ends; with the answer kept from an earlier read it does not wait for
/// the URL parser and the location reads ([`current_path`] makes about a dozen browser
/// calls, 0.6–0.8 ms of a cross-tab sign-out in the bench's Chromium).
#[derive(Default)]
pub struct ReturnPath {
    /// The page's `location.href` and its path, from the latest read.
    cached: std::cell::RefCell<Option<(String, String)>>,
}

impl ReturnPath {
    /// [`current_path`] for the page's address now: the kept answer while `location.href`
    /// is the one it was worked out for, a fresh one otherwise.
    pub fn get(&self) -> String {
        let Some(href) = web_sys::window().and_then(|w| w.location().href().ok()) else {
            return current_path();
        };
        if let Some((cached_href, path)) = self.cached.borrow().as_ref() {
            if *cached_href == href {
                return path.clone();
            }
        }
        let path = current_path();
        *self.cached.borrow_mut() = Some((href, path.clone()));
        path
    }
}

/// `candidate` as a link or redirect target on this page's origin, or
/// [`DEFAULT_RETURN`] (`/`).
///
/// The candidate must first pass [`same_origin_path`]; it is then resolved against the
/// page's origin with the browser's own URL parser, the resolved origin must be the page's,
/// and the resolved (normalised) path, query and fragment must pass [`same_origin_path`]
/// again, so the target is exactly what the browser will navigate to.
pub fn same_origin_target(candidate: &str) -> String {
    let checked = same_origin_path(candidate);
    let resolved = web_sys::window()
        .and_then(|w| page_url(&w))
        .and_then(|(_, page)| {
            let origin = dom::text(&page, "origin");
            let mut base = origin.clone();
            base.push('/');
            let url = web_sys::Url::new_with_base(checked, &base).ok()?;
            (dom::text(&url, "origin") == origin).then(|| path_of(&url, true))
        });
    match resolved {
        Some(path) => same_origin_path(&path).to_string(),
        None => DEFAULT_RETURN.to_string(),
    }
}

/// Replaces the page with `url` (a login URL built by [`crate::redirect::login_url`]);
/// `replace` keeps the protected page out of the back button's history.
pub fn navigate_to_login(url: &str) -> Result<(), BrowserError> {
    super::window()?
        .location()
        .replace(url)
        .map_err(BrowserError::from_js)
}

/// The prefix a recorded tab's title carries (`TITLE_PREFIX` in `record-bridge.js`, which
/// draws it; the browser suites check the title against this).
#[cfg(feature = "test-support")]
pub const RECORDING_TITLE_PREFIX: &str = "● REC ";

/// Marks the tab as recorded (title prefix, red-dot favicon) while it lives; dropping it
/// restores both. A host app that changes the title later gets the prefix re-applied.
/// The marks are drawn by the recorder script (`record-bridge.js`), which a tab has loaded
/// whenever it is recorded, so an unrecorded page carries none of this code.
#[must_use = "the recording marks are removed when this handle is dropped"]
pub struct RecordingMarker {
    unmark: js_sys::Function,
}

impl RecordingMarker {
    /// Applies the marks to the current document; an error while the recorder script is
    /// not loaded.
    pub fn apply() -> Result<Self, BrowserError> {
        super::recorder::mark_tab().map(|unmark| RecordingMarker { unmark })
    }
}

impl Drop for RecordingMarker {
    fn drop(&mut self) {
        super::call(&self.unmark);
    }
}
