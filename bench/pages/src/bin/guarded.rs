//! The bench page inside `<SessionGuard>` (trunk builds it from `guarded.html`).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(session_guard_bench_pages::GuardedPage);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("{}", session_guard_bench_pages::NATIVE_NOTICE);
    std::process::exit(2);
}
