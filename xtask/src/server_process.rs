//! A reference server started by a benchmark: on a free loopback port, stopped with SIGTERM,
//! killed if the benchmark fails before it stops it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running server and the address it printed on its first line.
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:PORT`, as the server announced it.
    pub addr: String,
}

impl ServerProcess {
    /// Starts `command` (the server binary with its options; it must listen on
    /// `127.0.0.1:0`) and waits for the line that names its address.
    pub fn spawn(command: &mut Command) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("server output: {e}"))?;
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|a| a.starts_with("127.0.0.1:"))
            .ok_or_else(|| format!("unexpected server output: {line}"))?
            .to_string();
        Ok(Self { child, addr })
    }

    /// The server's process id, for reading its CPU time and memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server the way an operator would and waits for it to exit.
    pub fn stop(&mut self) {
        // The shell's builtin `kill` (no procps needed); SIGTERM lets it shut down cleanly.
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A memory figure of process `pid` in KiB, from `/proc/{pid}/status`: `field` is `VmRSS`
/// (resident now) or `VmHWM` (the peak).
pub fn memory_kib(pid: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read the server's memory: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{field} missing in /proc/{pid}/status"))
}
