//! Pages of the demo console. Routing is by path with full page loads: every page load
//! starts the guard afresh from the server's view, as a console opened in a new tab would.

mod admin;
mod login;
mod pages;

use leptos::prelude::*;
use session_guard::ui::{SessionGuard, UseSessionGuardOptions};

/// The product name, last in every document title.
pub const PRODUCT: &str = "Secure Access Console";

/// The console's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The sign-in page.
    Login,
    /// Everyone's landing page.
    Dashboard,
    /// The Admin Console (one page; its sections are fragments).
    Admin,
    /// The player of one recorded tab (Admin Console › Remote sessions), a page of its
    /// own so that the server gives it its own Content-Security-Policy.
    Replay,
    /// Anything else.
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
        "/admin/replay" => Route::Replay,
        _ => Route::NotFound,
    }
}

/// The Admin Console section a URL fragment names, by its heading.
fn admin_section(hash: &str) -> Option<&'static str> {
    Some(match hash.trim_start_matches('#') {
        "sessions" => "Sessions",
        "emergency" => "Emergency",
        "users" => "Users",
        "roles" => "Roles",
        "groups" => "Groups",
        "audit" => "Audit log",
        "recordings" => "Remote sessions",
        _ => return None,
    })
}

/// The document title of a route (and, in the Admin Console, of the section in the URL
/// fragment), so that tabs can be told apart; the guard puts its recording prefix in front.
fn page_title(route: Route, hash: &str) -> String {
    let page = match route {
        Route::Login => "Sign in",
        Route::Dashboard => "Dashboard",
        Route::NotFound => "Not found",
        Route::Replay => "Replay · Admin Console",
        Route::Admin => match admin_section(hash) {
            Some(section) => return format!("{section} · Admin Console — {PRODUCT}"),
            None => "Admin Console",
        },
    };
    format!("{page} — {PRODUCT}")
}

/// Sets the document title for `route` and the current fragment.
fn apply_title(route: Route) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let hash = window.location().hash().unwrap_or_default();
    if let Some(document) = window.document() {
        document.set_title(&page_title(route, &hash));
    }
}

/// The whole console.
#[component]
pub fn App() -> impl IntoView {
    let page = route();
    apply_title(page);
    if page == Route::Admin {
        // Section links change only the fragment: the title follows.
        let listener = window_event_listener(leptos::ev::hashchange, move |_| apply_title(page));
        on_cleanup(move || listener.remove());
    }
    match page {
        Route::Login => view! { <login::LoginPage /> }.into_any(),
        page => view! {
            <SessionGuard options=UseSessionGuardOptions::default().login_path("/login") recording_badge=false>
                <pages::Shell route=page>
                    {match page {
                        Route::Admin => view! { <admin::AdminConsole /> }.into_any(),
                        Route::Replay => view! { <admin::ReplayPage /> }.into_any(),
                        Route::NotFound => view! { <pages::NotFound /> }.into_any(),
                        _ => view! { <pages::Dashboard /> }.into_any(),
                    }}
                </pages::Shell>
            </SessionGuard>
        }
        .into_any(),
    }
}
