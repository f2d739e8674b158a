//! The session API client (see docs/CONTRACT.md), behind a trait so tests can stand in a
//! scripted server.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use gloo_net::http::{Request, Response};
use gloo_timers::callback::Timeout;
/// One browser tab, registered with the server as its own recorded sub-session (the
/// contract's `POST /api/session/tabs` body).
pub use session_guard_contract::api::{ActivityRequest, TabRegistration};
use session_guard_contract::api::{ConsentRequest, LogoutRequest, TAB_HEADER};
use session_guard_contract::recording::upload_path;
use wasm_bindgen::{JsCast, JsValue};

use super::{json, set_field, BrowserError};
use crate::core::{push_number, Millis, Reason, SessionView};

/// A boxed, single-threaded future (the browser has one thread).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Longest a request may take before it counts as a network problem.
const REQUEST_TIMEOUT_MS: u32 = 10_000;

/// Bodies larger than this are not parsed.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the server said about the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionReply {
    /// The session is live; here is its current view.
    View(SessionView),
    /// `401`: the session ended for `Some(reason)`, or there is none (`None`).
    Ended(Option<Reason>),
}

/// The calls the guard makes to the session server.
pub trait SessionServer {
    /// `GET /api/session`.
    fn fetch_session(&self) -> LocalFuture<Result<SessionReply, BrowserError>>;
    /// `GET /api/session?wait=<wait_ms>`: held by the server until the session changes or
    /// `wait_ms` elapses; answered like [`SessionServer::fetch_session`].
    fn await_session_change(
        &self,
        wait_ms: Millis,
    ) -> LocalFuture<Result<SessionReply, BrowserError>>;
    /// `POST /api/session/activity`: when the user was last active.
    fn send_activity(
        &self,
        activity: ActivityRequest,
    ) -> LocalFuture<Result<SessionReply, BrowserError>>;
    /// `POST /api/session/consent`; `Ok(None)` when declining ended the session.
    fn send_consent(
        &self,
        accepted: bool,
    ) -> LocalFuture<Result<Option<SessionReply>, BrowserError>>;
    /// `POST /api/logout {reason}`, delivered even while the page navigates away.
    fn end_session(&self, reason: &Reason);
    /// `POST /api/session/tabs`.
    fn register_tab(&self, tab: &TabRegistration) -> LocalFuture<Result<(), BrowserError>>;
    /// `POST /api/session/tabs/{tab_id}/close`, delivered even while the page goes away.
    fn close_tab(&self, tab_id: &str);
    /// The server-sent events URL, or `None` where there is no push channel.
    fn events_url(&self) -> Option<String>;
    /// `POST /api/session/tabs/{tab_id}/recording/{seq}` with `chunk` (the JSON text)
    /// gzipped; `Ok` once the server stored it (`201`, or `200` for a repeat of stored
    /// bytes). With `keepalive` the request outlives the page that is going away.
    fn upload_chunk(
        &self,
        tab_id: &str,
        seq: u32,
        chunk: String,
        keepalive: bool,
    ) -> LocalFuture<Result<(), BrowserError>>;
    /// Names this tab in every later request (the contract's acting-tab header), so the
    /// server can attribute the session's API actions to it. A server that keeps no such
    /// record may ignore it.
    fn name_tab(&self, _tab_id: &str) {}
}

/// The real server over HTTP (same-origin cookies, JSON bodies).
#[derive(Debug, Clone)]
pub struct HttpSessionServer {
    base: String,
    /// The acting tab named in every request ([`SessionServer::name_tab`]).
    tab_id: RefCell<Option<String>>,
}

impl HttpSessionServer {
    /// A client for the API under `base` (`""` for the page's own origin).
    pub fn new(base: impl Into<String>) -> Self {
        let base = base.into();
        HttpSessionServer {
            base: base.trim_end_matches('/').to_string(),
            tab_id: RefCell::new(None),
        }
    }

    fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }

    /// The acting tab, once named, for the request's header.
    fn tab(&self) -> Option<String> {
        self.tab_id.borrow().clone()
    }

    /// A call whose answer is a session view or a `401` (`GET` without `body`, else `POST`
    /// with the JSON `body`). Every such call goes through this one future, so the page
    /// carries its request and reply code once.
    fn session_call(
        &self,
        path: &str,
        body: Option<String>,
        timeout_ms: u32,
    ) -> LocalFuture<Result<SessionReply, BrowserError>> {
        let url = self.url(path);
        let tab = self.tab();
        Box::pin(async move { session_reply(send(&url, tab, body, timeout_ms).await?) })
    }
}

/// A server's answer: its status and its body's text (or why the body could not be read).
type Answer = (u16, Result<String, BrowserError>);

/// Sends one request (`GET` without `body`, else `POST` with the JSON `body`), naming the
/// acting `tab` when there is one, and reads the answer's body, with a deadline: a request
/// that hangs becomes a network error instead of leaving the guard waiting forever. Every
/// request of the guard waits in this one future, so the page carries the code that awaits
/// gloo-net's send and text once; each call's answer is then read without awaiting.
///
/// The browser's request is built here and handed to gloo-net to send and read: its
/// request builder would parse the URL and merge query parameters the guard never sets,
/// and fill a `Headers` object, code and browser bindings the page then carries for
/// nothing; the headers go as a plain object, which `fetch` takes as well.
async fn send(
    url: &str,
    tab: Option<String>,
    body: Option<String>,
    timeout_ms: u32,
) -> Result<Answer, BrowserError> {
    let controller = web_sys::AbortController::new().map_err(BrowserError::from_js)?;
    // A `RequestInit` dictionary, filled like any plain object.
    let init = js_sys::Object::new();
    let headers = js_sys::Object::new();
    if let Some(body) = &body {
        set_field(&init, "method", &JsValue::from_str("POST"));
        set_field(
            &headers,
            "Content-Type",
            &JsValue::from_str("application/json"),
        );
        set_field(&init, "body", &JsValue::from_str(body));
    }
    if let Some(tab) = &tab {
        set_field(&headers, TAB_HEADER, &JsValue::from_str(tab));
    }
    set_field(&init, "headers", &headers);
    set_field(&init, "signal", &controller.signal());
    let request = web_sys::Request::new_with_str_and_init(url, init.unchecked_ref())
        .map_err(|_| BrowserError::Js("request not built"))?;
    let abort_on_timeout = Timeout::new(timeout_ms, move || controller.abort());
    let response = Request::from(request)
        .send()
        .await
        .map_err(|_| BrowserError::Network("request failed"))?;
    let text = body_text(&response).await;
    drop(abort_on_timeout);
    Ok((response.status(), text))
}

async fn body_text(response: &Response) -> Result<String, BrowserError> {
    let text = response
        .text()
        .await
        .map_err(|_| BrowserError::Network("body not read"))?;
    if text.len() > MAX_BODY_BYTES {
        return Err(BrowserError::InvalidResponse("body too large"));
    }
    Ok(text)
}

/// Reads a reply that is either a session view or a `401`.
fn session_reply((status, text): Answer) -> Result<SessionReply, BrowserError> {
    match status {
        200 => json::session_view(&text?)
            .map(SessionReply::View)
            .ok_or(BrowserError::InvalidResponse("session view rejected")),
        // A 401 whose body cannot be read still means "no session".
        401 => Ok(SessionReply::Ended(
            text.ok().and_then(|text| json::error_reason(&text)),
        )),
        status => Err(BrowserError::Status(status)),
    }
}

impl SessionServer for HttpSessionServer {
    fn fetch_session(&self) -> LocalFuture<Result<SessionReply, BrowserError>> {
        self.session_call("/api/session", None, REQUEST_TIMEOUT_MS)
    }

    fn await_session_change(
        &self,
        wait_ms: Millis,
    ) -> LocalFuture<Result<SessionReply, BrowserError>> {
        let wait_ms = wait_ms.clamp(0, i64::from(u32::MAX - REQUEST_TIMEOUT_MS));
        let mut path = String::from("/api/session?wait=");
        push_number(&mut path, wait_ms, 1);
        // The server holds it up to `wait_ms`; only beyond that is it a network problem.
        self.session_call(&path, None, REQUEST_TIMEOUT_MS + wait_ms as u32)
    }

