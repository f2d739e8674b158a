//! The store: the one layer between the handlers and SQL.
//!
//! Handlers call one method per operation (sign in, keepalive, consent, tabs, admin
//! changes, audit queries, sweep, purge); the store opens the transaction, sequences the
//! storage steps and publishes the pushes after the commit. Every path that ends a
//! session goes through [`Tx::end_sessions`]: the session ends for exactly one reason (a
//! conditional update, so concurrent enders and several instances end it once), its
//! `session_ended` entry is written in the same transaction, and its streams hear
//! `terminated` only after [`Tx::commit`].
//!
//! Storage runs on sqlx's async driver (`AnyPool`): SQLite connections do their work on
//! sqlx's own worker threads, never on the async runtime's.

mod admin;
mod notify;
mod ops;
mod recording;
pub(crate) mod sql;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor};
use tokio::sync::broadcast;

pub(crate) use admin::{AdminChange, AdminOutput, TabEnd, TerminateTarget};
pub(crate) use ops::ConsentOutcome;
pub(crate) use recording::{ChunkOutcome, Dropped, RegisteredTabs, RequestSession, SeenRequest};
pub(crate) use sql::Conn;

use crate::error::{AppError, InitError, Reason};
use crate::state::{Clock, Policy};

/// Ordered SQLite migrations; the position in this list plus one is the schema version.
const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_audit_context.sql"),
    include_str!("../../migrations/sqlite/0003_admin_scopes.sql"),
    include_str!("../../migrations/sqlite/0004_session_visibility.sql"),
    include_str!("../../migrations/sqlite/0005_tab_termination.sql"),
    include_str!("../../migrations/sqlite/0006_session_deadlines.sql"),
    include_str!("../../migrations/sqlite/0007_recordings.sql"),
    include_str!("../../migrations/sqlite/0008_request_log_gaps.sql"),
];

/// Ordered PostgreSQL migrations: the same versions, with the same meaning, as
/// [`SQLITE_MIGRATIONS`].
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_audit_context.sql"),
    include_str!("../../migrations/postgres/0003_admin_scopes.sql"),
    include_str!("../../migrations/postgres/0004_session_visibility.sql"),
    include_str!("../../migrations/postgres/0005_tab_termination.sql"),
    include_str!("../../migrations/postgres/0006_session_deadlines.sql"),
    include_str!("../../migrations/postgres/0007_recordings.sql"),
    include_str!("../../migrations/postgres/0008_request_log_gaps.sql"),
];

/// Connections of one instance to PostgreSQL (the listening connection is extra).
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a request waits for a PostgreSQL connection before it gets `503`: long
/// enough for a busy moment, short enough that a PostgreSQL that went away answers
/// quickly instead of holding every request.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The advisory lock that lets one instance at a time migrate a shared database.
const MIGRATION_LOCK: i64 = 0x5347_4d49_4752;

/// Readers that may run beside the one SQLite writer (WAL lets them).
const SQLITE_READERS: u32 = 4;

/// How long a connection waits for a lock another connection holds before failing.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Which database the store runs on. The SQL text is shared; the few fragments that
/// differ between databases are methods here, so a new backend is a new arm of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The embedded default: one file, one writer connection and a few readers.
    Sqlite,
    /// A database several instances share; their events meet through `LISTEN`/`NOTIFY`.
    Postgres,
}

impl Backend {
    /// The column that orders rows of one table by insertion (ties of equal timestamps).
    fn insertion_order(self, table: &str) -> String {
        format!("{table}.{}", self.insertion_column())
    }

