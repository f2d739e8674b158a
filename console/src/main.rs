//! The demo "Secure Access Console": a small privileged web console that embeds the guard.
//! trunk builds it for the browser (`cargo xtask demo`); natively it only points there.

#[cfg(target_arch = "wasm32")]
mod demo;
// Plain Rust, so that its tests run natively too.
#[cfg(any(target_arch = "wasm32", test))]
mod replay_safety;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(demo::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The console is a WebAssembly app: run `cargo xtask demo` to build and serve it.");
    std::process::exit(2);
}
