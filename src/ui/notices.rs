//! The recording indicator and the login page's logout notice.

use leptos::prelude::*;
use leptos::tachys::html::InertElement;
use wasm_bindgen::JsValue;

use crate::browser::same_origin_target;
use crate::core::push_number;
use crate::core::{DurationMs, LifetimeWarning, Millis, Reason};
use crate::redirect::{idle_limit_param, query_param};

/// The product's inactivity limit for privileged users, named by the timeout message when
/// the login URL does not carry the limit that applied (`idle_ms`): the default of
/// [`LogoutNotice`]'s `idle_timeout_ms`.
pub const DEFAULT_IDLE_TIMEOUT_MS: Millis = 15 * 60 * 1000;

/// The in-page recording badge. The tab's title prefix and favicon are set by the guard
/// itself, for as long as recording lasts.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::ui::{use_session, RecordingIndicator};
/// # #[component] fn Header() -> impl IntoView {
/// let session = use_session();
/// view! { <Show when=move || session.is_recording.get()><RecordingIndicator /></Show> }
/// # }
/// ```
#[component]
pub fn RecordingIndicator() -> impl IntoView {
    InertElement::new(BADGE_MARKUP)
}

/// The recording badge as static markup ([`RecordingIndicator`], and `<SessionGuard>`'s own).
pub(super) const BADGE_MARKUP: &str = concat!(
    r#"<div class="sg-recording" role="status">"#,
    r#"<span class="sg-recording-dot" aria-hidden="true"></span>"#,
    "Recording: this session is recorded</div>"
);

/// A local clock time with its offset from UTC, the same in every locale: "14:05 (UTC+01:00)".
pub fn format_clock_time(epoch_ms: Millis) -> String {
    let date = js_sys::Date::new(&(epoch_ms as f64).into());
    // getTimezoneOffset is UTC minus local time, in minutes. Read by name: the page then
    // imports one Date method instead of three (see `dom`), and the hours and minutes are
    // the UTC ones moved by the offset, which is what getHours and getMinutes return.
    let west = crate::browser::dom::call(&date, "getTimezoneOffset", &JsValue::UNDEFINED);
    clock_time_text(epoch_ms, -(west.as_f64().unwrap_or(0.0) as i64))
}

/// "HH:MM (UTC±HH:MM)" for the instant `epoch_ms` in a zone `east_minutes` ahead of UTC.
pub fn clock_time_text(epoch_ms: Millis, east_minutes: i64) -> String {
    let local_minutes = (epoch_ms.div_euclid(60_000) + east_minutes).rem_euclid(24 * 60);
    let mut text = String::new();
    push_number(&mut text, local_minutes / 60, 2);
    text.push(':');
    push_number(&mut text, local_minutes % 60, 2);
    text.push_str(if east_minutes < 0 { " (UTC-" } else { " (UTC+" });
    push_number(&mut text, east_minutes.abs() / 60, 2);
    text.push(':');
    push_number(&mut text, east_minutes.abs() % 60, 2);
    text.push(')');
    text
}

/// Tells the user that the session's absolute lifetime ends soon, 10 and again 2 minutes
/// before (the engine decides when). It says when, that it cannot be extended, and to save
/// work. A polite live region that stays in the document, so screen readers announce each
/// new notice; the user may dismiss one, and the next one shows again. [`SessionGuard`]
/// shows it; an app using the hook alone places it itself.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::ui::{use_session_guard, LifetimeNotice};
/// # #[component] fn Layout() -> impl IntoView {
/// let session = use_session_guard();
/// view! { <LifetimeNotice warning=session.lifetime_warning /> }
/// # }
/// ```
///
/// [`SessionGuard`]: super::SessionGuard
#[component]
pub fn LifetimeNotice(
    /// The warning to show; nothing shows while it is `None`.
    #[prop(into)]
    warning: Signal<Option<LifetimeWarning>>,
) -> impl IntoView {
    // The `within` of the notice the user dismissed.
    let dismissed = RwSignal::new(None::<DurationMs>);
    let shown = move || warning.get().filter(|w| dismissed.get() != Some(w.within));
    view! {
        <div class="sg-lifetime-region" role="status" aria-live="polite" aria-atomic="true">
            {move || {
                shown()
                    .map(|w| {
                        let text = w.message(&format_clock_time(w.ends_at.as_millis()));
                        view! {
                            <div class="sg-lifetime">
                                <p>{text}</p>
                                <button
                                    type="button"
                                    class="sg-secondary"
                                    on:click=move |_| dismissed.set(Some(w.within))
                                >
                                    "Dismiss"
                                </button>
                            </div>
                        }
                    })
            }}
        </div>
    }
}

/// The page's own query string.
fn page_search() -> String {
    web_sys::window()
        .map(|w| crate::browser::dom::text(&w.location(), "search"))
        .unwrap_or_default()
}

/// The `return_to` of a login URL, accepted only as a same-origin path (`/` otherwise),
/// judged as the browser resolves it against the page.
/// Reads the page's own query string when `search` is `None`.
///
/// ```
/// # use session_guard::ui::login_return_path;
/// assert_eq!(login_return_path(Some("?return_to=%2Fadmin%23users")), "/admin#users");
/// assert_eq!(login_return_path(Some("?return_to=https%3A%2F%2Fevil.example")), "/");
/// ```
pub fn login_return_path(search: Option<&str>) -> String {
    let search = search.map(str::to_string).unwrap_or_else(page_search);
    let candidate = query_param(&search, "return_to").unwrap_or_default();
    same_origin_target(&candidate)
}

/// Tells the user on the login page why their session ended.
///
/// The text is fixed per reason; the raw `reason` parameter is never shown, and an unknown
/// one gets the generic message. Nothing renders when the URL names no reason.
///
/// ```
/// # use leptos::prelude::*;
/// # use session_guard::ui::LogoutNotice;
/// # #[component] fn LoginPage() -> impl IntoView {
/// // The page's own query string, 15 minutes when the URL names no idle limit:
/// view! { <LogoutNotice /> }
/// # }
/// # #[component] fn Preview() -> impl IntoView {
/// // A given query string and a different default limit:
/// view! { <LogoutNotice search="?reason=idle_timeout" idle_timeout_ms=30 * 60 * 1000 /> }
/// # }
/// ```
#[component]
pub fn LogoutNotice(
    /// The inactivity limit the timeout message names when the URL carries none.
    #[prop(default = DEFAULT_IDLE_TIMEOUT_MS)]
    idle_timeout_ms: Millis,
    /// The query string to read `reason` from; the page's own when not given.
    #[prop(optional, into)]
    search: Option<String>,
) -> impl IntoView {
    let search = search.unwrap_or_else(page_search);
    let reason = query_param(&search, "reason")
        .filter(|wire| !wire.is_empty())
        .map(|wire| Reason::from_wire(&wire));
    reason.map(|reason| {
        let kind = match reason {
            Reason::Other(_) => "other",
            ref known => known.wire_name(),
        }
        .to_string();
        let limit = idle_limit_param(&search).unwrap_or(idle_timeout_ms);
        let message = reason.message(Some(DurationMs::from_millis(limit)));
        view! {
            <div class="sg-notice" role="alert" data-reason=kind>
                {message}
            </div>
        }
    })
}