    /// [`Backend::insertion_order`] without the table name (for `RETURNING`).
    fn insertion_column(self) -> &'static str {
        match self {
            Self::Sqlite => "rowid",
            // `seq`: an identity column PostgreSQL's sessions have for this.
            Self::Postgres => "seq",
        }
    }

    /// The smallest of several SQL expressions.
    fn least(self, expressions: &[String]) -> String {
        match self {
            Self::Sqlite => format!("MIN({})", expressions.join(", ")),
            // Unlike SQLite's MIN, LEAST skips NULLs; the expressions are never NULL.
            Self::Postgres => format!("LEAST({})", expressions.join(", ")),
        }
    }

    /// The statement that opens a write transaction. SQLite takes the write lock at once
    /// (`IMMEDIATE`): a transaction that read first and then wanted to write would fail
    /// outright, not wait, if another connection (another process on the same file)
    /// had written in between.
    fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            // Row locks and the conditional updates keep concurrent writers (and other
            // instances) apart; nothing needs the whole database.
            Self::Postgres => "BEGIN",
        }
    }

    /// A condition: the JSON text `column` has a `user_id` member equal to `param`.
    fn detail_user_id_is(self, column: &str, param: &str) -> String {
        match self {
            Self::Sqlite => {
                format!("(json_valid({column}) AND json_extract({column}, '$.user_id') = {param})")
            }
            // The server writes every `detail` as a JSON object; jsonb equality compares
            // the number without casting any text.
            Self::Postgres => {
                format!("(({column})::jsonb -> 'user_id') = to_jsonb(({param})::bigint)")
            }
        }
    }
}

/// What a session's SSE streams receive.
#[derive(Debug, Clone)]
pub(crate) enum Push {
    /// The session ended; the stream sends `event: terminated` and closes.
    Terminated(Reason),
    /// The session view changed; the stream sends `event: session`.
    Session(Arc<Value>),
    /// An administrator ended this tab of the session; the stream sends `event:
    /// tab_ended` and stays open (the session and its other tabs continue).
    TabEnded(Arc<str>),
}

/// One broadcast channel per session with open streams, so every tab hears the end.
#[derive(Default)]
struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Push>>>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Push>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn subscribe(&self, session_id: &str) -> broadcast::Receiver<Push> {
        let mut map = self.lock();
        if let Some(tx) = map.get(session_id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(16);
        map.insert(session_id.to_owned(), tx);
        rx
    }

    fn send(&self, session_id: &str, push: Push) {
        let mut map = self.lock();
        let terminal = matches!(push, Push::Terminated(_));
        if let Some(tx) = map.get(session_id) {
            // No receivers is fine: nobody is listening.
            let _ = tx.send(push);
        }
        if terminal {
            // Dropping the sender closes every stream once it has read the event.
            map.remove(session_id);
        }
    }

    /// The sessions this instance holds open streams for.
    fn session_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn prune(&self) {
        self.lock().retain(|_, tx| tx.receiver_count() > 0);
    }

    fn close_all(&self) {
        self.lock().clear();
    }
}

/// One session ended by [`Tx::end_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub session_id: String,
    pub user_id: i64,
    pub reason: Reason,
}

