//! Leader election with the Web Locks API: the tab holding the lock sends keepalives.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::BrowserError;

/// A request for the session's leader lock; dropping it releases the lock (or withdraws
/// the queued request's effect). The browser releases it too when the tab closes or
/// crashes, so the next tab in the queue takes over at once.
pub struct LeaderLock {
    release: Rc<RefCell<Option<js_sys::Function>>>,
    released: Rc<RefCell<bool>>,
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

    /// Queues for the lock `session-guard:{session_id}:leader`; `on_granted` runs when this
    /// tab becomes the leader.
    pub fn request(session_id: &str, on_granted: Rc<dyn Fn()>) -> Result<Self, BrowserError> {
        let window = super::window()?;
        let locks = js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("locks"))
            .map_err(BrowserError::from_js)?;
        let request: js_sys::Function = js_sys::Reflect::get(&locks, &JsValue::from_str("request"))
            .map_err(BrowserError::from_js)?
            .dyn_into()
            .map_err(|_| BrowserError::Js("navigator.locks.request missing".to_string()))?;
        let release: Rc<RefCell<Option<js_sys::Function>>> = Rc::new(RefCell::new(None));
        let released = Rc::new(RefCell::new(false));
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
                if *released.borrow() {
                    if let Some(resolve) = resolve_slot {
                        let _ = resolve.call0(&JsValue::NULL);
                    }
                } else {
                    *release.borrow_mut() = resolve_slot;
                    on_granted();
                }
                promise
            })
        };
        let name = JsValue::from_str(&format!("session-guard:{session_id}:leader"));
        let pending = request
            .call2(&locks, &name, granted.as_ref())
            .map_err(BrowserError::from_js)?;
        // The request's promise rejects if the page goes away mid-request; nothing to do.
        if let Ok(pending) = pending.dyn_into::<js_sys::Promise>() {
            let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
            let _ = pending.catch(&ignore);
            ignore.forget();
        }
        Ok(LeaderLock {
            release,
            released,
            _granted: granted,
        })
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        *self.released.borrow_mut() = true;
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
}
