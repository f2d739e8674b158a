//! Running commands and adding up what the test runners report.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Runs `command` with inherited output; an error names the command when it fails.
pub fn status(command: &mut Command) -> Result<(), String> {
    let shown = describe(command);
    println!("$ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Runs `command` quietly and returns its stdout when it succeeds.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut shown = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}

/// Counts from one line of runner output: cargo test and wasm-bindgen-test-runner print
/// `test result: ok. 3 passed; 0 failed; ...`, node's test runner prints `# pass 3` and
/// `# fail 0` (or `ℹ pass 3` with the spec reporter).
fn counts_in(line: &str) -> Option<(u64, u64)> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("test result: ") {
        let number_before = |word: &str| -> u64 {
            rest.split(';')
                .find_map(|part| part.trim().strip_suffix(word))
                .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
                .unwrap_or(0)
        };
        return Some((number_before(" passed"), number_before(" failed")));
    }
    for prefix in ["# ", "ℹ "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            if let Some(n) = rest.strip_prefix("pass ") {
                return n.trim().parse().ok().map(|n| (n, 0));
            }
            if let Some(n) = rest.strip_prefix("fail ") {
                return n.trim().parse().ok().map(|n| (0, n));
            }
        }
    }
    None
}

/// The steps of `cargo xtask test`, run one after the other; a failing step does not stop
/// the later ones, so one run shows every problem.
pub struct Suite {
    root: PathBuf,
    passed: u64,
    failed: u64,
    report: Vec<String>,
}

impl Suite {
    pub fn new(root: &Path) -> Self {
        Suite {
            root: root.to_path_buf(),
            passed: 0,
            failed: 0,
            report: Vec::new(),
        }
    }

    /// A check without test counts (fmt, clippy): it adds a failure only when it fails.
    pub fn check(&mut self, name: &str, argv: &[&str], env: &[(&str, &str)]) {
        let (ok, _, _) = self.run(name, argv, env);
        if !ok {
            self.failed += 1;
        }
        self.report
            .push(format!("{name}: {}", if ok { "ok" } else { "FAILED" }));
    }

    /// A test suite: its runner's counts are added up. A suite that fails without reporting
    /// a failed test (it did not build, the browser did not start) counts as one failure,
    /// and so does one that ran no test at all. The summary shows how long it took.
    pub fn tests(&mut self, name: &str, argv: &[&str], env: &[(&str, &str)]) {
        let started = Instant::now();
        let (ok, passed, failed) = self.run(name, argv, env);
        let seconds = started.elapsed().as_secs();
        let failed = if (!ok && failed == 0) || passed + failed == 0 {
            failed + 1
        } else {
            failed
        };
        self.passed += passed;
        self.failed += failed;
        self.report.push(format!(
            "{name}: {passed} passed, {failed} failed ({seconds} s)"
        ));
    }

    /// Records a step that could not even start.
    pub fn fail_step(&mut self, name: &str, why: &str) {
        self.failed += 1;
        self.report.push(format!("{name}: FAILED ({why})"));
    }

    fn run(&mut self, name: &str, argv: &[&str], env: &[(&str, &str)]) -> (bool, u64, u64) {
        println!("\n=== {name}");
        let Some((program, args)) = argv.split_first() else {
            return (false, 0, 0);
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&self.root)
            .stdout(Stdio::piped());
        // Each browser run names exactly one driver: wasm-bindgen-test-runner prefers
        // MSEDGEDRIVER and any `*_REMOTE` (a remote WebDriver) over the one a step sets.
        for driver in [
            "CHROMEDRIVER",
            "GECKODRIVER",
            "SAFARIDRIVER",
            "MSEDGEDRIVER",
            "CHROMEDRIVER_REMOTE",
            "GECKODRIVER_REMOTE",
            "SAFARIDRIVER_REMOTE",
            "MSEDGEDRIVER_REMOTE",
        ] {
            command.env_remove(driver);
        }
        // A database URL of the caller's shell would move the SQLite steps to it.
        command.env_remove("SG_TEST_DATABASE_URL");
        command.env_remove("SG_E2E_DATABASE_URL");
        command.envs(env.iter().copied());
        println!("$ {}", describe(&command));
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                println!("could not start {program}: {e}");
                return (false, 0, 0);
            }
        };
        let (mut passed, mut failed) = (0, 0);
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{line}");
                if let Some((p, f)) = counts_in(&line) {
                    passed += p;
                    failed += f;
                }
            }
        }
        let ok = child.wait().map(|s| s.success()).unwrap_or(false);
        (ok, passed, failed)
    }

    /// Prints the per-step report and the closing count line; the exit code says whether
    /// everything passed.
    pub fn finish(self) -> ExitCode {
        println!("\n=== summary");
        for line in &self.report {
            println!("{line}");
        }
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::counts_in;

    #[test]
    fn reads_cargo_and_wasm_bindgen_test_result_lines() {
        assert_eq!(
            counts_in("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"),
            Some((12, 0))
        );
        assert_eq!(
            counts_in("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some((3, 2))
        );
    }

    #[test]
    fn reads_node_test_runner_totals() {
        assert_eq!(counts_in("# pass 7"), Some((7, 0)));
        assert_eq!(counts_in("# fail 1"), Some((0, 1)));
        assert_eq!(counts_in("ℹ pass 4"), Some((4, 0)));
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(counts_in("running 3 tests"), None);
        assert_eq!(counts_in("# tests 3"), None);
    }
}
