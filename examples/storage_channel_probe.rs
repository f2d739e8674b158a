//! A page with nothing but one storage-fallback [`TabChannel`], for the end-to-end test that
//! passes real `storage` events between real browser tabs in every engine
//! (`e2e/webdriver/tests/storage-channel.test.js`).
//!
//! The page reads the session id from its URL fragment and opens the channel, touching
//! `localStorage` no further: what it receives lands in `window.probeReceived` (an array of
//! strings) and `window.probePost(text)` posts. The title says `probe ready` or why not.
//! `cargo xtask test` builds it with wasm-bindgen into `target/storage-channel-probe/`.

#[cfg(target_arch = "wasm32")]
fn main() {
    let title = match probe::start() {
        Ok(()) => "probe ready".to_string(),
        Err(error) => format!("probe failed: {error}"),
    };
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(&title);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("storage_channel_probe is a browser page: build it for wasm32-unknown-unknown");
}

#[cfg(target_arch = "wasm32")]
mod probe {
    use std::rc::Rc;

    use session_guard::browser::{ChannelKind, TabChannel};
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsValue;

    /// Opens the channel named by the URL fragment and publishes the page's two handles.
    pub fn start() -> Result<(), String> {
        let window = web_sys::window().ok_or("no window")?;
        let session = window
            .location()
            .hash()
            .map_err(|_| "no location")?
            .trim_start_matches('#')
            .to_string();
        if session.is_empty() {
            return Err("no session id in the URL fragment".to_string());
        }
        let received = js_sys::Array::new();
        publish(&window, "probeReceived", &received)?;
        let sink = received.clone();
        let channel = TabChannel::open(
            &session,
            ChannelKind::Storage,
            Rc::new(move |message: String| {
                sink.push(&JsValue::from_str(&message));
            }),
        )
        .map_err(|e| e.to_string())?;
        let post =
            Closure::<dyn Fn(String) -> bool>::new(move |text: String| channel.post(&text).is_ok());
        publish(&window, "probePost", post.as_ref())?;
        // The channel lives as long as the page.
        post.forget();
        Ok(())
    }

    fn publish(window: &web_sys::Window, name: &str, value: &JsValue) -> Result<(), String> {
        js_sys::Reflect::set(window, &JsValue::from_str(name), value)
            .map(|_| ())
            .map_err(|_| format!("could not set window.{name}"))
    }
}
