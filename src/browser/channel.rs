//! The cross-tab channel: BroadcastChannel, or `localStorage` `storage` events where
//! BroadcastChannel is missing.

use std::rc::Rc;

use session_guard_contract::json::ObjectWriter;
use wasm_bindgen::{JsCast, JsValue};

use super::json::JsonObject;
use super::{dom, BrowserError, EventListener};

/// Longest message relayed to the engine; the protocol's own messages are far shorter.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Which transport to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelKind {
    /// BroadcastChannel where the browser has it, else the storage fallback.
    #[default]
    Auto,
    /// Always the `localStorage` fallback (tests, and browsers without BroadcastChannel).
    // Only the test suites choose it by name (`test-support`); `Auto` falls back to the
    // same transport by itself.
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))]
    Storage,
}

/// The storage fallback's envelope `{"nonce", "msg"}`: the nonce makes every write a
/// change, so two identical messages in a row both fire a `storage` event.
fn envelope(message: &str) -> String {
    ObjectWriter::new()
        .string("nonce", &random_id())
        .string("msg", message)
        .finish()
}

/// The message of an envelope, `None` unless both fields are strings.
fn envelope_message(text: &str) -> Option<String> {
    let envelope = JsonObject::parse(text).ok()?;
    envelope.string("nonce").ok()?;
    envelope.string("msg").ok()
}

/// Listens for `event` on `target`: a BroadcastChannel's `message` (`storage_key` `None`)
/// or the window's `storage` for the fallback's key. One closure type for both transports.
fn listen(
    target: &web_sys::EventTarget,
    event: &'static str,
    storage_key: Option<String>,
    on_message: Rc<dyn Fn(String)>,
) -> Result<EventListener, BrowserError> {
    EventListener::new(
        target,
        event,
        Box::new(move |heard| {
            if let Some(message) = message_of(&heard, storage_key.as_deref()) {
                if message.len() <= MAX_MESSAGE_BYTES {
                    on_message(message);
                }
            }
        }),
    )
}

/// The message an event carries: a BroadcastChannel's `message` events are `MessageEvent`s,
/// whose data counts only as a string; the window's `storage` events are `StorageEvent`s,
/// which count only for `storage_key` with a new value (one a script dispatched without a
/// key or value has neither) holding a valid envelope.
fn message_of(heard: &web_sys::Event, storage_key: Option<&str>) -> Option<String> {
    let Some(storage_key) = storage_key else {
        return heard
            .unchecked_ref::<web_sys::MessageEvent>()
            .data()
            .as_string();
    };
    // `key` and `newValue` read by name (`dom`), as strings only: anything else, or an event
    // without them, counts as no message.
    if dom::get(heard, "key").as_string().as_deref() != Some(storage_key) {
        return None;
    }
    let value = dom::get(heard, "newValue").as_string()?;
    if value.len() > 2 * MAX_MESSAGE_BYTES {
        return None;
    }
    envelope_message(&value)
}

enum Transport {
    Broadcast {
        channel: web_sys::BroadcastChannel,
        _listener: EventListener,
    },
    Storage {
        storage: JsValue,
        key: String,
        _listener: EventListener,
    },
}

/// One tab's end of the per-session channel; dropping it closes the channel.
#[must_use = "the channel closes when this handle is dropped"]
pub struct TabChannel {
    transport: Transport,
}

impl TabChannel {
    /// Opens `session-guard:{session_id}`; `on_message` receives every string another tab
    /// posts (never this tab's own), unvalidated: the engine validates.
    pub fn open(
        session_id: &str,
        kind: ChannelKind,
        on_message: Rc<dyn Fn(String)>,
    ) -> Result<Self, BrowserError> {
        let mut name = String::from("session-guard:");
        name.push_str(session_id);
        let window = super::window()?;
        let has_broadcast = !dom::get(&window, "BroadcastChannel").is_undefined();
        let transport = if kind == ChannelKind::Auto && has_broadcast {
            let channel = web_sys::BroadcastChannel::new(&name).map_err(BrowserError::from_js)?;
            let listener = listen(&channel, "message", None, on_message)?;
            Transport::Broadcast {
                channel,
                _listener: listener,
            }
        } else {
            let storage =
                dom::storage("localStorage").ok_or(BrowserError::Js("localStorage unavailable"))?;
            // WebKit delivers `storage` events to a document only once that document has
            // read or written its storage area itself; obtaining `window.localStorage` is
            // not enough. Reading the channel's own key is the cheapest use (through the
            // binding every write reads with), so a tab that only listens still hears every
            // other tab.
            dom::storage_get(&storage, &name);
            let listener = listen(&window, "storage", Some(name.clone()), on_message)?;
            let key = name;
            Transport::Storage {
                storage,
                key,
                _listener: listener,
            }
        };
        Ok(TabChannel { transport })
    }

    /// Which transport this channel ended up using.
    #[cfg(feature = "test-support")]
    pub fn kind(&self) -> ChannelKind {
        match self.transport {
            Transport::Broadcast { .. } => ChannelKind::Auto,
            Transport::Storage { .. } => ChannelKind::Storage,
        }
    }

    /// Sends `message` to every other tab of the session.
    pub fn post(&self, message: &str) -> Result<(), BrowserError> {
        match &self.transport {
            Transport::Broadcast { channel, .. } => channel
                .post_message(&JsValue::from_str(message))
                .map_err(BrowserError::from_js),
            Transport::Storage { storage, key, .. } => {
                dom::storage_set(storage, key, &envelope(message)).map_err(BrowserError::from_js)
            }
        }
    }
}

impl Drop for TabChannel {
    fn drop(&mut self) {
        match &self.transport {
            // The listener is removed right after, as the fields drop.
            Transport::Broadcast { channel, .. } => {
                dom::call(channel, "close", &JsValue::UNDEFINED);
            }
            Transport::Storage { storage, key, .. } => {
                // Not strictly needed, but leaves no session traces in localStorage.
                dom::storage_remove(storage, key);
            }
        }
    }
}

/// A random 128-bit identifier in hex, from `crypto.getRandomValues`, falling back to
/// `Math.random` where crypto is unavailable (identifiers, not secrets).
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok())
        .unwrap_or(false);
    if !filled {
        for byte in bytes.iter_mut() {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for byte in bytes {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    id
}
