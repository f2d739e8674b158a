//! Command-line and environment configuration.
//!
//! Every flag has an `SG_*` environment twin so that container deployments need no
//! arguments. Durations are written `900ms`, `5s`, `15m` or `24h`: short values matter
//! because the end-to-end tests run the real binary with second-scale timeouts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use session_guard_contract::{view, DurationMs};

/// Which sessions are recorded, and so must have the user's consent before they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Recording {
    /// Sessions of privileged users (any scope) are recorded; a user who becomes
    /// privileged during a session is asked then.
    Privileged,
    /// Every session is recorded (`on` is the older spelling).
    #[value(alias = "on")]
    All,
    /// No session is recorded: `recording.consent = "not_required"` for everyone.
    Off,
}

impl Recording {
    /// Whether a session of a user who is (or is not) privileged is recorded.
    pub fn applies_to(self, privileged: bool) -> bool {
        match self {
            Self::Privileged => privileged,
            Self::All => true,
            Self::Off => false,
        }
    }
}

/// Server configuration, parsed from flags and `SG_*` environment variables.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "session-guard-server",
    version,
    about = "Reference session server for session-guard"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SG_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// SQLite database file; `:memory:` keeps everything in memory (tests).
    #[arg(long, env = "SG_DB", default_value = "session-guard.sqlite")]
    pub db: String,

    /// PostgreSQL database URL (`postgres://user:password@host:port/database`): the store
    /// several instances share, each instance's events reaching the others' streams.
    /// Without it the server keeps its data in the SQLite file of `--db`.
    #[arg(long, env = "SG_DATABASE_URL", conflicts_with = "db")]
    pub database_url: Option<String>,

    /// Directory of the built console, served with an `index.html` fallback for
    /// every path outside `/api`.
    #[arg(long, env = "SG_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Inactivity timeout for privileged users.
    #[arg(long, env = "SG_IDLE_TIMEOUT", default_value = "15m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Absolute session lifetime, whatever the activity.
    #[arg(long, env = "SG_SESSION_LIFETIME", default_value = "24h", value_parser = parse_duration)]
    pub session_lifetime: Duration,

    /// How long before the idle deadline clients show their warning.
    #[arg(long, env = "SG_WARNING_LEAD", default_value = "60s", value_parser = parse_duration)]
    pub warning_lead: Duration,

    /// How often clients should send activity keepalives.
    #[arg(long, env = "SG_KEEPALIVE_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub keepalive_interval: Duration,

    /// Which sessions are recorded (and need the user's consent before they start).
    #[arg(long, env = "SG_RECORDING", value_enum, default_value_t = Recording::Privileged)]
    pub recording: Recording,

    /// How long a recorded session may wait for consent; then it ends (`consent_declined`).
    #[arg(long, env = "SG_CONSENT_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub consent_timeout: Duration,

    /// Seed the demo accounts when the users table is empty (`--seed-demo false` to skip).
    #[arg(long, env = "SG_SEED_DEMO", default_value_t = true, action = ArgAction::Set)]
    pub seed_demo: bool,

    /// Always mark the session cookie `Secure` (it is also set when the request carries
    /// `X-Forwarded-Proto: https`).
    #[arg(long, env = "SG_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Use very cheap argon2 parameters. For tests only: hashes made this way are weak.
    #[arg(long, env = "SG_FAST_PASSWORD_HASHING", hide = true)]
    pub fast_password_hashing: bool,

    /// Argon2id memory cost of new password hashes, in KiB (stored hashes keep theirs
    /// until their user signs in again).
    #[arg(long, env = "SG_ARGON2_MEMORY_KIB", default_value_t = DEFAULT_ARGON2_MEMORY_KIB)]
    pub argon2_memory_kib: u32,

    /// Argon2id passes of new password hashes.
    #[arg(long, env = "SG_ARGON2_ITERATIONS", default_value_t = DEFAULT_ARGON2_ITERATIONS)]
    pub argon2_iterations: u32,

    /// Password hashes computed at once (each holds its argon2 memory); default: one per
    /// CPU core.
    #[arg(long, env = "SG_HASH_WORKERS")]
    pub hash_workers: Option<usize>,

    /// Sign-ins that may wait for a hash worker (at least 1); beyond that a sign-in gets
    /// `503` with `Retry-After` at once.
    #[arg(long, env = "SG_HASH_QUEUE", default_value_t = 16)]
    pub hash_queue: usize,

    /// Trust `X-Forwarded-Proto` and `X-Forwarded-For` (only behind a proxy that sets
    /// them): the cookie then gets `Secure` for `https` requests, and the audit log and the
    /// sign-in throttle see the client address the proxy reports.
    #[arg(long, env = "SG_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// How long audit entries and ended sessions are kept; older ones are purged hourly.
    #[arg(long, env = "SG_AUDIT_RETENTION", default_value = "365d", value_parser = parse_duration)]
    pub audit_retention: Duration,

    /// How long a tab's session recording (its chunks and API actions) is kept after the
    /// tab's sub-session ended; older ones are purged hourly, each purge audited.
    #[arg(long, env = "SG_RECORDING_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub recording_retention: Duration,
}

