//! Project tasks for session-guard.
//!
//! - `cargo xtask demo [--addr HOST:PORT] [-- SERVER_ARGS...]`: installs what is missing,
//!   builds the console with trunk and serves it with the reference server.
//! - `cargo xtask test`: installs what is missing, then runs every check and test suite and
//!   ends with one line `N passed, N failed`.
//! - `cargo xtask bench`: builds the release console and the bench pages, measures the guard
//!   and react-idle-timer side by side in headless Chromium and prints a JSON report.
//!
//! Every install step looks first and installs only what is absent, so both commands are
//! safe to run again and again on a fresh or a prepared machine.

mod bench;
mod display;
mod login_flood;
mod postgres;
mod run;
mod server_bench;
mod server_process;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use display::VirtualDisplay;
use run::Suite;

const USAGE: &str = "usage: cargo xtask <demo|test|bench> [options]
  demo [--addr HOST:PORT] [-- SERVER_ARGS...]   build the console and serve it with the reference server
  test [--skip-e2e]                             install what is missing, run every check and test suite
  bench [--quick] [--only WORD,...]             measure the guard and react-idle-timer, print a JSON report
                                                (--only login-flood: the sign-in flood, server memory and latency;
                                                 --only server: the server under load on SQLite and PostgreSQL)";

const DEMO_ACCOUNTS: &str = "  admin    / admin-demo-pass     privileged (Administrator role): every Admin Console section (sessions, emergency, users, roles, groups, audit log) + Dashboard; 15 min idle timeout; recorded
  operator / operator-demo-pass  privileged through the Operators group: Admin Console live sessions, terminate, emergency panel only (no user management, no audit log) + Dashboard; 15 min idle timeout; recorded
  viewer   / viewer-demo-pass    not privileged: Dashboard only, no idle timeout, not recorded";

