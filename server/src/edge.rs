//! What every request passes through before a handler: who is asking (client address,
//! user agent, acting tab) for the audit log, the body rules of state-changing routes, and
//! the security headers of every response. After the handler, each API request of a
//! recorded session is handed to the request log (recorded sessions' API actions), without
//! waiting for it: authentication says whether the session is recorded (see
//! [`RequestContext`]); a request with a session cookie it did not decide on goes to the
//! log for the log to find out.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, USER_AGENT, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sha2::{Digest, Sha256};

use session_guard_contract::recording::{CHUNK_CONTENT_TYPE, MAX_CHUNK_COMPRESSED_BYTES};

use crate::auth;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{RequestSession, SeenRequest};
use crate::BODY_LIMIT;

/// The header by which the Admin Console names the browser tab an admin action comes
/// from; it is recorded only when the tab is registered to the acting session.
pub use session_guard_contract::api::TAB_HEADER;

/// Longest user agent kept in the audit log.
const MAX_USER_AGENT: usize = 256;

/// HSTS for a year once a request arrived over TLS.
const HSTS: &str = "max-age=31536000";

tokio::task_local! {
    /// The request being served, for audit entries written anywhere below the handler.
    static REQUEST: Arc<RequestContext>;
}

/// Who is asking, as the audit log records it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's address: the socket peer, or the proxy's `X-Forwarded-For` entry when
    /// `--trust-proxy` is set.
    pub client_addr: Option<IpAddr>,
    /// The `User-Agent` header, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The acting tab the request names (shape-checked).
    pub tab_id: Option<String>,
    /// SHA-256 of the request's session cookie secret, to find the acting session.
    pub secret_hash: Option<String>,
    /// The request arrived over TLS (or `--secure-cookies` says it always does).
    pub secure: bool,
    /// Whether the request's session is recorded, as its first authentication found it
    /// (unset until then, and when authentication could not tell).
    recording: OnceLock<Recording>,
}

/// Whether a request belongs to a recorded session, decided where the session row was
/// read anyway (authentication), so the request log never looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recording {
    /// The session is live, requires recording and has consent: its request is recorded.
    Recorded {
        /// The session's id.
        session_id: String,
    },
    /// The session is not recorded: the request log never hears of the request.
    NotRecorded,
}

impl RequestContext {
    /// Notes whether the request's session is recorded; the first authentication of a
    /// request decides (a request held with `?wait` authenticates again at its end, for
    /// the answer, when it was long since decided).
    pub(crate) fn decide_recording(&self, decision: Recording) {
        // Already decided by an earlier authentication of the same request: that stands.
        let _ = self.recording.set(decision);
    }
}

/// The request context of the request being served (an empty one outside requests, for
/// example in the background sweeper).
pub fn current() -> Arc<RequestContext> {
    REQUEST
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::new(RequestContext::default()))
}

/// Settings of the edge, fixed at start-up.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSettings {
    /// Trust `X-Forwarded-Proto` / `X-Forwarded-For`.
    pub trust_proxy: bool,
    /// Every request counts as TLS (`--secure-cookies`).
    pub always_secure: bool,
}

/// The settings and the policy header the middleware applies.
#[derive(Clone)]
pub(crate) struct Edge {
    state: AppState,
    csp: HeaderValue,
    replay_csp: HeaderValue,
}

/// The console's page that replays recordings (Admin Console › Remote sessions), which
/// gets [`replay_policy`] instead of [`content_security_policy`].
pub const REPLAY_PAGE: &str = "/admin/replay";

impl Edge {
    /// Builds the edge for `state`; `pages` are the served HTML pages, whose inline
    /// scripts (trunk's loader) the policy allows by hash.
    pub fn new(state: AppState, pages: &[String]) -> Self {
        let html = pages.concat();
        let header = |policy: String| {
            HeaderValue::from_str(&policy)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
        };
        Self {
            state,
            csp: header(content_security_policy(&html)),
            replay_csp: header(replay_policy(&html)),
        }
    }
}

