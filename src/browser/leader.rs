//! Leader election with the Web Locks API: the tab holding the lock sends keepalives.
//!
//! A tab that stops running keeps its lock, so the engine may ask another tab to take the
//! lock over (`steal`); the tab it was taken from learns so when it runs again, from the
//! rejected request, and queues again as a follower.

use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use super::BrowserError;

// The lock request in JavaScript: the Web Locks API is promise- and callback-shaped, and
// written here the page carries no Rust closures, promise bindings or `Function.call`
// with three arguments for it. Every call into Rust is checked against `released` first,
// so a grant or a rejection that comes after the handle was dropped reaches nothing.
// The returned function drops the request: it withdraws a queued request (the signal;
// a steal takes none, the Web Locks API forbids combining the two, and is granted at once
// anyway) and releases a held lock (the grant callback's promise settles).
#[wasm_bindgen(inline_js = r#"
export function request_leader_lock(name, steal, onGranted, onLost) {
  let released = false;
  let release = null;
  const withdraw = steal ? null : new AbortController();
  const options = withdraw ? { steal, signal: withdraw.signal } : { steal };
  navigator.locks
    .request(name, options, () => {
      if (released) return undefined;
      onGranted();
      // The lock is held until this promise settles.
      return new Promise((resolve) => {
        release = resolve;
      });
    })
    .catch((error) => {
      // Only a steal (`AbortError`) means another tab leads now; any other failure (no
      // lock manager in this context) would fail again at once if re-queued.
      if (!released && error && error.name === 'AbortError') onLost();
    });
  return () => {
    released = true;
    if (withdraw) withdraw.abort();
    if (release) release();
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn request_leader_lock(
        name: &str,
        steal: bool,
        on_granted: &js_sys::Function,
        on_lost: &js_sys::Function,
    ) -> Result<js_sys::Function, JsValue>;
}

/// A request for the session's leader lock; dropping it releases the lock (or withdraws
/// the queued request's effect). The browser releases it too when the tab closes or
/// crashes, so the next tab in the queue takes over at once.
#[must_use = "the lock is released (or the request withdrawn) when this handle is dropped"]
pub struct LeaderLock {
    /// Releases the lock or withdraws the request (see `request_leader_lock`).
    drop_request: js_sys::Function,
    _on_granted: Closure<dyn FnMut()>,
    _on_lost: Closure<dyn FnMut()>,
}

impl LeaderLock {
    /// Whether this browser has `navigator.locks`.
    pub fn supported() -> bool {
        web_sys::window()
            .map(|w| {
                js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("locks"))
                    .map(|locks| !locks.is_undefined() && !locks.is_null())
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    /// Queues for the lock `session-guard:{session_id}:leader`, or with `steal` takes it from
    /// whichever tab holds it; `on_granted` runs when this tab becomes the leader, `on_lost`
    /// when another tab took the lock from this one (a steal) before this handle was
    /// dropped.
    pub fn request(
        session_id: &str,
        steal: bool,
        on_granted: Rc<dyn Fn()>,
        on_lost: Rc<dyn Fn()>,
    ) -> Result<Self, BrowserError> {
        let on_granted = super::js_callback(on_granted);
        let on_lost = super::js_callback(on_lost);
        let mut name = String::from("session-guard:");
        name.push_str(session_id);
        name.push_str(":leader");
        let drop_request = request_leader_lock(
            &name,
            steal,
            on_granted.as_ref().unchecked_ref(),
            on_lost.as_ref().unchecked_ref(),
        )
        .map_err(BrowserError::from_js)?;
        Ok(LeaderLock {
            drop_request,
            _on_granted: on_granted,
            _on_lost: on_lost,
        })
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        super::call(&self.drop_request);
    }
}
