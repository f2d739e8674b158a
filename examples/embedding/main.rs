//! The README's "Using the guard", compiled: `app.rs` is the README's code block verbatim
//! (`tests/readme_example.rs` checks that), and `cargo xtask test` builds this example for
//! wasm32, so the documented usage cannot drift from the API.
//!
//! Mounts the login page on `/login`, the hook-only layout on `/own-layout` and the guarded
//! app everywhere else.

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    match path.as_str() {
        "/login" => leptos::mount::mount_to_body(app::LoginPage),
        "/own-layout" => leptos::mount::mount_to_body(app::OwnLayout),
        _ => leptos::mount::mount_to_body(app::App),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("A WebAssembly app: build it with `cargo build --example embedding --target wasm32-unknown-unknown`.");
    std::process::exit(2);
}