/// The policy for the console: its own scripts, wasm compiled by the browser
/// (`'wasm-unsafe-eval'`, not `'unsafe-eval'`), trunk's inline loader by hash, its own
/// styles, `data:` images (the favicon and the recording dot), requests to itself only,
/// and no framing.
pub fn content_security_policy(index_html: &str) -> String {
    let script_src = script_sources(index_html);
    format!(
        "default-src 'none'; script-src {script_src}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The policy of the player page. A replayed document is rrweb's rebuild of a recorded
/// page in a sandboxed `about:blank` iframe, which inherits this policy: its style sheets
/// are inline (`'unsafe-inline'` styles, the one thing it adds to the console's policy),
/// and it must fetch nothing, so images and fonts are `data:` only and there is no
/// `'self'` for them either (the player strips every fetching attribute before replaying;
/// this is the second wall). Scripts are the console's own, as everywhere.
pub fn replay_policy(index_html: &str) -> String {
    let script_src = script_sources(index_html);
    format!(
        "default-src 'none'; script-src {script_src}; style-src 'self' 'unsafe-inline'; \
         img-src data:; font-src data:; media-src 'none'; object-src 'none'; \
         connect-src 'self'; frame-src 'self'; manifest-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// `script-src` of both policies: the console's own scripts, wasm compiled by the browser,
/// and the page's inline scripts by hash.
fn script_sources(index_html: &str) -> String {
    let mut script_src = String::from("'self' 'wasm-unsafe-eval'");
    for script in inline_scripts(index_html) {
        let digest = Sha256::digest(script.as_bytes());
        script_src.push_str(&format!(" 'sha256-{}'", STANDARD.encode(digest)));
    }
    script_src
}

/// Every `.html` file in `dir` and its subdirectories (three levels deep at most: the
/// console and pages built beside it), read once at start-up.
pub(crate) fn html_pages(dir: &std::path::Path, depth: u8) -> Vec<String> {
    let mut pages = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return pages;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && depth > 0 {
            pages.extend(html_pages(&path, depth - 1));
        } else if path.extension().is_some_and(|e| e == "html") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                pages.push(text);
            }
        }
    }
    pages
}

/// The bodies of the page's inline `<script>` elements (those without `src`).
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let after_open = &rest[open..];
        let Some(tag_end) = after_open.find('>') else {
            break;
        };
        let tag = &after_open[..tag_end];
        let body_start = &after_open[tag_end + 1..];
        let Some(close) = body_start.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            out.push(&body_start[..close]);
        }
        rest = &body_start[close..];
    }
    out
}

/// The middleware: context, body rules, then headers on whatever the handler answered.
pub(crate) async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let settings = &edge.state.inner.edge;
    let context = match request_context(settings, &req) {
        Ok(c) => c,
        Err(e) => return finish(edge.csp.clone(), false, true, e.into_response()),
    };
    let secure = context.secure;
    let is_api = req.uri().path().starts_with("/api/") || req.uri().path() == "/api";
    let policy = if req.uri().path() == REPLAY_PAGE {
        edge.replay_csp.clone()
    } else {
        edge.csp.clone()
    };
    let method = req.method().clone();
    let uri = req.uri().clone();
    let arrived_at = edge.state.inner.now();
    let context = Arc::new(context);
    let resp = match check_body(req, is_api).await {
        Ok(req) => REQUEST.scope(context.clone(), next.run(req)).await,
        Err(e) => e.into_response(),
    };
    if is_api {
        let session = match context.recording.get() {
            Some(Recording::Recorded { session_id }) => {
                Some(RequestSession::Recorded(session_id.clone()))
            }
            Some(Recording::NotRecorded) => None,
            // Authentication did not decide (it never ran, refused the cookie, or consent
            // is pending): only a request with a session cookie can be a recorded
            // session's, and the log looks that up.
            None => context.secret_hash.clone().map(RequestSession::Cookie),
        };
        if let Some(session) = session {
            let inner = &edge.state.inner;
            inner.request_log.offer(SeenRequest {
                session,
                tab_id: context.tab_id.clone(),
                arrived_at,
                at: inner.now(),
                method: method.as_str().to_owned(),
                path: uri.path().to_owned(),
                status: resp.status().as_u16(),
            });
        }
    }
    finish(policy, secure, is_api, resp)
}

fn request_context(settings: &EdgeSettings, req: &Request) -> Result<RequestContext, AppError> {
    let headers = req.headers();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = settings
        .trust_proxy
        .then(|| forwarded_for(headers))
        .flatten();
    let tab_id = match headers.get(TAB_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|v| session_guard_contract::ids::is_tab_id(v))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "{TAB_HEADER} must match {}",
                        session_guard_contract::ids::TAB_ID_PATTERN
                    ))
                })?
                .to_owned(),
        ),
    };
    let proto_https = settings.trust_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    Ok(RequestContext {
        client_addr: forwarded.or(peer),
        user_agent: headers
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        tab_id,
        secret_hash: auth::session_secret(headers).map(|s| auth::secret_hash(&s)),
        secure: settings.always_secure || proto_https,
        recording: OnceLock::new(),
    })
}

