//! `cargo xtask bench --only server`: the release server under load on loopback, for each
//! store it can run on: SQLite, PostgreSQL with one instance, PostgreSQL with two
//! instances on one database (PostgreSQL columns need a server with `--database-url` and
//! run on a throwaway cluster, see [`crate::postgres`]).
//!
//! For each store:
//! - 5,000 live sessions of users privileged through a group (the demo's Operators group)
//!   are written straight into the store with the database's own command-line client
//!   (`sqlite3`, `psql`) while the server is stopped, with cookie secrets this bench knows
//!   and their SHA-256 as the server stores it: signing in 5,000 users through the API
//!   would cost an argon2 hash each and, on the old server, minutes of waiting;
//! - idle CPU of the server process(es) over 10 s (`/proc/<pid>/stat`);
//! - `GET /api/session`, keepalives (`POST /api/session/activity`) and both at once, 50
//!   clients on persistent connections, each phase bounded in time and in requests:
//!   requests per second, p50 and p99;
//! - 1,000 open event streams, then an administrator's "end everyone else's sessions":
//!   the time from sending it until each stream reads `event: terminated`, p50/p95/max
//!   (with two instances the administrator talks to the first, the streams are spread
//!   over both);
//! - keepalives with 10 clients (the same requests with fewer load threads: on 2 shared
//!   cores a closed loop of 50 clients queues for the CPU, which this separates from the
//!   server's own cost);
//! - resident memory (`VmRSS` at the end, `VmHWM` peak);
//! - the machine's 1-minute load average when the store's measurement began.
//!
//! Everything goes to 127.0.0.1; every phase stops by itself.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::postgres::{Cluster, Programs};
use crate::run;
use crate::server_process::{memory_kib, ServerProcess};

/// Live group-privileged sessions in the store.
const SESSIONS: usize = 5_000;
/// Concurrent clients of the request phases.
const CLIENTS: usize = 50;
/// Clients of the extra keepalive phase that shows how much of the 50-client tail is
/// queueing for the two cores (load threads, server(s) and PostgreSQL share them).
const FEW_CLIENTS: usize = 10;
/// Length of each request phase.
const PHASE: Duration = Duration::from_secs(8);
/// Most requests of one phase.
const MAX_REQUESTS: u64 = 400_000;
/// How long idle CPU is sampled.
const IDLE_SAMPLE: Duration = Duration::from_secs(10);
/// Event streams open when everyone is signed out.
const STREAMS: usize = 1_000;
/// How long opening the streams may take before the bench goes on with those it has.
const STREAM_OPENING_BUDGET: Duration = Duration::from_secs(90);
/// How long a stream waits for its `terminated` event.
const TERMINATION_WAIT: Duration = Duration::from_secs(30);
/// The demo administrator's password (`--seed-demo`).
const ADMIN_PASSWORD: &str = "admin-demo-pass";

/// One store setup the bench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Sqlite,
    Postgres { instances: usize },
}

impl Store {
    fn label(self) -> String {
        match self {
            Self::Sqlite => "sqlite".into(),
            Self::Postgres { instances } => format!("postgres x{instances}"),
        }
    }
}

/// Where one store's data lives while it is measured.
enum Backing<'a> {
    SqliteFile(PathBuf),
    Postgres {
        cluster: &'a Cluster,
        database: String,
    },
}

