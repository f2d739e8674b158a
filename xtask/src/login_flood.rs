//! `cargo xtask bench --only login-flood`: floods the release server's sign-in on
//! loopback with default argon2 costs and reports its resident memory (peak and settled)
//! and a legitimate user's sign-in latency meanwhile.
//!
//! Two phases, each bounded in time and in requests, both stopping by themselves:
//! - `one-account`: many addresses guess one account's password (the account throttle
//!   answers them); another user signs in meanwhile.
//! - `spray`: many addresses guess many accounts (every guess costs a hash, so the
//!   bounded pool is what holds); another user signs in meanwhile.
//!
//! Attackers' addresses are simulated with `X-Forwarded-For` and `--trust-proxy`; every
//! byte goes to 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use crate::server_process::{memory_kib, ServerProcess};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Concurrent attacker connections.
const ATTACKERS: usize = 64;
/// How long each phase floods.
const PHASE: Duration = Duration::from_secs(15);
/// Most attacker requests per phase.
const MAX_REQUESTS: u64 = 20_000;
/// Pause between the legitimate user's sign-ins.
const LEGIT_EVERY: Duration = Duration::from_millis(100);
/// How long after a phase memory is read again ("settled").
const SETTLE: Duration = Duration::from_secs(5);

/// Runs both phases against the release server (already built).
pub fn run(root: &Path) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("sg-login-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    let result = run_in(root, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(root: &Path, dir: &Path) -> Result<String, String> {
    let mut server = start_server(root, dir)?;
    let pid = server.pid();
    let mut phases = Vec::new();
    thread::sleep(Duration::from_secs(1));
    let idle = memory_kib(pid, "VmRSS")?;
    // Warm up: the first sign-in grows one hash worker's buffer.
    let legit_first = sign_in(&server.addr, "viewer", "viewer-demo-pass", "198.51.100.1");
    thread::sleep(Duration::from_secs(1));
    let baseline = memory_kib(pid, "VmRSS")?;
    for (phase, spray) in [("one-account", false), ("spray", true)] {
        phases.push(flood(&server.addr, pid, phase, spray)?);
    }
    let peak_hwm = memory_kib(pid, "VmHWM")?;
    server.stop();
    Ok(format!(
        "{{\"login_flood\":{{\"argon2\":\"m=19456,t=2,p=1 (defaults)\",\"attackers\":{ATTACKERS},\
         \"phase_seconds\":{},\"idle_rss_mib\":{:.1},\"baseline_rss_mib\":{:.1},\"peak_rss_mib_vmhwm\":{:.1},\
         \"first_legit_login_ms\":{},\"phases\":[{}]}}}}",
        PHASE.as_secs(),
        mib(idle),
        mib(baseline),
        mib(peak_hwm),
        legit_first.map_or_else(|e| format!("\"{e}\""), |(_, ms)| ms.to_string()),
        phases.join(",")
    ))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One phase: attackers until the time or request budget ends, a legitimate sign-in
/// every 100 ms, memory sampled every 50 ms, then memory once more after settling.
fn flood(addr: &str, pid: u32, name: &str, spray: bool) -> Result<String, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let statuses = Arc::new(Mutex::new([0u64; 6]));
    let mut workers = Vec::new();
    for n in 0..ATTACKERS {
        let (stop, sent, statuses, addr) = (
            stop.clone(),
            sent.clone(),
            statuses.clone(),
            addr.to_string(),
        );
        workers.push(thread::spawn(move || {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed)
                && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
            {
                i += 1;
                let user = if spray {
                    format!("user{n}x{i}")
                } else {
                    "admin".to_string()
                };
                let from = format!("10.{}.{}.{}", n, (i / 250) % 250, i % 250 + 1);
                let slot = match sign_in(&addr, &user, "wrong-guess", &from) {
                    Ok((401, _)) => 0,
                    Ok((429, _)) => 1,
                    Ok((503, _)) => 2,
                    Ok((200, _)) => 3,
                    Ok(_) => 4,
                    Err(_) => 5,
                };
                if let Ok(mut s) = statuses.lock() {
                    s[slot] += 1;
                }
            }
        }));
    }
    let started = Instant::now();
    let mut peak = 0u64;
    let mut legit_ms = Vec::new();
    let mut legit_refused = 0u64;
    let mut next_legit = Instant::now();
    while started.elapsed() < PHASE && sent.load(Ordering::Relaxed) < MAX_REQUESTS {
        peak = peak.max(memory_kib(pid, "VmRSS")?);
        if Instant::now() >= next_legit {
            match sign_in(addr, "operator", "operator-demo-pass", "198.51.100.2") {
                Ok((200, ms)) => legit_ms.push(ms),
                _ => legit_refused += 1,
            }
            next_legit = Instant::now() + LEGIT_EVERY;
        }
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed();
    peak = peak.max(memory_kib(pid, "VmRSS")?);
    thread::sleep(SETTLE);
    let settled = memory_kib(pid, "VmRSS")?;
    legit_ms.sort_unstable();
    let pct = |p: usize| {
        legit_ms
            .get((legit_ms.len().saturating_sub(1)) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    let s = statuses.lock().map(|s| *s).unwrap_or_default();
    let total: u64 = s.iter().sum();
    Ok(format!(
        "{{\"phase\":\"{name}\",\"seconds\":{:.1},\"attacker_requests\":{total},\
         \"per_second\":{:.0},\"answers\":{{\"401\":{},\"429\":{},\"503\":{},\"200\":{},\"other\":{},\"io_error\":{}}},\
         \"peak_rss_mib\":{:.1},\"settled_rss_mib\":{:.1},\"legit_logins\":{},\"legit_refused\":{legit_refused},\
         \"legit_p50_ms\":{},\"legit_p95_ms\":{},\"legit_max_ms\":{}}}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        mib(peak),
        mib(settled),
        legit_ms.len(),
        pct(50),
        pct(95),
        legit_ms.last().copied().unwrap_or(0),
    ))
}

/// One `POST /api/login` on its own connection; the status and the time it took (ms).
fn sign_in(addr: &str, user: &str, password: &str, from: &str) -> Result<(u16, u64), String> {
    let started = Instant::now();
    let body = format!(r#"{{"username":"{user}","password":"{password}"}}"#);
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Forwarded-For: {from}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    let status = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    Ok((
        status,
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    ))
}

/// The release server on a free loopback port with default argon2 costs.
fn start_server(root: &Path, dir: &Path) -> Result<ServerProcess, String> {
    ServerProcess::spawn(
        Command::new(root.join("target/release/session-guard-server"))
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(dir.join("flood.sqlite"))
            .arg("--trust-proxy"),
    )
}