/// Which live sessions [`Tx::end_sessions`] ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sessions<'a> {
    /// One session, if it is still live.
    One(&'a str),
    /// One session the sweep judged overdue, if it is still live and its last activity
    /// is still the one it saw (a keepalive in between makes it not overdue any more).
    Overdue { id: &'a str, last_activity_at: i64 },
    /// Every live session of one user.
    OfUser(i64),
    /// Every live session of every user holding the role, directly or through a group.
    OfRole(i64),
    /// Every live session of every user but this one.
    AllBut(i64),
}

/// What to push once a transaction has committed.
#[derive(Debug, Default)]
struct Effects {
    ended: Vec<Ended>,
    /// Users whose permissions changed: each live session gets a fresh view.
    changed_users: Vec<i64>,
    /// Sessions whose view changed (consent given in one tab reaches the others).
    changed_sessions: Vec<String>,
    /// `(session, tab)` pairs an administrator ended.
    tabs_ended: Vec<(String, String)>,
}

/// The store: the database pools, the push hub and the policy the deadlines follow.
pub(crate) struct Store {
    /// Writes (and reads that must see the transaction): one connection on SQLite, so
    /// writers queue in the pool instead of spinning on the database lock.
    write: AnyPool,
    /// Reads outside transactions, in parallel with the writer.
    read: AnyPool,
    backend: Backend,
    /// This instance's name in the notices it sends to the others (PostgreSQL).
    instance: String,
    /// Where the listening connection goes (PostgreSQL only).
    listen_url: Option<String>,
    hub: Hub,
    pub policy: Policy,
    clock: Arc<dyn Clock>,
}

/// A write transaction with the pushes it will cause. Dropping it rolls back and pushes
/// nothing; [`Tx::commit`] commits, then pushes.
pub(crate) struct Tx<'s> {
    store: &'s Store,
    tx: sqlx::Transaction<'static, Any>,
    /// The transaction's "now": every row and audit entry it writes carries this time.
    pub now: i64,
    effects: Effects,
    /// The acting session and tab of the request, looked up once for all the entries the
    /// transaction writes (ending 5,000 sessions writes 5,000 entries).
    acting: Option<sql::Acting>,
}

