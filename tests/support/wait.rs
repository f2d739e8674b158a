//! Waiting in browser tests: timers, channels and microtasks need real time to run.

/// Sleeps `ms` milliseconds (lets timers, channels and microtasks run).
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Waits up to `timeout_ms` for `condition`, checking every 20 ms.
pub async fn wait_for(timeout_ms: u32, mut condition: impl FnMut() -> bool) -> bool {
    let mut waited = 0;
    while waited <= timeout_ms {
        if condition() {
            return true;
        }
        sleep(20).await;
        waited += 20;
    }
    condition()
}

/// A fresh id per test, so sessions and channels of different tests never meet.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", (js_sys::Math::random() * 1e12) as u64)
}