/// The address the nearest proxy saw: the last entry of `X-Forwarded-For` (earlier ones
/// come from the client and prove nothing); none when that entry is not an address.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    last_header
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Every `POST`/`DELETE` under `/api` must be JSON and at most 16 KiB, whether or not its
/// handler reads the body, and however it is framed (a chunked body has no
/// `Content-Length`, so the body is read here, up to the limit). An empty body counts as
/// `{}`. Other requests only have their declared length checked. The one exception is a
/// recording chunk upload: `application/gzip` up to its own limit, read by its handler.
async fn check_body(req: Request, is_api: bool) -> Result<Request, AppError> {
    let declared_len = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if is_recording_upload(&req) {
        if declared_len.is_some_and(|n| n > MAX_CHUNK_COMPRESSED_BYTES as u64) {
            return Err(AppError::PayloadTooLarge);
        }
        if !has_mime(req.headers(), CHUNK_CONTENT_TYPE) {
            return Err(AppError::UnsupportedMediaType);
        }
        return Ok(req);
    }
    if declared_len.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let state_changing = matches!(*req.method(), Method::POST | Method::DELETE);
    if !(state_changing && is_api) {
        return Ok(req);
    }
    if !is_json(req.headers()) {
        return Err(AppError::UnsupportedMediaType);
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(AppError::PayloadTooLarge),
        Err(_) => {
            return Err(AppError::BadRequest(
                "The request body could not be read.".into(),
            ))
        }
    };
    if !bytes.iter().all(u8::is_ascii_whitespace)
        && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err()
    {
        return Err(AppError::BadRequest(
            "The request body must be JSON.".into(),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
fn is_json(headers: &HeaderMap) -> bool {
    has_mime(headers, "application/json")
}

/// The `Content-Type` is `mime`, optionally with parameters.
fn has_mime(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|found| found.trim().eq_ignore_ascii_case(mime))
}

/// `POST /api/session/tabs/{tab_id}/recording/{seq}`.
fn is_recording_upload(req: &Request) -> bool {
    if req.method() != Method::POST {
        return false;
    }
    let mut segments = req.uri().path().split('/');
    matches!(
        (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ),
        (
            Some(""),
            Some("api"),
            Some("session"),
            Some("tabs"),
            Some(_),
            Some("recording"),
            Some(_),
            None
        )
    )
}

fn finish(policy: HeaderValue, secure: bool, is_api: bool, mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    if is_api {
        // Session views and admin data must never be served from a shared or back/forward
        // cache after the session ended.
        headers
            .entry(CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    headers.insert(CONTENT_SECURITY_POLICY, policy);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if secure {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_nothing_else() {
        let html = r#"<head><script type="module">import init from '/a.js';</script>
            <script src="/b.js"></script><script>x()</script></head>"#;
        assert_eq!(
            inline_scripts(html),
            vec!["import init from '/a.js';", "x()"]
        );
        let csp = content_security_policy(html);
        let expected = STANDARD.encode(Sha256::digest(b"x()"));
        assert!(csp.contains(&format!("'sha256-{expected}'")), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"));
        assert!(!csp.contains("'unsafe-eval'"));
        assert!(!csp.contains("'unsafe-inline'"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn the_replay_page_allows_inline_styles_and_no_fetching_of_images_or_fonts() {
        let html = r#"<script type="module">import init from '/a.js';</script>"#;
        let policy = replay_policy(html);
        let script = STANDARD.encode(Sha256::digest(b"import init from '/a.js';"));
        assert!(
            policy.contains(&format!(
                "script-src 'self' 'wasm-unsafe-eval' 'sha256-{script}';"
            )),
            "{policy}"
        );
        for directive in [
            "default-src 'none'",
            "style-src 'self' 'unsafe-inline'",
            "img-src data:;",
            "font-src data:;",
            "media-src 'none'",
            "object-src 'none'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} missing: {policy}");
        }
        // Only styles are relaxed: scripts never.
        assert!(!policy.contains("'unsafe-eval'"));
        assert_eq!(policy.matches("'unsafe-inline'").count(), 1, "{policy}");
    }
}
