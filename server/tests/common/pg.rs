//! PostgreSQL for the server tests: `SG_TEST_DATABASE_URL` names a database of a cluster
//! the tests may create databases in (`cargo xtask test` starts a throwaway one); every
//! test gets a fresh database of its own, so tests never see each other's rows or
//! notifications. A [`Proxy`] in front of the cluster lets a test take PostgreSQL away
//! and bring it back without disturbing the tests running beside it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::{Connection, Executor};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The variable naming the PostgreSQL database the tests start from.
pub const DATABASE_URL_VAR: &str = "SG_TEST_DATABASE_URL";

/// The PostgreSQL URL of this run, when the suite runs on PostgreSQL.
pub fn base_url() -> Option<String> {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
}

/// The PostgreSQL URL, for the tests that exist only on PostgreSQL (several instances):
/// they are `#[ignore]`d in the SQLite pass and fail loudly without it.
pub fn required_base_url() -> String {
    base_url().unwrap_or_else(|| {
        panic!("{DATABASE_URL_VAR} must name a PostgreSQL database (cargo xtask test sets it)")
    })
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(a, q)| (a, Some(q)));
    let (server, _) = before_query
        .rsplit_once('/')
        .expect("a PostgreSQL URL ends with /database");
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

/// `url` reaching the same database through `127.0.0.1:port` instead (a [`Proxy`]).
pub fn through_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database path");
    let credentials = authority
        .rsplit_once('@')
        .map(|(c, _)| format!("{c}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}127.0.0.1:{port}/{path}")
}

/// The host and port of `url`'s server.
fn server_addr(url: &str) -> String {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_database() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = required_base_url();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "sg_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("the test cluster accepts connections");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    with_database(&base, &name)
}

/// A TCP forwarder on a fixed loopback port in front of the cluster: [`Proxy::down`]
/// closes the port and every connection through it (PostgreSQL gone, as far as the
/// server can tell), [`Proxy::up`] opens the same port again.
pub struct Proxy {
    port: u16,
    target: String,
    running: Mutex<Option<Running>>,
}

struct Running {
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy to the server of `url`, up.
    pub async fn start(url: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("local addr").port();
        let proxy = Self {
            port,
            target: server_addr(url),
            running: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    /// `url` through this proxy.
    pub fn url(&self, url: &str) -> String {
        through_port(url, self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let connections = Arc::new(Mutex::new(Vec::new()));
        let target = self.target.clone();
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().expect("lock").push(forward);
            }
        });
        *self.running.lock().expect("lock") = Some(Running {
            accept,
            connections,
        });
    }

    /// Closes the port and cuts every connection through it.
    pub fn down(&self) {
        if let Some(running) = self.running.lock().expect("lock").take() {
            running.accept.abort();
            for connection in running.connections.lock().expect("lock").drain(..) {
                connection.abort();
            }
        }
    }

    /// Opens the same port again.
    pub async fn up(&self) {
        // The aborted accept task releases the port once it has been dropped.
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) if attempts < 250 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the proxy port {} stays taken: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}
