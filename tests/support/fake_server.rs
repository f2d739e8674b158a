//! A scripted session server for the browser suites.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use session_guard::browser::BrowserError;
use session_guard::browser::{
    ActivityRequest, LocalFuture, SessionReply, SessionServer, TabRegistration,
};
use session_guard::core::{
    ConsentState, DurationMs, Millis, Reason, RecordingView, ServerTime, SessionView, UserView,
};

/// Fields of the session view the tests vary.
#[derive(Clone)]
pub struct ViewSpec {
    pub session_id: String,
    pub privileged: bool,
    pub idle_timeout_ms: Option<Millis>,
    pub warning_lead_ms: Millis,
    pub lifetime_ms: Millis,
    pub recording_required: bool,
    pub consent: ConsentState,
    /// The server's stored last activity; `None` answers "just now" on every request.
    pub last_activity_at: Option<Millis>,
}

impl ViewSpec {
    /// A privileged session that needs no consent.
    pub fn privileged(session_id: &str) -> Self {
        ViewSpec {
            session_id: session_id.to_string(),
            privileged: true,
            idle_timeout_ms: Some(15 * 60_000),
            warning_lead_ms: 60_000,
            lifetime_ms: 24 * 3_600_000,
            recording_required: false,
            consent: ConsentState::NotRequired,
            last_activity_at: None,
        }
    }

    /// The view as the server would send it now (the contract's shape, serialized).
    pub fn to_json(&self) -> String {
        let now = js_sys::Date::now() as Millis;
        let issued_at = ServerTime::from_millis(now - 1_000);
        let view = SessionView {
            session_id: self.session_id.clone(),
            user: UserView {
                id: 7,
                username: "ada".to_string(),
                display_name: "Ada <b>Admin</b>".to_string(),
            },
            privileged: self.privileged,
            scopes: if self.privileged {
                vec!["console:access".to_string()]
            } else {
                Vec::new()
            },
            issued_at,
            expires_at: issued_at.saturating_add(DurationMs::from_millis(self.lifetime_ms)),
            idle_timeout_ms: self.idle_timeout_ms.map(DurationMs::from_millis),
            warning_lead_ms: DurationMs::from_millis(self.warning_lead_ms),
            keepalive_interval_ms: DurationMs::MINUTE,
            last_activity_at: ServerTime::from_millis(self.last_activity_at.unwrap_or(now)),
            recording: RecordingView {
                required: self.recording_required,
                consent: self.consent,
            },
            server_time: ServerTime::from_millis(now),
        };
        serde_json::to_string(&view).expect("a view serializes")
    }
}

/// A session server scripted by the test: answers from `spec`, or 401 once `ended` is set,
/// or a network error while `unreachable`; records every call.
pub struct FakeServer {
    pub spec: Rc<RefCell<ViewSpec>>,
    pub ended: Rc<RefCell<Option<Option<String>>>>,
    pub unreachable: Rc<Cell<bool>>,
    /// How many of the next tab registrations fail with a network error.
    pub failing_registrations: Cell<u32>,
    pub calls: RefCell<Vec<String>>,
    /// The push stream's URL, when the test serves one; every stream opened is recorded
    /// as an `events` call.
    pub events: RefCell<Option<String>>,
    /// The recording chunks stored, in the order the server took them: (tab, seq, JSON).
    pub chunks: Rc<RefCell<Vec<(String, u32, String)>>>,
    /// While set, every chunk upload fails at the network level (an outage of the
    /// recording path only; the session API still answers).
    pub refusing_chunks: Rc<Cell<bool>>,
    /// The tab this server was told to name in its requests.
    pub named_tab: RefCell<Option<String>>,
}

impl FakeServer {
    pub fn new(spec: ViewSpec) -> Rc<Self> {
        Rc::new(FakeServer {
            spec: Rc::new(RefCell::new(spec)),
            ended: Rc::new(RefCell::new(None)),
            unreachable: Rc::new(Cell::new(false)),
            failing_registrations: Cell::new(0),
            calls: RefCell::new(Vec::new()),
            events: RefCell::new(None),
            chunks: Rc::new(RefCell::new(Vec::new())),
            refusing_chunks: Rc::new(Cell::new(false)),
            named_tab: RefCell::new(None),
        })
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn reply(&self) -> Result<SessionReply, BrowserError> {
        reply_of(&self.spec, &self.ended, &self.unreachable)
    }
}

fn reply_of(
    spec: &RefCell<ViewSpec>,
    ended: &RefCell<Option<Option<String>>>,
    unreachable: &Cell<bool>,
) -> Result<SessionReply, BrowserError> {
    if unreachable.get() {
        return Err(BrowserError::Network("scripted outage"));
    }
    if let Some(reason) = ended.borrow().clone() {
        return Ok(SessionReply::Ended(reason.map(|r| Reason::from_wire(&r))));
    }
    let view = SessionView::from_json(&spec.borrow().to_json())
        .map_err(|_| BrowserError::InvalidResponse("fake view rejected"))?;
    Ok(SessionReply::View(view))
}

impl SessionServer for FakeServer {
    fn fetch_session(&self) -> LocalFuture<Result<SessionReply, BrowserError>> {
        self.calls.borrow_mut().push("fetch".to_string());
        let reply = self.reply();
        Box::pin(async move { reply })
    }