/// Argon2id memory cost (KiB) of the library's defaults, OWASP's minimum recommendation.
pub const DEFAULT_ARGON2_MEMORY_KIB: u32 = 19 * 1024;

/// Argon2id passes of the library's defaults.
pub const DEFAULT_ARGON2_ITERATIONS: u32 = 2;

/// A limit of the session view (`session_guard_contract::view`) as a `Duration`: the
/// server refuses at start-up exactly what the guard would refuse in a view.
const fn limit(ms: DurationMs) -> Duration {
    Duration::from_millis(ms.as_millis().unsigned_abs())
}

const MIN_INTERVAL: Duration = limit(view::MIN_INTERVAL);
const MAX_IDLE: Duration = limit(view::MAX_IDLE_TIMEOUT);
const MAX_LIFETIME: Duration = limit(view::MAX_LIFETIME);
const MAX_LEAD_OR_INTERVAL: Duration = limit(view::MAX_LEAD_OR_INTERVAL);

impl Default for Config {
    /// The documented defaults, identical to running the binary without flags.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: "session-guard.sqlite".to_owned(),
            database_url: None,
            static_dir: None,
            idle_timeout: Duration::from_secs(15 * 60),
            session_lifetime: Duration::from_secs(24 * 60 * 60),
            warning_lead: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(60),
            recording: Recording::Privileged,
            consent_timeout: Duration::from_secs(2 * 60),
            seed_demo: true,
            secure_cookies: false,
            fast_password_hashing: false,
            argon2_memory_kib: DEFAULT_ARGON2_MEMORY_KIB,
            argon2_iterations: DEFAULT_ARGON2_ITERATIONS,
            hash_workers: None,
            hash_queue: 16,
            trust_proxy: false,
            audit_retention: Duration::from_secs(365 * 24 * 3600),
            recording_retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

impl Config {
    /// An in-memory configuration with cheap password hashing and the demo seed: what
    /// integration tests start from before shortening the timeouts they exercise.
    pub fn for_tests() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: ":memory:".to_owned(),
            fast_password_hashing: true,
            ..Self::default()
        }
    }

    /// Rejects settings that would make every session end at once, and those the guard
    /// refuses to run with (it would fail closed on every page), so a mistake shows at
    /// start-up instead of as a console that signs everyone out.
    pub fn validate(&self) -> Result<(), String> {
        let within = |flag: &str, value: Duration, min: Duration, max: Duration, bounds: &str| {
            if value < min || value > max {
                Err(format!(
                    "{flag} must be between {bounds}: the guard refuses a session view with \
                     any other value (got {} ms)",
                    value.as_millis()
                ))
            } else {
                Ok(())
            }
        };
        within(
            "--idle-timeout",
            self.idle_timeout,
            MIN_INTERVAL,
            MAX_IDLE,
            "1s and 7d",
        )?;
        within(
            "--session-lifetime",
            self.session_lifetime,
            Duration::from_millis(1),
            MAX_LIFETIME,
            "1ms and 31d",
        )?;
        within(
            "--warning-lead",
            self.warning_lead,
            Duration::from_millis(1),
            MAX_LEAD_OR_INTERVAL,
            "1ms and 1d",
        )?;
        within(
            "--keepalive-interval",
            self.keepalive_interval,
            MIN_INTERVAL,
            MAX_LEAD_OR_INTERVAL,
            "1s and 1d",
        )?;
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(
                    "--database-url must be a PostgreSQL URL (postgres://user@host:port/database); \
                     SQLite is chosen with --db"
                        .into(),
                );
            }
        }
        if self.hash_workers == Some(0) {
            return Err("--hash-workers must be at least 1".into());
        }
        if self.hash_queue == 0 {
            // Without a waiting place a sign-in arriving while a worker is between two
            // hashes would be refused although the worker is about to be free.
            return Err("--hash-queue must be at least 1".into());
        }
        if self.audit_retention.is_zero() {
            return Err("--audit-retention must be greater than zero".into());
        }
        if self.recording_retention.is_zero() {
            return Err("--recording-retention must be greater than zero".into());
        }
        if self.consent_timeout.is_zero() {
            return Err("--consent-timeout must be greater than zero".into());
        }
        Ok(())
    }

    /// How many password hashes run at once: `--hash-workers`, else one per core.
    pub fn hash_workers(&self) -> usize {
        self.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// Parses `900ms`, `5s`, `15m`, `24h` (and `2d`). A unit is required so that a bare
/// `15` is never silently read as seconds when minutes were meant.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration `{input}` needs a unit (ms, s, m, h or d)"))?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(format!("duration `{input}` must start with a number"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("duration `{input}` is out of range"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("duration `{input}` has an unknown unit `{unit}`")),
    };
    let ms = n
        .checked_mul(millis_per_unit)
        .filter(|ms| i64::try_from(*ms).is_ok())
        .ok_or_else(|| format!("duration `{input}` is out of range"))?;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("900ms"), Ok(Duration::from_millis(900)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 2d "), Ok(Duration::from_secs(172_800)));
        for bad in [
            "",
            "15",
            "m",
            "5x",
            "-5s",
            "1.5s",
            "99999999999999999999s",
            "5 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn the_database_url_names_postgresql_and_excludes_a_sqlite_file() {
        let url = "postgres://sg@127.0.0.1:5432/sessions";
        let parsed =
            Config::try_parse_from(["x", "--database-url", url]).expect("a PostgreSQL URL parses");
        assert_eq!(parsed.database_url.as_deref(), Some(url));
        assert_eq!(parsed.validate(), Ok(()));
        let sqlite_url =
            Config::try_parse_from(["x", "--database-url", "sqlite:x.db"]).expect("parses");
        assert!(sqlite_url.validate().is_err());
        assert!(
            Config::try_parse_from(["x", "--database-url", url, "--db", "x.sqlite"]).is_err(),
            "a SQLite file and a PostgreSQL URL at once is refused"
        );
    }

    #[test]
    fn defaults_match_clap() {
        let parsed = Config::try_parse_from(["session-guard-server"]).expect("defaults parse");
        let default = Config::default();
        assert_eq!(parsed.addr, default.addr);
        assert_eq!(parsed.db, default.db);
        assert_eq!(parsed.idle_timeout, default.idle_timeout);
        assert_eq!(parsed.session_lifetime, default.session_lifetime);
        assert_eq!(parsed.warning_lead, default.warning_lead);
        assert_eq!(parsed.keepalive_interval, default.keepalive_interval);
        assert_eq!(parsed.recording, default.recording);
        assert_eq!(parsed.consent_timeout, default.consent_timeout);
        assert_eq!(parsed.seed_demo, default.seed_demo);
        assert_eq!(parsed.database_url, default.database_url);
        let custom = Config::try_parse_from([
            "x",
            "--idle-timeout",
            "2s",
            "--recording",
            "off",
            "--seed-demo",
            "false",
        ])
        .expect("flags parse");
        assert_eq!(custom.idle_timeout, Duration::from_secs(2));
        assert_eq!(custom.recording, Recording::Off);
        assert!(!custom.seed_demo);
        for (flag, expected) in [
            ("privileged", Recording::Privileged),
            ("all", Recording::All),
            ("on", Recording::All),
            ("off", Recording::Off),
        ] {
            let parsed =
                Config::try_parse_from(["x", "--recording", flag]).expect("recording parses");
            assert_eq!(parsed.recording, expected, "{flag}");
        }
        assert_eq!(parsed.recording, Recording::Privileged);
        assert_eq!(parsed.consent_timeout, Duration::from_secs(120));
    }
}
