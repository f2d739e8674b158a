//! Reading untrusted JSON (server answers, server-sent events, cross-tab messages) with the
//! browser's own `JSON.parse`, instead of a JSON parser compiled into the guard.
//!
//! Each reader fills the contract's raw shape field by field with explicit type checks
//! (the rules of the serde derives: a required field must be present with its type, an
//! optional one may be absent or `null`, unknown fields are ignored, integers must be
//! whole numbers) and then hands it to the same validation the native code uses:
//! [`SessionView`]'s `TryFrom<RawSessionView>` and the core's checks of
//! [`PeerFields`]. Failures carry no text: the callers ignore what they cannot read.
//! Two differences from serde_json, neither of which admits a value the validation would
//! refuse: of a duplicated key `JSON.parse` keeps the last, and an integer may be written
//! as `1.0` or `1e3` (integers beyond 2^53, which serde_json would take, are refused).

use std::borrow::Cow;

use js_sys::{Array, Object, Reflect, JSON};
use session_guard_contract::api::{TabEndedEvent, TerminatedEvent};
use session_guard_contract::view::{RawSessionView, MAX_VIEW_BYTES};
use session_guard_contract::{ConsentState, DurationMs, RecordingView, ServerTime, UserView};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::{CoreError, PeerFields, Reason, SessionView};

/// A value was missing, of the wrong type, or the text was not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

type Read<T> = Result<T, Unreadable>;

/// One parsed JSON object (never an array or `null`).
#[derive(Debug)]
pub struct JsonObject(Object);

impl JsonObject {
    /// Parses `text`; anything but a JSON object is [`Unreadable`].
    pub fn parse(text: &str) -> Read<JsonObject> {
        Self::from_value(JSON::parse(text).map_err(|_| Unreadable)?)
    }

    fn from_value(value: JsValue) -> Read<JsonObject> {
        if !value.is_object() || Array::is_array(&value) {
            return Err(Unreadable);
        }
        Ok(JsonObject(value.unchecked_into()))
    }

    /// The field's value, `None` when it is absent or `null`. Only the object's own
    /// properties count: whatever a page put on `Object.prototype` is never read.
    fn field(&self, key: &str) -> Option<JsValue> {
        let key = JsValue::from_str(key);
        if !Object::has_own(&self.0, &key) {
            return None;
        }
        Reflect::get(&self.0, &key)
            .ok()
            .filter(|value| !value.is_null() && !value.is_undefined())
    }

    /// A required field.
    fn required<T>(&self, key: &str, read: impl FnOnce(JsValue) -> Read<T>) -> Read<T> {
        self.field(key).ok_or(Unreadable).and_then(read)
    }

    /// An optional field: absent or `null` is `None`, the wrong type is [`Unreadable`].
    fn optional<T>(&self, key: &str, read: impl FnOnce(JsValue) -> Read<T>) -> Read<Option<T>> {
        self.field(key).map(read).transpose()
    }

    /// A required string field.
    pub fn string(&self, key: &str) -> Read<String> {
        self.required(key, string)
    }

    fn optional_string(&self, key: &str) -> Read<Option<String>> {
        self.optional(key, string)
    }

    fn int(&self, key: &str) -> Read<i64> {
        self.required(key, int)
    }

    /// A required number (any finite JSON number).
    pub fn number(&self, key: &str) -> Read<f64> {
        self.required(key, |value| value.as_f64().ok_or(Unreadable))
    }

    fn bool(&self, key: &str) -> Read<bool> {
        self.required(key, boolean)
    }

    fn object(&self, key: &str) -> Read<JsonObject> {
        self.required(key, JsonObject::from_value)
    }
}

fn string(value: JsValue) -> Read<String> {
    value.as_string().ok_or(Unreadable)
}

fn boolean(value: JsValue) -> Read<bool> {
    value.as_bool().ok_or(Unreadable)
}

/// Largest whole number `f64` holds exactly, with every smaller one (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A whole number that `f64` holds exactly (what `Number.isSafeInteger` accepts), checked
/// here rather than by one more browser call.
fn int(value: JsValue) -> Read<i64> {
    let n = value.as_f64().ok_or(Unreadable)?;
    // NaN and the infinities have no zero fraction; JSON has neither anyway.
    if n.fract() != 0.0 || n.abs() > MAX_SAFE_INTEGER {
        return Err(Unreadable);
    }
    Ok(n as i64)
}

/// The elements of `array`, read by index (the binding the page's views use as well).
fn elements(array: &Array) -> impl Iterator<Item = JsValue> + '_ {
    (0..array.length()).map(|index| array.get(index))
}

