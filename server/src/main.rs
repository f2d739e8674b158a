//! `session-guard-server`: parses the configuration, opens the database and serves the
//! contract's API (and optionally the built console) until Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use session_guard_server::{app_with_static, AppState, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let state = match AppState::new(&config) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("session-guard-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "session-guard-server: cannot listen on {}: {e}",
                config.addr
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(config.addr);
    println!("session-guard-server listening on http://{addr}");
    let router = app_with_static(state.clone(), config.static_dir.as_deref());
    let shutdown_state = state.clone();
    let shutdown = async move {
        // If the signal handler cannot be installed, run until killed instead.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        eprintln!("session-guard-server: shutting down");
        // Open event streams would otherwise hold graceful shutdown forever.
        shutdown_state.close_streams();
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("session-guard-server: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
