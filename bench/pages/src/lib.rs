//! The pages that `cargo xtask bench` measures the guard's own cost with.
//!
//! Both pages show the same content: a heading, a counter button and a sign-out button.
//! `bench-guarded` wraps it in `<SessionGuard>`; `bench-plain` does not. The difference in
//! bytes and in time per activity event between the two is what the guard adds to a Leptos
//! page. The pages are WebAssembly apps; natively the binaries only say so.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod page {
    use leptos::prelude::*;
    use session_guard::ui::{SessionGuard, UseSessionGuardOptions};

    /// What both pages show. `on_sign_out` is the guarded page's logout; the plain page
    /// passes a no-op so that both pages carry the same markup and handlers.
    #[component]
    pub fn Content(
        /// Runs when "Sign out" is clicked.
        on_sign_out: Callback<()>,
    ) -> impl IntoView {
        let clicks = RwSignal::new(0u32);
        view! {
            <main class="bench-page">
                <h1>"Bench page"</h1>
                <p>"A minimal page: the same markup with and without the session guard."</p>
                <button id="count" type="button" on:click=move |_| clicks.update(|n| *n += 1)>
                    "Clicked " {move || clicks.get()} " times"
                </button>
                <button id="sign-out" type="button" on:click=move |_| on_sign_out.run(())>
                    "Sign out"
                </button>
            </main>
        }
    }

    /// The page without the guard.
    #[component]
    pub fn PlainPage() -> impl IntoView {
        view! { <Content on_sign_out=Callback::new(|()| {}) /> }
    }

    /// The same page inside `<SessionGuard>`, with sign-out wired to the guard.
    #[component]
    pub fn GuardedPage() -> impl IntoView {
        view! {
            <SessionGuard options=UseSessionGuardOptions::default().login_path("/login")>
                <GuardedContent />
            </SessionGuard>
        }
    }

    /// The shared content, reading the guard's logout from its context.
    #[component]
    fn GuardedContent() -> impl IntoView {
        let session = session_guard::ui::use_session();
        view! { <Content on_sign_out=session.logout /> }
    }
}

#[cfg(target_arch = "wasm32")]
pub use page::{Content, GuardedPage, PlainPage};

/// Shown when a page binary is run natively.
pub const NATIVE_NOTICE: &str =
    "The bench pages are WebAssembly apps: `cargo xtask bench` builds them with trunk and measures them.";
