//! The DOM properties and methods the guard's own parts use beyond what a Leptos page
//! already imports, reached by name.
//!
//! Why not web-sys for these: every distinct web-sys method or property is its own
//! wasm-bindgen import (a JS shim, and its hashed name once in the JS glue and once in the
//! wasm), about 45 B gzip each, and the renderer needed some twenty of them (focus,
//! `activeElement`, `contains`, `isConnected`, `querySelector`, `closest`, `textContent`,
//! `key`, `shiftKey`, `preventDefault`, ...). `Reflect.get`, `Reflect.set` and
//! `Function.prototype.call` are imported by every Leptos page already (tachys uses them),
//! so going through them costs the page nothing. Only names and arguments fixed in this
//! crate go through here, never outside input; a missing property reads as `undefined` and a
//! missing method does nothing, so nothing here can throw into the guard.

use wasm_bindgen::{JsCast, JsValue};

/// `target[name]`, `undefined` when there is none (or `target` is not an object).
pub(super) fn get(target: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[name] = value`.
pub(super) fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(name), value);
}

/// `target[method](arg)`, `undefined` when there is no such method or it throws.
pub(super) fn call(target: &JsValue, method: &str, arg: &JsValue) -> JsValue {
    let method = get(target, method);
    if !method.is_function() {
        return JsValue::UNDEFINED;
    }
    method
        .unchecked_into::<js_sys::Function>()
        .call1(target, arg)
        .unwrap_or(JsValue::UNDEFINED)
}

/// `target.textContent = text`: text only ever goes into the page as text.
pub(super) fn set_text(target: &JsValue, text: &str) {
    set(target, "textContent", &JsValue::from_str(text));
}

/// The page's focused element (`document.activeElement`), `undefined` without a document.
pub(super) fn active_element() -> JsValue {
    web_sys::window()
        .and_then(|w| w.document())
        .map_or(JsValue::UNDEFINED, |d| get(&d, "activeElement"))
}

/// Moves the focus to `target`, if it can take it.
pub(super) fn focus(target: &JsValue) {
    call(target, "focus", &JsValue::UNDEFINED);
}

/// The first element inside `target` that matches `selector` (`null` if none).
pub(super) fn query(target: &JsValue, selector: &str) -> JsValue {
    call(target, "querySelector", &JsValue::from_str(selector))
}