/// The feature that opens the browser adapters to the browser test suites.
const TEST_SUPPORT: &str = "session-guard/test-support";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&workspace_root(), &args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn demo(args: &[String]) -> Result<ExitCode, String> {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut server_args = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--addr" => addr = rest.next().ok_or("--addr needs HOST:PORT")?.clone(),
            "--" => server_args.extend(rest.by_ref().cloned()),
            other => return Err(format!("unknown demo option {other}\n{USAGE}")),
        }
    }
    let root = workspace_root();
    let toolbox = tools::Toolbox::new(&root)?;
    toolbox.ensure_build_tools()?;
    build_console(&root)?;
    build_server(&root)?;
    println!("\nSecure Access Console: http://{addr}/\nDemo accounts:\n{DEMO_ACCOUNTS}\nCtrl-C stops the server.\n");
    // The server handles Ctrl-C itself (graceful shutdown); it shares our terminal's
    // process group, so the same keypress reaches it.
    let status = Command::new(root.join("target/release/session-guard-server"))
        .arg("--addr")
        .arg(&addr)
        .arg("--static-dir")
        .arg(root.join("dist"))
        .args(&server_args)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("starting the server: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `trunk build --release` into `dist/`, never downloading a tool.
fn build_console(root: &Path) -> Result<(), String> {
    run::status(
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .current_dir(root),
    )
}

/// The release server binary, `target/release/session-guard-server`.
fn build_server(root: &Path) -> Result<(), String> {
    run::status(
        Command::new("cargo")
            .args(["build", "--release", "--package", "session-guard-server"])
            .current_dir(root),
    )
}

/// The page of the storage channel end-to-end test (`examples/storage_channel_probe.rs`),
/// built with wasm-bindgen into `target/storage-channel-probe/`.
fn build_channel_probe(root: &Path) -> Result<(), String> {
    run::status(
        Command::new("cargo")
            .args([
                "build",
                "--package",
                "session-guard",
                "--features",
                "test-support",
                "--example",
                "storage_channel_probe",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .current_dir(root),
    )?;
    run::status(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(root.join("target/storage-channel-probe"))
            .arg(
                root.join(
                    "target/wasm32-unknown-unknown/debug/examples/storage_channel_probe.wasm",
                ),
            )
            .current_dir(root),
    )
}

fn test(args: &[String]) -> Result<ExitCode, String> {
    let mut with_e2e = true;
    for arg in args {
        match arg.as_str() {
            "--skip-e2e" => with_e2e = false,
            other => return Err(format!("unknown test option {other}\n{USAGE}")),
        }
    }
    let root = workspace_root();
    let toolbox = tools::Toolbox::new(&root)?;
    toolbox.ensure_build_tools()?;
    toolbox.ensure_browsers()?;
    // The throwaway PostgreSQL clusters of the tests need Debian's server programs.
    let postgres = toolbox.ensure_postgres()?;
    let e2e_dir = root.join("e2e");
    let e2e_present = e2e_dir.join("package.json").is_file();
    if with_e2e && e2e_present {
        toolbox.ensure_node_packages(&e2e_dir)?;
        toolbox.ensure_node_packages(&e2e_dir.join("webdriver"))?;
    }

    let wasm = "wasm32-unknown-unknown";
    let mut suite = Suite::new(&root);
    suite.check("rustfmt", &["cargo", "fmt", "--all", "--check"], &[]);
    suite.check(
        "clippy (native)",
        &[
            "cargo",
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    );
    suite.check(
        "clippy (wasm32)",
        &[
            "cargo",
            "clippy",
            "--package",
            "session-guard",
            "--package",
            "session-guard-console",
            "--package",
            "session-guard-bench-pages",
            "--features",
            TEST_SUPPORT,
            "--target",
            wasm,
            "--lib",
            "--bins",
            "--tests",
            "--examples",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    );
    // The library as embedders build it, without the test hooks: adapters that only the
    // test suites use would be dead code here.
    suite.check(
        "clippy (wasm32, library without test-support)",
        &[
            "cargo",
            "clippy",
            "--package",
            "session-guard",
            "--package",
            "session-guard-console",
            "--target",
            wasm,
            "--lib",
            "--bins",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    );
    // The README's usage, built for the only target it runs on (doctests are not).
    suite.check(
        "usage example (wasm32 build)",
        &[
            "cargo",
            "build",
            "--package",
            "session-guard",
            "--example",
            "embedding",
            "--target",
            wasm,
        ],
        &[],
    );
    suite.tests(
        "native tests",
        &["cargo", "test", "--workspace", "--all-targets"],
        &[],
    );
    suite.tests("doc tests", &["cargo", "test", "--workspace", "--doc"], &[]);
    // The server suite once more on PostgreSQL, and later the two-instance end-to-end
    // scenarios: one throwaway cluster, stopped and deleted when `cluster` drops at the
    // end of this function (also when a step fails).
    let cluster = postgres::Cluster::start(&postgres, toolbox.is_root_user());
    match &cluster {
        Ok(cluster) => suite.tests(
            "server tests (PostgreSQL)",
            // `--include-ignored`: the multi-instance tests exist only on PostgreSQL.
            &[
                "cargo",
                "test",
                "--package",
                "session-guard-server",
                "--tests",
                "--",
                "--include-ignored",
            ],
            &[("SG_TEST_DATABASE_URL", cluster.url().as_str())],
        ),
        Err(message) => suite.fail_step("server tests (PostgreSQL)", message),
    }
    let e2e_database = cluster
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|cluster| cluster.create_database("e2e"));
    let browser_tests = [
        "cargo",
        "test",
        "--package",
        "session-guard",
        "--features",
        TEST_SUPPORT,
        "--target",
        wasm,
        "--lib",
        "--tests",
    ];
    let chromedriver = toolbox.chromedriver()?;
    suite.tests(
        "wasm tests (headless Chromium)",
        &browser_tests,
        &[("CHROMEDRIVER", chromedriver.as_str())],
    );
    let geckodriver = toolbox.geckodriver()?;
    suite.tests(
        "wasm tests (headless Firefox)",
        &browser_tests,
        &[("GECKODRIVER", geckodriver.as_str())],
    );
    // WebKitGTK has no headless mode: its steps share one Xvfb display that is stopped
    // when this function returns.
    let webkit_webdriver = toolbox.webkit_webdriver()?;
    let display = VirtualDisplay::start();
    match &display {
        // wasm-bindgen-test-runner's Safari route drives WebKitWebDriver as it is.
        Ok(display) => suite.tests(
            "wasm tests (WebKit, Xvfb)",
            &browser_tests,
            &[
                ("SAFARIDRIVER", webkit_webdriver.as_str()),
                ("DISPLAY", display.name()),
            ],
        ),
        Err(message) => suite.fail_step("wasm tests (WebKit, Xvfb)", message),
    }
    if with_e2e && e2e_present {
        // The suites drive the release console through the release server they start.
        let built = build_console(&root)
            .and_then(|()| build_server(&root))
            .and_then(|()| build_channel_probe(&root));
        match built {
            Ok(()) => {
                // Without a database the two-instance scenarios fail, loudly.
                let database_env: Vec<(&str, &str)> = e2e_database
                    .as_ref()
                    .map(|url| vec![("SG_E2E_DATABASE_URL", url.as_str())])
                    .unwrap_or_default();
                suite.tests(
                    "end-to-end (playwright-core, Chromium)",
                    &["npm", "test", "--prefix", "e2e"],
                    &database_env,
                );
                // The same WebDriver scenarios in all three engines.
                suite.tests(
                    "end-to-end multi-tab (WebDriver, Chromium)",
                    &["npm", "test", "--prefix", "e2e/webdriver"],
                    &[
                        ("SG_ENGINE", "chromium"),
                        ("CHROMEDRIVER", chromedriver.as_str()),
                    ],
                );
                suite.tests(
                    "end-to-end multi-tab (WebDriver, Firefox)",
                    &["npm", "test", "--prefix", "e2e/webdriver"],
                    &[
                        ("SG_ENGINE", "firefox"),
                        ("GECKODRIVER", geckodriver.as_str()),
                    ],
                );
                match &display {
                    Ok(display) => suite.tests(
                        "end-to-end multi-tab (WebDriver, WebKit, Xvfb)",
                        &["npm", "test", "--prefix", "e2e/webdriver"],
                        &[
                            ("SG_ENGINE", "webkit"),
                            ("WEBKIT_WEBDRIVER", webkit_webdriver.as_str()),
                            ("DISPLAY", display.name()),
                        ],
                    ),
                    Err(message) => {
                        suite.fail_step("end-to-end multi-tab (WebDriver, WebKit)", message)
                    }
                }
            }
            Err(message) => suite.fail_step("builds for end-to-end", &message),
        }
    }
    drop(display);
    drop(cluster);
    Ok(suite.finish())
}