/// Parses `text` as a JSON array of objects; `None` when it is anything else or any element
/// is not an object.
pub fn objects(text: &str) -> Option<Vec<JsonObject>> {
    let array = JSON::parse(text).ok()?.dyn_into::<Array>().ok()?;
    let mut objects = Vec::new();
    for value in elements(&array) {
        objects.push(JsonObject::from_value(value).ok()?);
    }
    Some(objects)
}

/// Reads and validates a session view (contract "Session view"): the size limit, then
/// [`RawSessionView`] through `JSON.parse`, then the contract's `TryFrom`.
pub fn session_view(text: &str) -> Option<SessionView> {
    if text.len() > MAX_VIEW_BYTES {
        return None;
    }
    let raw = raw_session_view(&JsonObject::parse(text).ok()?).ok()?;
    SessionView::try_from(raw).ok()
}

fn raw_session_view(view: &JsonObject) -> Read<RawSessionView> {
    let user = view.object("user")?;
    let recording = view.object("recording")?;
    let scopes = view.required("scopes", |value| {
        let scopes = value.dyn_into::<Array>().map_err(|_| Unreadable)?;
        let mut read = Vec::new();
        for scope in elements(&scopes) {
            read.push(string(scope)?);
        }
        Ok(read)
    })?;
    let time = |key| view.int(key).map(ServerTime::from_millis);
    let duration = |key| view.int(key).map(DurationMs::from_millis);
    Ok(RawSessionView {
        session_id: view.string("session_id")?,
        user: UserView {
            id: user.int("id")?,
            username: user.string("username")?,
            display_name: user.string("display_name")?,
        },
        privileged: view.bool("privileged")?,
        scopes,
        issued_at: time("issued_at")?,
        expires_at: time("expires_at")?,
        idle_timeout_ms: view
            .optional("idle_timeout_ms", int)?
            .map(DurationMs::from_millis),
        warning_lead_ms: duration("warning_lead_ms")?,
        keepalive_interval_ms: duration("keepalive_interval_ms")?,
        last_activity_at: time("last_activity_at")?,
        recording: RecordingView {
            required: recording.bool("required")?,
            consent: ConsentState::from_wire(&recording.string("consent")?).ok_or(Unreadable)?,
        },
        server_time: time("server_time")?,
    })
}

/// The `reason` of an error body (`ErrorReason`): `None` when it is absent, `null`, not a
/// string, or the text is no JSON object.
pub fn error_reason(text: &str) -> Option<Reason> {
    let body = JsonObject::parse(text).ok()?;
    Some(Reason::from_wire(&body.optional_string("reason").ok()??))
}

/// The `next_seq` of a `409` to a recording chunk (`ErrorBody::next_seq`): `None` when the
/// text is no JSON object or the field is absent, `null`, or not a whole number a `u32`
/// holds.
pub fn error_next_seq(text: &str) -> Option<u32> {
    let body = JsonObject::parse(text).ok()?;
    u32::try_from(body.optional("next_seq", int).ok()??).ok()
}

/// The data of `event: terminated`.
pub fn terminated_event(text: &str) -> Option<TerminatedEvent> {
    let reason = JsonObject::parse(text).ok()?.string("reason").ok()?;
    Some(TerminatedEvent {
        reason: Reason::from_wire(&reason),
    })
}

/// The data of `event: tab_ended` (the tab id is checked by the caller).
pub fn tab_ended_event(text: &str) -> Option<TabEndedEvent> {
    let tab_id = JsonObject::parse(text).ok()?.string("tab_id").ok()?;
    Some(TabEndedEvent { tab_id })
}

/// Reads a cross-tab message's fields for the core's checks (the reader
/// [`Engine::handle_peer_with`](crate::core::Engine::handle_peer_with) takes).
pub fn peer_fields<'a>(text: &'a str) -> Result<PeerFields<'a>, CoreError> {
    let rejected = |_| CoreError::PeerRejected("unreadable message");
    let message = JsonObject::parse(text).map_err(rejected)?;
    let owned = |text: String| Cow::Owned(text);
    let read = || -> Read<PeerFields<'a>> {
        Ok(PeerFields {
            v: u32::try_from(message.int("v")?).map_err(|_| Unreadable)?,
            session_id: owned(message.string("session_id")?),
            tab_id: owned(message.string("tab_id")?),
            kind: owned(message.string("type")?),
            at: message.optional("at", int)?.map(ServerTime::from_millis),
            reason: message.optional_string("reason")?.map(owned),
            accepted: message.optional("accepted", boolean)?,
            reachable: message.optional("reachable", boolean)?,
            target_tab_id: message.optional_string("target_tab_id")?.map(owned),
        })
    };
    read().map_err(rejected)
}
