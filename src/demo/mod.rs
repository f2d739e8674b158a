//! Pages of the demo console. Routing is by path with full page loads: every page load
//! starts the guard afresh from the server's view, as a console opened in a new tab would.

mod admin;
mod login;
mod pages;

use leptos::prelude::*;
use session_guard::ui::SessionGuard;

/// The console's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Login,
    Dashboard,
    Admin,
    NotFound,
}

fn route() -> Route {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    match path.trim_end_matches('/') {
        "/login" => Route::Login,
        "" | "/dashboard" => Route::Dashboard,
        "/admin" => Route::Admin,
        _ => Route::NotFound,
    }
}

/// The whole console.
#[component]
pub fn App() -> impl IntoView {
    match route() {
        Route::Login => view! { <login::LoginPage /> }.into_any(),
        page => view! {
            <SessionGuard login_path="/login">
                <pages::Shell>
                    {match page {
                        Route::Admin => view! { <admin::AdminConsole /> }.into_any(),
                        Route::NotFound => view! { <pages::NotFound /> }.into_any(),
                        _ => view! { <pages::Dashboard /> }.into_any(),
                    }}
                </pages::Shell>
            </SessionGuard>
        }
        .into_any(),
    }
}
