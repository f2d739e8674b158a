//! Sign-in defences: a bounded pool of password-hash workers, so that no flood of
//! sign-ins can take more CPU or memory than the pool holds, and a throttle with
//! exponential backoff per account and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use argon2::Block;

use crate::error::AppError;

/// Failures of one account before it is throttled.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;

/// Failures from one client address before it is throttled (higher: many people may
/// share an address behind NAT).
pub const ADDRESS_FREE_FAILURES: u32 = 20;

/// The first wait, doubled with every further failure.
const BASE_BACKOFF_MS: i64 = 1_000;

/// The longest wait.
const MAX_BACKOFF_MS: i64 = 15 * 60 * 1_000;

/// A key with no failure for this long starts again from zero.
const FORGET_AFTER_MS: i64 = 60 * 60 * 1_000;

/// Most keys each throttle tracks; beyond that forgotten keys are pruned first, and new
/// keys are not tracked until there is room (the hash pool still bounds the work).
const MAX_TRACKED: usize = 100_000;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// A fixed set of threads that compute password hashes, each in one reusable buffer,
/// fed by a bounded queue: a full queue is refused at once instead of growing.
pub(crate) struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    /// Starts `workers` threads and a queue of `queue` waiting jobs. The threads end when
    /// the pool is dropped.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("sg-hash-{n}"))
                .spawn(move || work(&rx))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a worker with its buffer; [`AppError::Busy`] at once when every
    /// worker is busy and the queue is full.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> R + Send + 'static,
    ) -> Result<R, AppError> {
        self.submit(f)?
            .await
            .map_err(|_| AppError::Internal("hash worker dropped a job".into()))
    }

    /// Queues `f`, or refuses with [`AppError::Busy`]; the receiver yields its result.
    fn submit<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> R + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<R>, AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The requester may have gone away; the result is then not needed.
            let _ = tx.send(f(memory));
        });
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => AppError::Busy,
            TrySendError::Disconnected(_) => AppError::Internal("hash workers stopped".into()),
        })?;
        Ok(rx)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A worker: runs jobs one after the other in one buffer, grown to the largest
