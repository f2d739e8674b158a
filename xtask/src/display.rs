//! A virtual X display for the engine without a headless mode (WebKitGTK's MiniBrowser).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// An Xvfb server that this process started; dropping it stops the server.
pub struct VirtualDisplay {
    child: Child,
    name: String,
}

impl VirtualDisplay {
    /// Starts Xvfb on the first free display number: `-displayfd 1` makes it pick one and
    /// write the number to its stdout once it accepts connections, so there is no guessing
    /// and no race with other displays on the machine. Local connections only.
    pub fn start() -> Result<Self, String> {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting Xvfb: {e}"))?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|stdout| BufReader::new(stdout).read_line(&mut line));
        let number = line.trim();
        if !matches!(read, Some(Ok(_)))
            || number.is_empty()
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("Xvfb did not report a display (read {line:?})"));
        }
        Ok(VirtualDisplay {
            name: format!(":{number}"),
            child,
        })
    }

    /// The value for `DISPLAY`, such as `:99`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