impl Tx<'_> {
    /// The transaction's connection, for the statements of [`sql`].
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

    /// The backend, for the statements of [`sql`] that take one.
    pub fn backend(&self) -> Backend {
        self.store.backend
    }

    /// Ends the selected live sessions for `reason`: the one place a session ends. The
    /// end is one conditional update of every selected session (a session already ended
    /// keeps its first reason and is skipped), their `session_ended` entries are written
    /// here, in this transaction (a few multi-row statements, whatever the count), and
    /// they are pushed after the commit. `actor` is who ended them (`None`: the server).
    pub async fn end_sessions(
        &mut self,
        which: Sessions<'_>,
        reason: Reason,
        actor: Option<i64>,
    ) -> Result<Vec<Ended>, AppError> {
        let (backend, now) = (self.store.backend, self.now);
        let ended = sql::end_sessions(self.conn(), backend, which, &reason, actor, now).await?;
        if !ended.is_empty() {
            let acting = self.acting().await?;
            sql::audit_session_ends(&mut self.tx, now, actor, &reason, &ended, &acting).await?;
        }
        let ended: Vec<Ended> = ended
            .into_iter()
            .map(|(session_id, user_id)| Ended {
                session_id,
                user_id,
                reason: reason.clone(),
            })
            .collect();
        self.effects.ended.extend(ended.iter().cloned());
        Ok(ended)
    }

    /// The acting session and tab of the request, looked up on first use.
    async fn acting(&mut self) -> Result<sql::Acting, AppError> {
        if let Some(acting) = &self.acting {
            return Ok(acting.clone());
        }
        let acting = sql::acting(self.conn()).await?;
        self.acting = Some(acting.clone());
        Ok(acting)
    }

    /// Records one audit entry in this transaction.
    pub async fn audit(&mut self, entry: &sql::NewAudit<'_>) -> Result<(), AppError> {
        let acting = self.acting().await?;
        let now = self.now;
        Ok(sql::audit(self.conn(), now, entry, &acting).await?)
    }

    /// Commits, then pushes what the transaction caused.
    pub async fn commit(self) -> Result<(), AppError> {
        let Self {
            store,
            mut tx,
            effects,
            ..
        } = self;
        if store.backend == Backend::Postgres {
            // Queued in the transaction: the other instances hear of it only on commit.
            notify::send(&mut tx, &store.instance, &effects).await?;
        }
        tx.commit().await?;
        store.publish(effects).await;
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, or an in-memory one for
    /// `:memory:`, and brings its schema up to date.
    pub async fn open(
        path: &str,
        policy: Policy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, InitError> {
        sqlx::any::install_default_drivers();
        let memory = path == ":memory:";
        // `sqlite:` without `//`: the path is never read as a host name.
        let url = if memory {
            "sqlite::memory:".to_owned()
        } else {
            format!("sqlite:{path}?mode=rwc")
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let write = Self::sqlite_pool(1, false, memory)
            .connect_with(options.clone())
            .await?;
        // An in-memory database lives in its one connection: readers share it.
        let read = if memory {
            write.clone()
        } else {
            Self::sqlite_pool(SQLITE_READERS, true, false)
                .connect_with(options)
                .await?
        };
        migrate(&write, Backend::Sqlite, SQLITE_MIGRATIONS).await?;
        let store = Self {
            write,
            read,
            backend: Backend::Sqlite,
            instance: String::new(),
            listen_url: None,
            hub: Hub::default(),
            policy,
            clock,
        };
        store.recompute_deadlines().await?;
        Ok(store)
    }

    /// Connects to the PostgreSQL database at `url` (which several instances may share)
    /// and brings its schema up to date. A PostgreSQL that cannot be reached is an error
    /// that names it, so the server stops at start-up instead of answering `503` forever.
    pub async fn open_postgres(
        url: &str,
        policy: Policy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, InitError> {
        sqlx::any::install_default_drivers();
        let unreachable = |e: sqlx::Error| {
            InitError::Other(format!(
                "cannot use the PostgreSQL database {}: {e}",
                redacted(url)
            ))
        };
        let options = AnyConnectOptions::from_str(url).map_err(unreachable)?;
        // One pool for reads and writes: PostgreSQL runs transactions side by side.
        let pool = AnyPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        migrate(&pool, Backend::Postgres, POSTGRES_MIGRATIONS)
            .await
            .map_err(unreachable)?;
        let instance = crate::auth::new_secret().map_err(InitError::from)?;
        let store = Self {
            write: pool.clone(),
            read: pool,
            backend: Backend::Postgres,
            instance,
            listen_url: Some(url.to_owned()),
            hub: Hub::default(),
            policy,
            clock,
        };
        store.recompute_deadlines().await?;
        Ok(store)
    }

    /// On PostgreSQL, starts the task that brings the other instances' events to this
    /// instance's streams (it ends when the store is dropped).
    pub fn start_listening(self: &Arc<Self>) {
        if let Some(url) = &self.listen_url {
            tokio::spawn(notify::listen(Arc::downgrade(self), url.clone()));
        }
    }

    /// A pool of SQLite connections in WAL mode (readers never wait for the writer),
    /// with foreign keys on (deletions cascade) and a busy timeout for the rare lock
    /// another process holds. Readers are `query_only`, so a write can only go through
    /// the writer pool.
    fn sqlite_pool(size: u32, readers: bool, memory: bool) -> AnyPoolOptions {
        let mut options = AnyPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(30));
        if memory {
            // Closing the last connection would delete the database.
            options = options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        options.after_connect(move |conn, _meta| {
            Box::pin(async move {
                let mut pragmas =
                    format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;");
                if !memory {
                    // WAL with NORMAL sync is durable across application crashes and
                    // lets readers run beside the writer.
                    pragmas.push_str(" PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
                }
                if readers {
                    pragmas.push_str(" PRAGMA query_only = ON;");
                }
                conn.execute(sqlx::raw_sql(&pragmas)).await?;
                Ok(())
            })
        })
    }

    /// Stores every live session's next deadline under the configured timeouts (they may
    /// differ from those of the last run; sessions of an older store get theirs here).
    async fn recompute_deadlines(&self) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let backend = tx.backend();
        sql::recompute_deadlines(tx.conn(), backend, &self.policy).await?;
        tx.commit().await
    }

    /// The current time of the store's clock, epoch milliseconds.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A connection for reads outside any transaction.
    pub async fn reader(&self) -> Result<sqlx::pool::PoolConnection<Any>, AppError> {
        Ok(self.read.acquire().await?)
    }

    /// Starts a write transaction at the clock's now.
    pub async fn begin(&self) -> Result<Tx<'_>, AppError> {
        let tx = self.write.begin_with(self.backend.begin_write()).await?;
        Ok(Tx {
            store: self,
            tx,
            now: self.now(),
            effects: Effects::default(),
            acting: None,
        })
    }

    /// The database schema version.
    pub async fn schema_version(&self) -> Result<i64, AppError> {
        let mut conn = self.reader().await?;
        Ok(schema_version(&mut conn).await?)
    }

    /// Subscribes to the pushes of one session.
    pub fn subscribe(&self, session_id: &str) -> broadcast::Receiver<Push> {
        self.hub.subscribe(session_id)
    }

    /// Drops channels nobody listens to any more.
    pub fn prune_streams(&self) {
        self.hub.prune();
    }

    /// Closes every open event stream (graceful shutdown).
    pub fn close_streams(&self) {
        self.hub.close_all();
    }

    /// Sends what a committed transaction caused: `terminated` to every ended session,
    /// `tab_ended` to the sessions of ended tabs, and a fresh view to every live session
    /// of each user whose permissions changed and to each session whose view changed.
    async fn publish(&self, effects: Effects) {
        for ended in &effects.ended {
            self.hub
                .send(&ended.session_id, Push::Terminated(ended.reason.clone()));
        }
        for (session_id, tab_id) in &effects.tabs_ended {
            self.hub
                .send(session_id, Push::TabEnded(Arc::from(tab_id.as_str())));
        }
        if effects.changed_users.is_empty() && effects.changed_sessions.is_empty() {
            return;
        }
        if let Err(e) = self.push_views(effects).await {
            eprintln!("session-guard-server: view push failed: {e:?}");
        }
    }

    async fn push_views(&self, effects: Effects) -> Result<(), AppError> {
        let mut conn = self.reader().await?;
        let mut sessions: Vec<String> = Vec::new();
        for user_id in effects.changed_users {
            sessions.extend(sql::live_session_ids_of_user(&mut conn, self.backend, user_id).await?);
        }
        sessions.extend(effects.changed_sessions);
        let mut seen = HashSet::new();
        for session_id in sessions {
            if !seen.insert(session_id.clone()) {
                continue;
            }
            if let Some(cur) = ops::reload(&mut conn, &session_id).await? {
                if cur.session.ended_at.is_none() {
                    if let Ok(value) = serde_json::to_value(self.view(&cur)) {
                        self.hub.send(&session_id, Push::Session(Arc::new(value)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Applies every migration newer than the recorded schema version, each in its own
/// transaction so that a failure leaves the previous version intact. The version table
/// is the one every earlier server kept, so existing stores upgrade in place.
async fn migrate(pool: &AnyPool, backend: Backend, migrations: &[&str]) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        // Instances starting together take turns; the lock goes with the session.
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_migrations(&mut conn, migrations).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_migrations(conn: &mut Conn, migrations: &[&str]) -> Result<(), sqlx::Error> {
    (&mut *conn)
        .execute(sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        ))
        .await?;
    let current = schema_version(conn).await?;
    for (index, sql) in migrations.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if version <= current {
            continue;
        }
        let mut tx = conn.begin().await?;
        tx.execute(sqlx::raw_sql(sql)).await?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn schema_version(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut *conn)
        .await
}

/// `url` with its password, if any, replaced by `***` (for messages).
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{credentials}@{host}"),
        },
        None => authority.to_owned(),
    };
    if path.is_empty() {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}/{path}")
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redacted("postgres://sg:hunter2@db.internal:5432/sessions"),
            "postgres://sg:***@db.internal:5432/sessions"
        );
        assert_eq!(
            redacted("postgres://sg@127.0.0.1:5432/sessions"),
            "postgres://sg@127.0.0.1:5432/sessions"
        );
    }
}