/// parameters seen and then kept, so that a flood touches the same pages again instead of
/// making the allocator hand out (and keep) fresh ones.
fn work(rx: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let next = lock(rx).recv();
        match next {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

/// One key's failures, and the attempts still being checked.
#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    in_flight: u32,
    last_at: i64,
    blocked_until: i64,
}

/// Failure counts per key with exponential backoff after `free` failures. Attempts in
/// flight count as possible failures, so parallel guesses cannot outrun the count.
#[derive(Debug)]
struct Throttle<K> {
    free: u32,
    keys: HashMap<K, Failures>,
}

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    fn new(free: u32) -> Self {
        Self {
            free,
            keys: HashMap::new(),
        }
    }

    /// Makes room for one more key if the map is full; false when there is none.
    fn room(&mut self, key: &K, now: i64) -> bool {
        if self.keys.contains_key(key) || self.keys.len() < MAX_TRACKED {
            return true;
        }
        self.keys.retain(|_, f| {
            f.in_flight > 0 || f.blocked_until > now || now - f.last_at < FORGET_AFTER_MS
        });
        if self.keys.len() < MAX_TRACKED {
            return true;
        }
        // Still full of recent keys (a spray of fresh names or addresses): drop the least
        // telling one, the fewest failures and oldest, so that no spray can switch the
        // throttle off for the next key. A key that is blocked or being checked stays.
        let victim = self
            .keys
            .iter()
            .filter(|(_, f)| f.in_flight == 0 && f.blocked_until <= now)
            .min_by_key(|(_, f)| (f.count, f.last_at))
            .map(|(k, _)| k.clone());
        match victim {
            Some(victim) => {
                self.keys.remove(&victim);
                true
            }
            None => false,
        }
    }

    /// Starts an attempt for `key`, or says how many ms it must wait: while blocked, and
    /// (for a second) while the attempts in flight already use up what is left of `free`
    /// (one at a time once the failures reached it).
    fn begin(&mut self, key: &K, now: i64) -> Result<(), i64> {
        if !self.room(key, now) {
            // Every tracked key is blocked or busy: fail closed rather than untracked.
            return Err(BASE_BACKOFF_MS);
        }
        let entry = self.keys.entry(key.clone()).or_default();
        if entry.blocked_until > now {
            return Err(entry.blocked_until - now);
        }
        if entry.in_flight == 0 && now - entry.last_at >= FORGET_AFTER_MS {
            entry.count = 0;
        }
        if entry.in_flight >= self.free.saturating_sub(entry.count).max(1) {
            return Err(BASE_BACKOFF_MS);
        }
        entry.in_flight += 1;
        Ok(())
    }

    /// Ends an attempt started with [`Throttle::begin`].
    fn end(&mut self, key: &K) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if entry.count == 0 && entry.in_flight == 0 {
                self.keys.remove(key);
            }
        }
    }

    /// Milliseconds until `key` may try again, if it is blocked now.
    #[cfg(test)]
    fn blocked_for(&self, key: &K, now: i64) -> Option<i64> {
        self.keys
            .get(key)
            .map(|f| f.blocked_until - now)
            .filter(|ms| *ms > 0)
    }

    /// Counts one failure; returns the new block in ms when this failure starts one.
    fn fail(&mut self, key: &K, now: i64) -> Option<i64> {
        if !self.room(key, now) {
            return None;
        }
        let entry = self.keys.entry(key.clone()).or_default();
        if now - entry.last_at >= FORGET_AFTER_MS {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last_at = now;
        let over = entry.count.checked_sub(self.free)?;
        let backoff = BASE_BACKOFF_MS
            .checked_shl(over.min(30))
            .unwrap_or(MAX_BACKOFF_MS)
            .min(MAX_BACKOFF_MS);
        entry.blocked_until = now + backoff;
        Some(backoff)
    }

    fn forget(&mut self, key: &K) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.count = 0;
            entry.blocked_until = 0;
        }
    }
}

/// Which throttle refused a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// Too many failures for this username.
    Account,
    /// Too many failures from this client address.
    Address,
}

impl ThrottleScope {
    /// The name the audit log uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// Both throttles; keys are the lower-cased username (known or not, so unknown names
/// behave like known ones) and the client address (IPv6 by its /64).
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    accounts: Mutex<Throttle<String>>,
    addresses: Mutex<Throttle<IpAddr>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            accounts: Mutex::new(Throttle::new(ACCOUNT_FREE_FAILURES)),
            addresses: Mutex::new(Throttle::new(ADDRESS_FREE_FAILURES)),
        }
    }
}

/// The username as the throttle keys it.
fn account_key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(64).collect()
}

/// An IPv6 client can use a whole /64, so that is what is counted.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// One sign-in attempt in flight; dropping it ends the attempt in both throttles.
pub(crate) struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    account: String,
    address: Option<IpAddr>,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        lock(&self.throttle.accounts).end(&self.account);
        if let Some(addr) = &self.address {
            lock(&self.throttle.addresses).end(addr);
        }
    }
}