    /// Held like the reference server holds it: answered once the session ended or the
    /// server became unreachable (checked every 20 ms), or when `wait_ms` elapsed.
    fn await_session_change(
        &self,
        wait_ms: Millis,
    ) -> LocalFuture<Result<SessionReply, BrowserError>> {
        self.calls.borrow_mut().push(format!("wait:{wait_ms}"));
        let (spec, ended, unreachable) = (
            self.spec.clone(),
            self.ended.clone(),
            self.unreachable.clone(),
        );
        Box::pin(async move {
            let start = js_sys::Date::now();
            while ended.borrow().is_none()
                && !unreachable.get()
                && js_sys::Date::now() - start < wait_ms as f64
            {
                gloo_timers::future::TimeoutFuture::new(20).await;
            }
            reply_of(&spec, &ended, &unreachable)
        })
    }

    fn send_activity(
        &self,
        activity: ActivityRequest,
    ) -> LocalFuture<Result<SessionReply, BrowserError>> {
        let idle_ms = activity.idle_ms.as_millis();
        self.calls.borrow_mut().push(format!("activity:{idle_ms}"));
        let reply = self.reply();
        Box::pin(async move { reply })
    }

    fn send_consent(
        &self,
        accepted: bool,
    ) -> LocalFuture<Result<Option<SessionReply>, BrowserError>> {
        self.calls.borrow_mut().push(format!("consent:{accepted}"));
        if accepted {
            self.spec.borrow_mut().consent = ConsentState::Accepted;
            let reply = self.reply().map(Some);
            Box::pin(async move { reply })
        } else {
            *self.ended.borrow_mut() = Some(Some("consent_declined".to_string()));
            Box::pin(async move { Ok(None) })
        }
    }

    fn end_session(&self, reason: &Reason) {
        self.calls
            .borrow_mut()
            .push(format!("logout:{}", reason.wire_name()));
    }

    /// Like the reference server, refuses registration (`403`) while consent is pending.
    fn register_tab(&self, tab: &TabRegistration) -> LocalFuture<Result<(), BrowserError>> {
        let failing = self.failing_registrations.get();
        if failing > 0 {
            self.failing_registrations.set(failing - 1);
            self.calls
                .borrow_mut()
                .push(format!("tab-lost:{}", tab.tab_id));
            return Box::pin(async { Err(BrowserError::Network("scripted blip")) });
        }
        if self.spec.borrow().consent == ConsentState::Pending {
            self.calls
                .borrow_mut()
                .push(format!("tab-refused:{}", tab.tab_id));
            return Box::pin(async { Err(BrowserError::Status(403)) });
        }
        self.calls.borrow_mut().push(format!(
            "tab:{}:{}",
            tab.tab_id,
            tab.opener_tab_id.clone().unwrap_or_default()
        ));
        Box::pin(async { Ok(()) })
    }

    fn close_tab(&self, tab_id: &str) {
        self.calls.borrow_mut().push(format!("tab-closed:{tab_id}"));
    }

    /// Like the reference server: chunks of a tab are stored in seq order, a repeat of
    /// stored bytes is a success, a gap or other bytes under a stored seq is `409`.
    fn upload_chunk(
        &self,
        tab_id: &str,
        seq: u32,
        chunk: String,
        _keepalive: bool,
    ) -> LocalFuture<Result<(), BrowserError>> {
        if self.refusing_chunks.get() || self.unreachable.get() {
            return Box::pin(async { Err(BrowserError::Network("scripted outage")) });
        }
        let mut chunks = self.chunks.borrow_mut();
        let stored: Vec<&(String, u32, String)> =
            chunks.iter().filter(|(tab, ..)| tab == tab_id).collect();
        // As the real server: the next seq is stored, a repeat of stored bytes is a
        // success, a gap or other bytes under a stored seq is `409` naming the next seq.
        let next_seq = u32::try_from(stored.len()).expect("fewer than 2^32 chunks");
        let result = match stored.iter().find(|(_, s, _)| *s == seq) {
            Some((.., body)) if *body == chunk => Ok(()),
            None if seq == next_seq => {
                chunks.push((tab_id.to_owned(), seq, chunk));
                Ok(())
            }
            Some(_) | None => Err(BrowserError::OutOfSequence(next_seq)),
        };
        Box::pin(async move { result })
    }

    fn name_tab(&self, tab_id: &str) {
        *self.named_tab.borrow_mut() = Some(tab_id.to_owned());
    }

    fn events_url(&self) -> Option<String> {
        let url = self.events.borrow().clone();
        if url.is_some() {
            self.calls.borrow_mut().push("events".to_string());
        }
        url
    }
}