/// Runs every store the server supports and returns the JSON report.
pub fn run(root: &Path, toolbox: &crate::tools::Toolbox) -> Result<String, String> {
    let binary = root.join("target/release/session-guard-server");
    let help = run::output(Command::new(&binary).arg("--help")).unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("sg-server-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let mut results = Vec::new();
    toolbox.ensure_sqlite_cli()?;
    results.push(measure(
        &binary,
        Store::Sqlite,
        &Backing::SqliteFile(dir.join("bench.sqlite")),
    ));
    let postgres = if help.contains("--database-url") {
        let programs: Programs = toolbox.ensure_postgres()?;
        let cluster = Cluster::start(&programs, toolbox.is_root_user())?;
        for instances in [1, 2] {
            let database = format!("bench_x{instances}");
            let backing = cluster
                .create_database(&database)
                .map(|_| Backing::Postgres {
                    cluster: &cluster,
                    database,
                });
            results.push(backing.and_then(|b| measure(&binary, Store::Postgres { instances }, &b)));
        }
        "measured"
    } else {
        "skipped: this server has no --database-url"
    };
    let _ = std::fs::remove_dir_all(&dir);
    let mut stores = Vec::new();
    for result in results {
        stores.push(result?);
    }
    Ok(format!(
        "{{\"server\":{{\"sessions\":{SESSIONS},\"clients\":{CLIENTS},\"phase_seconds\":{},\
         \"streams\":{STREAMS},\"cores\":{},\"postgres\":\"{postgres}\",\"stores\":[{}]}}}}",
        PHASE.as_secs(),
        thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        stores.join(",")
    ))
}

/// Seeds `store`, starts its server(s) and measures every phase.
fn measure(binary: &Path, store: Store, backing: &Backing<'_>) -> Result<String, String> {
    eprintln!("server bench: {}", store.label());
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "null".to_owned());
    let instances = match store {
        Store::Sqlite => 1,
        Store::Postgres { instances } => instances,
    };
    // A first start creates the schema and the demo accounts; the seed goes in while no
    // server runs, so the old single-connection server sees a finished store.
    start_server(binary, backing)?.stop();
    seed(backing)?;
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(start_server(binary, backing)?);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let pids: Vec<u32> = servers.iter().map(ServerProcess::pid).collect();

    let admin_cookie = sign_in(&addrs[0], "admin", ADMIN_PASSWORD)?;
    // Let start-up work (first sweeps, caches) settle before idling is measured.
    thread::sleep(Duration::from_secs(2));
    // On PostgreSQL the sweep's queries run in the database's processes: they count too.
    let database_pids = match backing {
        Backing::SqliteFile(_) => Vec::new(),
        Backing::Postgres { cluster, .. } => cluster.process_ids(),
    };
    let (idle, idle_database) = idle_cores(&pids, &database_pids)?;
    let get = load(&addrs, &[Kind::View; CLIENTS]);
    let keepalive = load(&addrs, &[Kind::Keepalive; CLIENTS]);
    let mut mixed_kinds = [Kind::View; CLIENTS];
    for kind in mixed_kinds.iter_mut().skip(CLIENTS / 2) {
        *kind = Kind::Keepalive;
    }
    let mixed = load(&addrs, &mixed_kinds);
    let keepalive_few = load(&addrs, &[Kind::Keepalive; FEW_CLIENTS]);
    let termination = terminate_everyone(&addrs, &admin_cookie)?;
    let mut memory = Vec::new();
    for &pid in &pids {
        memory.push(format!(
            "{{\"rss_mib\":{:.1},\"peak_rss_mib\":{:.1}}}",
            mib(memory_kib(pid, "VmRSS")?),
            mib(memory_kib(pid, "VmHWM")?)
        ));
    }
    for server in &mut servers {
        server.stop();
    }
    Ok(format!(
        "{{\"store\":\"{}\",\"instances\":{instances},\"load_average\":{load_average},\
         \"idle_cores\":{idle},\"idle_database_cores\":{idle_database},\
         \"get_session\":{},\"keepalive\":{},\"mixed\":{},\
         \"keepalive_{FEW_CLIENTS}_clients\":{},\"terminate_all\":{termination},\
         \"memory\":[{}]}}",
        store.label(),
        get.json(),
        keepalive.json(),
        mixed.json(),
        keepalive_few.json(),
        memory.join(",")
    ))
}

/// The cookie secret of bench session `n`: 43 URL-safe characters, like a real one.
fn bench_secret(n: usize) -> String {
    format!("benchsecret{n:032}")
}

fn bench_cookie(n: usize) -> String {
    format!("sg_session={}", bench_secret(n))
}