impl LoginThrottle {
    /// Starts a sign-in for `username` from `addr`, or says why and how long (ms) it
    /// must wait.
    pub fn begin(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now: i64,
    ) -> Result<Attempt<'_>, (ThrottleScope, i64)> {
        let account = account_key(username);
        lock(&self.accounts)
            .begin(&account, now)
            .map_err(|ms| (ThrottleScope::Account, ms))?;
        let address = addr.map(address_key);
        if let Some(addr) = &address {
            if let Err(ms) = lock(&self.addresses).begin(addr, now) {
                lock(&self.accounts).end(&account);
                return Err((ThrottleScope::Address, ms));
            }
        }
        Ok(Attempt {
            throttle: self,
            account,
            address,
        })
    }

    /// Counts a failed sign-in; returns the blocks it starts (for the audit log).
    pub fn fail(&self, attempt: &Attempt<'_>, now: i64) -> Vec<(ThrottleScope, i64)> {
        let mut started = Vec::new();
        if let Some(ms) = lock(&self.accounts).fail(&attempt.account, now) {
            started.push((ThrottleScope::Account, ms));
        }
        if let Some(addr) = &attempt.address {
            if let Some(ms) = lock(&self.addresses).fail(addr, now) {
                started.push((ThrottleScope::Address, ms));
            }
        }
        started
    }

    /// A successful sign-in clears its account's failures (not its address's: one good
    /// account must not reset a guesser's count).
    pub fn succeed(&self, attempt: &Attempt<'_>) {
        lock(&self.accounts).forget(&attempt.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_is_capped() {
        let mut t = Throttle::new(5);
        let key = "k".to_string();
        for _ in 0..4 {
            assert_eq!(t.fail(&key, 0), None);
        }
        assert_eq!(t.fail(&key, 0), Some(1_000));
        assert_eq!(t.blocked_for(&key, 500), Some(500));
        assert_eq!(t.fail(&key, 1_000), Some(2_000));
        assert_eq!(t.fail(&key, 3_000), Some(4_000));
        for _ in 0..40 {
            t.fail(&key, 10_000);
        }
        assert_eq!(t.blocked_for(&key, 10_000), Some(MAX_BACKOFF_MS));
        // An hour without failures starts from zero again.
        let later = 10_000 + FORGET_AFTER_MS;
        assert_eq!(t.fail(&key, later), None);
    }

    #[test]
    fn a_spray_that_fills_the_table_cannot_switch_the_throttle_off() {
        let mut t = Throttle::new(5);
        for n in 0..MAX_TRACKED {
            assert_eq!(t.fail(&n.to_string(), 0), None);
        }
        let target = "admin".to_string();
        for _ in 0..4 {
            assert_eq!(t.begin(&target, 1), Ok(()));
            t.end(&target);
            assert_eq!(t.fail(&target, 1), None);
        }
        assert_eq!(
            t.fail(&target, 1),
            Some(1_000),
            "the target is still counted"
        );
        assert_eq!(t.begin(&target, 2), Err(999));
        assert_eq!(t.keys.len(), MAX_TRACKED);
    }

    #[test]
    fn attempts_in_flight_count_as_possible_failures() {
        let mut t = Throttle::new(3);
        let key = "k".to_string();
        for _ in 0..3 {
            assert_eq!(t.begin(&key, 0), Ok(()));
        }
        // Three guesses are being checked: a fourth waits instead of outrunning them.
        assert_eq!(t.begin(&key, 0), Err(BASE_BACKOFF_MS));
        t.end(&key);
        assert_eq!(t.begin(&key, 0), Ok(()));
        for _ in 0..3 {
            t.fail(&key, 0);
            t.end(&key);
        }
        assert_eq!(t.begin(&key, 10), Err(990));
        // After the block, one attempt at a time.
        assert_eq!(t.begin(&key, 1_000), Ok(()));
        assert_eq!(t.begin(&key, 1_000), Err(BASE_BACKOFF_MS));
        // Ended attempts of a key without failures leave nothing behind.
        let other = "o".to_string();
        assert_eq!(t.begin(&other, 0), Ok(()));
        t.end(&other);
        assert!(!t.keys.contains_key(&other));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = HashPool::new(1, 1).expect("pool");
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let first = pool
            .submit(move |_| {
                let _ = started_tx.send(());
                let _ = hold_rx.recv();
                1
            })
            .expect("first job queued");
        started_rx.recv().expect("worker started");
        // The worker is busy: one job may wait, the next is refused without waiting.
        let second = pool.submit(|_| 2).expect("second job queued");
        let refused = pool.submit(|_| 3);
        assert!(matches!(refused, Err(AppError::Busy)), "{refused:?}");
        hold_tx.send(()).expect("release");
        assert_eq!(first.await.expect("first"), 1);
        assert_eq!(second.await.expect("second"), 2);
        assert_eq!(pool.run(|_| 7).await.expect("free again"), 7);
    }
}
