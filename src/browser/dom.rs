//! The DOM properties and methods the guard's adapters and its own parts use beyond what
//! a Leptos page already imports, reached by name.
//!
//! Why not web-sys for these: every distinct web-sys method or property is its own
//! wasm-bindgen import (a JS shim, and its hashed name once in the JS glue and once in the
//! wasm), about 45 B gzip each, and the renderer, the link-click reader, the storage
//! areas and the options objects needed some thirty of them (focus, `activeElement`,
//! `contains`, `isConnected`, `querySelector`, `closest`, `textContent`, `key`,
//! `shiftKey`, `preventDefault`, `getItem`, ...). `Reflect.get`, `Reflect.set` and
//! `Function.prototype.call` are imported by every Leptos page already (tachys uses them),
//! so going through them costs the page nothing. Only names and arguments fixed in this
//! crate go through here, never outside input; a missing property reads as `undefined` and a
//! missing method does nothing, so nothing here can throw into the guard.

use wasm_bindgen::{JsCast, JsValue};

/// `target[name]`, `undefined` when there is none (or `target` is not an object).
pub(crate) fn get(target: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[name] = value`.
pub(crate) fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(name), value);
}

/// `target[method](arg)`, `undefined` when there is no such method or it throws.
pub(crate) fn call(target: &JsValue, method: &str, arg: &JsValue) -> JsValue {
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
pub(crate) fn set_text(target: &JsValue, text: &str) {
    set(target, "textContent", &JsValue::from_str(text));
}

/// The page's focused element (`document.activeElement`), `undefined` without a document.
pub(crate) fn active_element() -> JsValue {
    web_sys::window()
        .and_then(|w| w.document())
        .map_or(JsValue::UNDEFINED, |d| get(&d, "activeElement"))
}

/// Moves the focus to `target`, if it can take it.
pub(crate) fn focus(target: &JsValue) {
    call(target, "focus", &JsValue::UNDEFINED);
}

/// The first element inside `target` that matches `selector` (`null` if none).
pub(crate) fn query(target: &JsValue, selector: &str) -> JsValue {
    call(target, "querySelector", &JsValue::from_str(selector))
}

/// The string `target[name]`, empty when it is none (a URL's `pathname`, `search`, `hash`
/// or `origin`, which are always strings).
pub(crate) fn text(target: &JsValue, name: &str) -> String {
    get(target, name).as_string().unwrap_or_default()
}

/// One of the page's storage areas (`"localStorage"` or `"sessionStorage"`), `None` where
/// the page has none (a sandboxed frame's getter throws, which reads as none).
pub(crate) fn storage(area: &str) -> Option<JsValue> {
    let storage = get(web_sys::window()?.as_ref(), area);
    storage.is_object().then_some(storage)
}

/// `storage.getItem(key)`, `None` when there is no such item or the storage refuses.
pub(crate) fn storage_get(storage: &JsValue, key: &str) -> Option<String> {
    call(storage, "getItem", &JsValue::from_str(key)).as_string()
}

/// `storage[key] = value`, which a storage area carries out as `setItem(key, value)` (its
/// named property setter; the guard's keys are none of `Storage`'s own members), through
/// the one `Reflect.set` binding; `Err` with what it threw (a full storage area).
pub(crate) fn storage_set(storage: &JsValue, key: &str, value: &str) -> Result<(), JsValue> {
    js_sys::Reflect::set(storage, &JsValue::from_str(key), &JsValue::from_str(value)).map(drop)
}

/// `storage.removeItem(key)`.
pub(crate) fn storage_remove(storage: &JsValue, key: &str) {
    call(storage, "removeItem", &JsValue::from_str(key));
}
