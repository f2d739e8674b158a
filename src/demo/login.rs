//! The login page: the logout notice, then the sign-in form.

use gloo_net::http::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use session_guard::ui::{login_return_path, LogoutNotice};
use session_guard_contract::api::{ErrorBody, LoginRequest};

/// Signs in and returns to where the user was, or says why not.
async fn sign_in(credentials: LoginRequest) -> Result<(), String> {
    let request = Request::post("/api/login")
        .json(&credentials)
        .map_err(|e| e.to_string())?;
    let response = request
        .send()
        .await
        .map_err(|_| "The server cannot be reached. Try again in a moment.".to_string())?;
    if response.ok() {
        let target = login_return_path(None);
        let target = if target == "/login" {
            "/".to_string()
        } else {
            target
        };
        if let Some(window) = web_sys::window() {
            let _ = window.location().assign(&target);
        }
        return Ok(());
    }
    let body = response.json::<ErrorBody>().await.ok();
    Err(body
        .map(|b| b.message)
        .filter(|m| m.len() < 300)
        .unwrap_or_else(|| "Sign-in failed.".to_string()))
}

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let credentials = LoginRequest {
            username: username.get_untracked(),
            password: password.get_untracked(),
        };
        spawn_local(async move {
            if let Err(message) = sign_in(credentials).await {
                error.set(Some(message));
                busy.set(false);
            }
        });
    };
    view! {
        <main class="login">
            <h1>"Secure Access Console"</h1>
            <LogoutNotice />
            <form class="login-form" on:submit=submit>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required bind:value=username />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                <Show when=move || error.get().is_some()>
                    <p class="form-error" role="alert">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <button type="submit" class="sg-primary" disabled=move || busy.get()>
                    "Sign in"
                </button>
            </form>
        </main>
    }
}