/// SHA-256 in lower-case hex, as the server stores a cookie secret.
fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// SQL that both stores accept: the bench users (with the demo viewer's password hash,
/// never used), their membership of the demo Operators group, and one live session each,
/// not recorded, last active now; then the planner statistics a database in service has.
fn seed_sql(now_ms: u128) -> String {
    let lifetime_end = now_ms + 24 * 3600 * 1000;
    let mut sql = String::from("BEGIN;\n");
    let _ = writeln!(
        sql,
        "INSERT INTO users (username, display_name, password_hash, created_at)
         WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {SESSIONS})
         SELECT 'bench' || n, 'Bench user ' || n,
                (SELECT password_hash FROM users WHERE username = 'viewer'), {now_ms}
         FROM seq;
         INSERT INTO group_members (group_id, user_id)
         SELECT g.id, u.id FROM access_groups g, users u
         WHERE g.name = 'Operators' AND u.username LIKE 'bench%';"
    );
    for n in 1..=SESSIONS {
        let _ = writeln!(
            sql,
            "INSERT INTO sessions (id, token_hash, user_id, issued_at, expires_at, \
             last_activity_at, recording_required, consent) VALUES ('ses_bench{n:019}', '{}', \
             (SELECT id FROM users WHERE username = 'bench{n}'), {now_ms}, {lifetime_end}, \
             {now_ms}, 0, 'not_required');",
            secret_hash(&bench_secret(n))
        );
    }
    sql.push_str("COMMIT;\n");
    // Rows loaded in one go have no planner statistics until autovacuum's analyze comes
    // round (about a minute later on PostgreSQL); until then the planner guesses at the
    // joins of authentication (session, user, group roles) and a request takes hundreds of
    // milliseconds. A database in service has its statistics, so the bench gathers them.
    sql.push_str("ANALYZE;\n");
    sql
}

fn seed(backing: &Backing<'_>) -> Result<(), String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis();
    let sql = seed_sql(now_ms);
    let mut command = match backing {
        Backing::SqliteFile(path) => {
            let mut command = Command::new("sqlite3");
            command.arg("-bail").arg(path);
            command
        }
        Backing::Postgres { cluster, database } => cluster.psql(database),
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the seed client: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(sql.as_bytes())
            .map_err(|e| format!("writing the seed: {e}"))?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("seeding the bench sessions failed ({status})"))
    }
}

/// Cores the server processes, and the database's (PostgreSQL), used while nobody asked
/// anything.
fn idle_cores(pids: &[u32], database_pids: &[u32]) -> Result<(String, String), String> {
    let ticks =
        |pids: &[u32]| -> Result<u64, String> { pids.iter().map(|&pid| cpu_ticks(pid)).sum() };
    // A database process may end meanwhile (a pool closing an idle connection).
    let database_ticks =
        |pids: &[u32]| -> u64 { pids.iter().filter_map(|&pid| cpu_ticks(pid).ok()).sum() };
    let hz: f64 = run::output(Command::new("getconf").arg("CLK_TCK"))
        .and_then(|out| out.trim().parse().ok())
        .unwrap_or(100.0);
    let before = ticks(pids)?;
    let database_before = database_ticks(database_pids);
    let started = Instant::now();
    thread::sleep(IDLE_SAMPLE);
    let seconds = started.elapsed().as_secs_f64();
    let used = (ticks(pids)? - before) as f64 / hz;
    let database_used = database_ticks(database_pids).saturating_sub(database_before) as f64 / hz;
    Ok((
        format!("{:.3}", used / seconds),
        format!("{:.3}", database_used / seconds),
    ))
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read the server's CPU time: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("field {n} missing in /proc/{pid}/stat"))
    };
    Ok(field(14)? + field(15)?)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The index of the `p`th percentile in `len` sorted samples (nearest rank).
fn nearest_rank(len: usize, p: usize) -> usize {
    (len * p).div_ceil(100).saturating_sub(1)
}

/// What one client of a load phase asks, again and again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    View,
    Keepalive,
}

/// Latencies of one request kind in one phase.
#[derive(Debug, Default)]
struct Figures {
    micros: Vec<u64>,
    errors: u64,
    seconds: f64,
}

impl Figures {
    fn percentile_ms(&self, p: usize) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros[nearest_rank(self.micros.len(), p)] as f64 / 1000.0
    }

    fn json(&self) -> String {
        format!(
            "{{\"requests\":{},\"errors\":{},\"per_second\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
            self.micros.len(),
            self.errors,
            self.micros.len() as f64 / self.seconds.max(f64::EPSILON),
            self.percentile_ms(50),
            self.percentile_ms(99)
        )
    }
}

/// The figures of a phase, per kind of request.
struct Phase {
    view: Figures,
    keepalive: Figures,
}