    fn send_activity(
        &self,
        activity: ActivityRequest,
    ) -> LocalFuture<Result<SessionReply, BrowserError>> {
        self.session_call(
            "/api/session/activity",
            Some(activity.to_json()),
            REQUEST_TIMEOUT_MS,
        )
    }

    fn send_consent(
        &self,
        accepted: bool,
    ) -> LocalFuture<Result<Option<SessionReply>, BrowserError>> {
        let url = self.url("/api/session/consent");
        let tab = self.tab();
        Box::pin(async move {
            let body = ConsentRequest { accepted }.to_json();
            // Declining ends the session and the tab leaves for the login page at once, which
            // would cancel a plain fetch before the server heard it: a beacon survives.
            if !accepted && send_beacon(&url, &body) {
                return Ok(None);
            }
            let answer = send(&url, tab, Some(body), REQUEST_TIMEOUT_MS).await?;
            if answer.0 == 204 {
                Ok(None)
            } else {
                session_reply(answer).map(Some)
            }
        })
    }

    fn end_session(&self, reason: &Reason) {
        let url = self.url("/api/logout");
        let body = LogoutRequest {
            reason: Some(reason.wire_name().to_owned()),
        }
        .to_json();
        // A beacon survives the navigation to the login page that follows at once; a
        // plain fetch would be cancelled by it.
        if send_beacon(&url, &body) {
            return;
        }
        let tab = self.tab();
        super::spawn(Box::pin(async move {
            let _ = send(&url, tab, Some(body), REQUEST_TIMEOUT_MS).await;
        }));
    }

    fn register_tab(&self, tab: &TabRegistration) -> LocalFuture<Result<(), BrowserError>> {
        let url = self.url("/api/session/tabs");
        let acting = self.tab();
        let body = tab.to_json();
        Box::pin(async move {
            let (status, _) = send(&url, acting, Some(body), REQUEST_TIMEOUT_MS).await?;
            match status {
                200 | 201 => Ok(()),
                status => Err(BrowserError::Status(status)),
            }
        })
    }

    fn close_tab(&self, tab_id: &str) {
        // Tab ids are `[A-Za-z0-9_-]`, safe in a path segment as they are.
        let mut url = self.url("/api/session/tabs/");
        url.push_str(tab_id);
        url.push_str("/close");
        // Only a beacon outlives the page that is going away.
        send_beacon(&url, "{}");
    }

    fn events_url(&self) -> Option<String> {
        Some(self.url("/api/session/events"))
    }

    fn upload_chunk(
        &self,
        tab_id: &str,
        seq: u32,
        chunk: String,
        keepalive: bool,
    ) -> LocalFuture<Result<(), BrowserError>> {
        // Tab ids are `[A-Za-z0-9_-]`, safe in a path segment as they are.
        let url = self.url(&upload_path(tab_id, seq));
        let tab_id = tab_id.to_owned();
        Box::pin(async move {
            let answer =
                super::recorder::post_chunk(&url, &tab_id, &chunk, keepalive, REQUEST_TIMEOUT_MS)
                    .await?;
            match (answer.status, answer.next_seq) {
                (200 | 201, _) => Ok(()),
                (409, Some(next_seq)) => Err(BrowserError::OutOfSequence(next_seq)),
                (status, _) => Err(BrowserError::Status(status)),
            }
        })
    }

    fn name_tab(&self, tab_id: &str) {
        *self.tab_id.borrow_mut() = Some(tab_id.to_owned());
    }
}

/// `navigator.sendBeacon` with a JSON body; false where the browser refused or lacks it.
fn send_beacon(url: &str, body: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let parts = js_sys::Array::new();
    parts.push(&JsValue::from_str(body));
    // A `BlobPropertyBag` dictionary, filled like any plain object.
    let options = js_sys::Object::new();
    set_field(&options, "type", &JsValue::from_str("application/json"));
    let Ok(blob) =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, options.unchecked_ref())
    else {
        return false;
    };
    window
        .navigator()
        .send_beacon_with_opt_blob(url, Some(&blob))
        .unwrap_or(false)
}
