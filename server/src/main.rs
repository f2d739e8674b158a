//! `session-guard-server`: parses the configuration, opens the database and serves the
//! contract's API (and optionally the built console) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use session_guard_server::{app_with_static, AppState, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let state = match AppState::new(&config).await {
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
    tokio::spawn(purge_hourly(state.clone()));
    let shutdown_state = state.clone();
    let shutdown = async move {
        stop_signal().await;
        eprintln!("session-guard-server: shutting down");
        // Open event streams would otherwise hold graceful shutdown forever.
        shutdown_state.close_streams();
    };
    // The peer address is what the audit log and the sign-in throttle see (unless
    // `--trust-proxy` says to read it from `X-Forwarded-For`).
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("session-guard-server: {e}");
        return ExitCode::FAILURE;
    }
    // The last requests of recorded sessions are still on their way to the store.
    state.flush_request_log().await;
    ExitCode::SUCCESS
}

/// Ctrl-C (SIGINT) or SIGTERM, whichever comes first: a container stop or `systemctl
/// stop` must end the server as cleanly as Ctrl-C. A handler that cannot be installed
/// leaves the other one (or running until killed).
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Applies `--audit-retention` and `--recording-retention` at start-up and then every hour.
async fn purge_hourly(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = state.purge_expired().await {
            eprintln!("session-guard-server: retention purge failed: {e:?}");
        }
    }
}
