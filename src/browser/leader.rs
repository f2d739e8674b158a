//! Leader election with the Web Locks API: the tab holding the lock sends keepalives.
//!
//! A tab that stops running keeps its lock, so the engine may ask another tab to take the
//! lock over (`steal`); the tab it was taken from learns so when it runs again, from the
//! rejected request, and queues again as a follower.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::BrowserError;

/// A request for the session's leader lock; dropping it releases the lock (or withdraws
/// the queued request's effect). The browser releases it too when the tab closes or
/// crashes, so the next tab in the queue takes over at once.
#[must_use = "the lock is released (or the request withdrawn) when this handle is dropped"]
pub struct LeaderLock {
    release: Rc<Cell<Option<js_sys::Function>>>,
    released: Rc<Cell<bool>>,
    /// Withdraws a request still in the queue on drop, so the browser never grants it to
    /// a callback that is gone. `None` for a steal, which the Web Locks API forbids to
    /// combine with a signal (a steal is granted at once anyway).
    withdraw: Option<web_sys::AbortController>,
    _granted: Closure<dyn FnMut(JsValue) -> js_sys::Promise>,
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
        let window = super::window()?;
        let locks = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("locks"))
            .map_err(BrowserError::from_js)?;
        let request: js_sys::Function = js_sys::Reflect::get(&locks, &JsValue::from_str("request"))
            .map_err(BrowserError::from_js)?
            .dyn_into()
            .map_err(|_| BrowserError::Js("navigator.locks.request missing"))?;
        // Cells, not `RefCell`s: nothing here is borrowed across a call, so there is no
        // borrow to fail (and no panic path for it).
        let release: Rc<Cell<Option<js_sys::Function>>> = Rc::default();
        let released = Rc::new(Cell::new(false));
        let granted = {
            let release = release.clone();
            let released = released.clone();
            Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |_lock: JsValue| {
                // The lock is held until this promise settles: keep its resolve function
                // and settle it on drop.
                let mut resolve_slot = None;
                let promise = js_sys::Promise::new(&mut |resolve, _reject| {
                    resolve_slot = Some(resolve);
                });
                if released.get() {
                    if let Some(resolve) = resolve_slot {
                        super::call(&resolve);
                    }
                } else {
                    release.set(resolve_slot);
                    on_granted();
                }
                promise
            })
        };
        let mut name = String::from("session-guard:");
        name.push_str(session_id);
        name.push_str(":leader");
        let name = JsValue::from_str(&name);
        let options = js_sys::Object::new();
        js_sys::Reflect::set(
            &options,
            &JsValue::from_str("steal"),
            &JsValue::from_bool(steal),
        )
        .map_err(BrowserError::from_js)?;
        let withdraw = if steal {
            None
        } else {
            let controller = web_sys::AbortController::new().map_err(BrowserError::from_js)?;
            js_sys::Reflect::set(&options, &JsValue::from_str("signal"), &controller.signal())
                .map_err(BrowserError::from_js)?;
            Some(controller)
        };
        let pending = request
            .call3(&locks, &name, &options, granted.as_ref())
            .map_err(BrowserError::from_js)?;
        // The request's promise rejects with `AbortError` when another tab steals the lock
        // (and when the page goes away mid-request, when nobody listens any more). The
        // closure must outlive this handle: the promise may settle after the drop.
        if let Ok(pending) = pending.dyn_into::<js_sys::Promise>() {
            let released = released.clone();
            let lost = Closure::<dyn FnMut(JsValue)>::new(move |error: JsValue| {
                // Only a steal (`AbortError`) means another tab leads now; any other failure
                // (no lock manager in this context) would fail again at once if re-queued.
                let name = js_sys::Reflect::get(&error, &JsValue::from_str("name"))
                    .ok()
                    .and_then(|n| n.as_string());
                if !released.get() && name.as_deref() == Some("AbortError") {
                    on_lost();
                }
            });
            let _ = pending.catch(&lost);
            lost.forget();
        }
        Ok(LeaderLock {
            release,
            released,
            withdraw,
            _granted: granted,
        })
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        self.released.set(true);
        if let Some(withdraw) = &self.withdraw {
            // No effect once granted; a queued request is taken out of the queue.
            withdraw.abort();
        }
        if let Some(resolve) = self.release.take() {
            super::call(&resolve);
        }
    }
}