impl Phase {
    fn json(&self) -> String {
        match (
            self.view.micros.is_empty(),
            self.keepalive.micros.is_empty(),
        ) {
            (false, true) if self.keepalive.errors == 0 => self.view.json(),
            (true, false) if self.view.errors == 0 => self.keepalive.json(),
            _ => format!(
                "{{\"get_session\":{},\"keepalive\":{}}}",
                self.view.json(),
                self.keepalive.json()
            ),
        }
    }
}

/// One client per entry of `kinds`, each with its own bench session and connection
/// (client `i` talks to instance `i % instances`), until the phase's time or request
/// budget ends.
fn load(addrs: &[String], kinds: &[Kind]) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let addr = addrs[i % addrs.len()].clone();
            let (stop, sent) = (stop.clone(), sent.clone());
            thread::spawn(move || {
                let cookie = bench_cookie(i + 1);
                let mut figures = Figures::default();
                let mut connection = None;
                while !stop.load(Ordering::Relaxed)
                    && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
                {
                    let request = match kind {
                        Kind::View => Request::get("/api/session", &cookie),
                        Kind::Keepalive => {
                            Request::post("/api/session/activity", &cookie, r#"{"idle_ms":0}"#)
                        }
                    };
                    let begun = Instant::now();
                    match exchange(&addr, &mut connection, &request) {
                        Ok((200, _)) => figures
                            .micros
                            .push(u64::try_from(begun.elapsed().as_micros()).unwrap_or(u64::MAX)),
                        _ => {
                            figures.errors += 1;
                            connection = None;
                        }
                    }
                }
                (kind, figures)
            })
        })
        .collect();
    while started.elapsed() < PHASE && sent.load(Ordering::Relaxed) < MAX_REQUESTS {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let mut phase = Phase {
        view: Figures::default(),
        keepalive: Figures::default(),
    };
    for worker in workers {
        if let Ok((kind, figures)) = worker.join() {
            let into = match kind {
                Kind::View => &mut phase.view,
                Kind::Keepalive => &mut phase.keepalive,
            };
            into.micros.extend(figures.micros);
            into.errors += figures.errors;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for figures in [&mut phase.view, &mut phase.keepalive] {
        figures.micros.sort_unstable();
        figures.seconds = seconds;
    }
    phase
}

/// Opens up to [`STREAMS`] event streams (bench sessions after the load phases'), then
/// ends every session but the administrator's through instance 0 and times each stream's
/// `terminated`.
fn terminate_everyone(addrs: &[String], admin_cookie: &str) -> Result<String, String> {
    let opened = Arc::new(AtomicU64::new(0));
    let go = Arc::new(Barrier::new(STREAMS + 1));
    let deadline = Instant::now() + STREAM_OPENING_BUDGET;
    let mut streams = Vec::with_capacity(STREAMS);
    for i in 0..STREAMS {
        let addr = addrs[i % addrs.len()].clone();
        let (opened, go) = (opened.clone(), go.clone());
        let cookie = bench_cookie(CLIENTS + 1 + i);
        let stream = thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || -> Option<Instant> {
                let stream = open_event_stream(&addr, &cookie, deadline);
                if stream.is_some() {
                    opened.fetch_add(1, Ordering::SeqCst);
                }
                go.wait();
                wait_for_termination(stream?)
            })
            .map_err(|e| format!("stream thread: {e}"))?;
        streams.push(stream);
    }
    // Every thread reaches the barrier once its stream is open or failed to open.
    go.wait();
    let opened = opened.load(Ordering::SeqCst);
    let sent_at = Instant::now();
    let mut connection = None;
    let answer = exchange(
        &addrs[0],
        &mut connection,
        &Request::post(
            "/api/admin/terminate-sessions",
            admin_cookie,
            r#"{"target":"everyone_else","reason":"bench"}"#,
        ),
    );
    let answered_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
    let answer = match answer {
        Ok((200, _)) => "200".to_string(),
        Ok((status, body)) => format!("{status} {}", body.replace('"', "'")),
        Err(e) => e.replace('"', "'"),
    };
    let mut latencies: Vec<f64> = streams
        .into_iter()
        .filter_map(|s| s.join().ok().flatten())
        .map(|at| at.saturating_duration_since(sent_at).as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| {
        latencies
            .get(nearest_rank(latencies.len(), p))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(format!(
        "{{\"streams_opened\":{opened},\"terminated_seen\":{},\"answer\":\"{answer}\",\
         \"answer_ms\":{answered_ms:.1},\"p50_ms\":{:.1},\"p95_ms\":{:.1},\"max_ms\":{:.1}}}",
        latencies.len(),
        pct(50),
        pct(95),
        latencies.last().copied().unwrap_or(0.0)
    ))
}

/// `GET /api/session/events` until its `200` head arrived (the server subscribes the
/// stream before it answers), retrying until `deadline`.
fn open_event_stream(addr: &str, cookie: &str, deadline: Instant) -> Option<BufReader<TcpStream>> {
    while Instant::now() < deadline {
        let attempt = (|| -> Result<Option<BufReader<TcpStream>>, String> {
            let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            let left = deadline.saturating_duration_since(Instant::now());
            stream
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .map_err(|e| e.to_string())?;
            write!(
                stream,
                "GET /api/session/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
                 Accept: text/event-stream\r\n\r\n"
            )
            .map_err(|e| e.to_string())?;
            let mut reader = BufReader::new(stream);
            let (status, _) = read_head(&mut reader)?;
            Ok((status == 200).then_some(reader))
        })();
        match attempt {
            Ok(Some(reader)) => return Some(reader),
            Ok(None) => return None,
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    None
}

/// When the stream read `event: terminated`, if it did within [`TERMINATION_WAIT`].
fn wait_for_termination(mut reader: BufReader<TcpStream>) -> Option<Instant> {
    reader
        .get_ref()
        .set_read_timeout(Some(TERMINATION_WAIT))
        .ok()?;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line.trim_end() == "event: terminated" => return Some(Instant::now()),
            Ok(_) => {}
        }
    }
}

/// A request of the bench, written as HTTP/1.1 with a persistent connection.
struct Request {
    text: String,
}

impl Request {
    fn get(path: &str, cookie: &str) -> Self {
        Self {
            text: format!("GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\r\n"),
        }
    }

    fn post(path: &str, cookie: &str, body: &str) -> Self {
        Self {
            text: format!(
                "POST {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        }
    }
}

/// Sends `request` on `connection` (opening one when there is none) and reads the whole
/// answer: its status and body.
fn exchange(
    addr: &str,
    connection: &mut Option<BufReader<TcpStream>>,
    request: &Request,
) -> Result<(u16, String), String> {
    if connection.is_none() {
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().ok_or("no connection")?;
    reader
        .get_mut()
        .write_all(request.text.as_bytes())
        .map_err(|e| e.to_string())?;
    let (status, length) = read_head(reader)?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Reads a response head: the status and the `Content-Length` (0 when absent).
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<(u16, usize), String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("connection closed in the head".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok((status, length));
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "bad Content-Length")?;
            }
        }
    }
}

/// Signs in through the API and returns the cookie pair.
fn sign_in(addr: &str, username: &str, password: &str) -> Result<String, String> {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST /api/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    answer
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().map(str::to_owned))?
        })
        .ok_or_else(|| format!("{username} could not sign in: {answer}"))
}

/// One release server on a free loopback port, on the bench's store.
fn start_server(binary: &Path, backing: &Backing<'_>) -> Result<ServerProcess, String> {
    let mut command = Command::new(binary);
    command.args([
        "--addr",
        "127.0.0.1:0",
        "--fast-password-hashing",
        "--recording",
        "off",
    ]);
    match backing {
        Backing::SqliteFile(path) => command.arg("--db").arg(path),
        Backing::Postgres { cluster, database } => {
            command.arg("--database-url").arg(cluster.url_of(database))
        }
    };
    ServerProcess::spawn(&mut command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_secrets_have_the_shape_of_cookie_secrets_and_known_hashes() {
        let secret = bench_secret(SESSIONS);
        assert_eq!(secret.len(), 43);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let figures = Figures {
            micros: (1..=100).map(|ms| ms * 1000).collect(),
            errors: 0,
            seconds: 1.0,
        };
        assert!((figures.percentile_ms(50) - 50.0).abs() < f64::EPSILON);
        assert!((figures.percentile_ms(99) - 99.0).abs() < f64::EPSILON);
    }
}
