//! Finding and installing the tools the builds and tests need.
//!
//! Everything comes from the registries this project may reach: rustup's target, crates.io
//! (`cargo install`), Debian's packages (`apt-get`) and npm (`npm ci` from a lock file).
//! Nothing downloads a prebuilt binary or a browser of its own; trunk runs offline and finds
//! wasm-bindgen and wasm-opt on PATH.
//!
//! wasm-opt comes from npm's `binaryen` (pinned in `tools/package.json`): Debian bookworm's
//! binaryen 108 cannot parse the wasm that current rustc emits.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// trunk 0.22 needs a newer rustc than this project's toolchain.
const TRUNK_VERSION: &str = "0.21.14";

/// What is installed where, and the one-time `apt-get update`.
pub struct Toolbox {
    root: PathBuf,
    cargo_bin: PathBuf,
    is_root_user: bool,
    apt_updated: Cell<bool>,
}

impl Toolbox {
    /// Puts cargo's bin folder on PATH for everything started later, so a tool installed
    /// a moment ago is found by trunk and the test runners.
    pub fn new(root: &Path) -> Result<Self, String> {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
            .ok_or("neither CARGO_HOME nor HOME is set")?;
        let cargo_bin = cargo_home.join("bin");
        let npm_bin = root.join("tools/node_modules/.bin");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        for dir in [cargo_bin.clone(), npm_bin] {
            if !dirs.contains(&dir) {
                dirs.insert(0, dir);
            }
        }
        let joined = std::env::join_paths(dirs).map_err(|e| e.to_string())?;
        std::env::set_var("PATH", joined);
        let is_root_user = run::output(Command::new("id").arg("-u"))
            .map(|uid| uid.trim() == "0")
            .unwrap_or(false);
        Ok(Toolbox {
            root: root.to_path_buf(),
            cargo_bin,
            is_root_user,
            apt_updated: Cell::new(false),
        })
    }

    /// wasm32 target, wasm-bindgen-cli matching Cargo.lock, trunk, wasm-opt (npm).
    pub fn ensure_build_tools(&self) -> Result<(), String> {
        // The target belongs to the toolchain `rust-toolchain.toml` pins (rustup installed
        // that toolchain when cargo first ran), named explicitly so that a rustup without
        // the file's override in effect still adds it to the right one.
        let toolchain = self.pinned_toolchain()?;
        let targets = run::output(Command::new("rustup").args([
            "target",
            "list",
            "--installed",
            "--toolchain",
            &toolchain,
        ]))
        .unwrap_or_default();
        if !targets
            .lines()
            .any(|t| t.trim() == "wasm32-unknown-unknown")
        {
            run::status(Command::new("rustup").args([
                "target",
                "add",
                "--toolchain",
                &toolchain,
                "wasm32-unknown-unknown",
            ]))?;
        }
        let bindgen = self.locked_version("wasm-bindgen")?;
        if !self.has_version("wasm-bindgen", &bindgen) {
            // Without --locked: the CLI's own lock file pins crates this toolchain may not build.
            run::status(Command::new("cargo").args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                &bindgen,
            ]))?;
        }
        if !self.has_version("trunk", TRUNK_VERSION) {
            run::status(Command::new("cargo").args([
                "install",
                "trunk",
                "--version",
                TRUNK_VERSION,
                "--locked",
            ]))?;
        }
        self.ensure_node_packages(&self.root.join("tools"))?;
        Ok(())
    }

    /// Chromium with its driver, Firefox ESR, geckodriver, WebKitGTK's WebKitWebDriver
    /// (with the MiniBrowser it drives) and Xvfb for it: WebKitGTK has no headless mode.
    pub fn ensure_browsers(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        if find_on_path("chromium").is_none() {
            missing.push("chromium");
        }
        if find_on_path("chromedriver").is_none() {
            missing.push("chromium-driver");
        }
        if find_on_path("firefox-esr").is_none() && find_on_path("firefox").is_none() {
            missing.push("firefox-esr");
        }
        for (tool, package) in [
            ("WebKitWebDriver", "webkit2gtk-driver"),
            ("Xvfb", "xvfb"),
            ("xauth", "xauth"),
        ] {
            if find_on_path(tool).is_none() {
                missing.push(package);
            }
        }
        if !missing.is_empty() {
            self.apt_install(&missing)?;
        }
        if find_on_path("geckodriver").is_none() {
            run::status(Command::new("cargo").args(["install", "geckodriver"]))?;
        }
        Ok(())
    }

    /// PostgreSQL's server programs (Debian's `postgresql`), for the throwaway cluster of
    /// [`crate::postgres::Cluster`]. Missing after the install is an error, never a skip.
    pub fn ensure_postgres(&self) -> Result<crate::postgres::Programs, String> {
        if let Some(programs) = crate::postgres::Programs::find() {
            return Ok(programs);
        }
        self.apt_install(&["postgresql"])?;
        crate::postgres::Programs::find()
            .ok_or_else(|| "postgresql is installed but initdb, pg_ctl or psql is missing".into())
    }

    /// SQLite's command-line client (Debian's `sqlite3`), which the server bench seeds
    /// its SQLite store with.
    pub fn ensure_sqlite_cli(&self) -> Result<(), String> {
        if find_on_path("sqlite3").is_none() {
            self.apt_install(&["sqlite3"])?;
        }
        Ok(())
    }

    /// Whether xtask runs as root (PostgreSQL then runs as the `postgres` user).
    pub fn is_root_user(&self) -> bool {
        self.is_root_user
    }

    /// Node.js with npm, and the packages of `dir` from its lock file.
    pub fn ensure_node_packages(&self, dir: &Path) -> Result<(), String> {
        if find_on_path("npm").is_none() {
            self.apt_install(&["nodejs", "npm"])?;
        }
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let installed = modified(&dir.join("node_modules/.package-lock.json"));
        let locked = modified(&dir.join("package-lock.json"));
        // Also when the lock file changed after the last install (a package was added or
        // bumped): a present `node_modules` may lack it.
        let stale = match (installed, locked) {
            (Some(installed), Some(locked)) => installed < locked,
            (installed, _) => installed.is_none(),
        };
        if stale {
            run::status(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(dir),
            )?;
        }
        Ok(())
    }

    /// The chromedriver binary, from Debian's chromium-driver.
    pub fn chromedriver(&self) -> Result<String, String> {
        find_on_path("chromedriver")
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| "chromedriver not found".to_string())
    }

    /// The geckodriver binary, from `cargo install geckodriver`.
    pub fn geckodriver(&self) -> Result<String, String> {
        find_on_path("geckodriver")
            .or_else(|| Some(self.cargo_bin.join("geckodriver")).filter(|p| p.is_file()))
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| "geckodriver not found".to_string())
    }

    /// The WebKitWebDriver binary, from Debian's webkit2gtk-driver.
    pub fn webkit_webdriver(&self) -> Result<String, String> {
        find_on_path("WebKitWebDriver")
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| "WebKitWebDriver not found".to_string())
    }

    /// The `channel` that `rust-toolchain.toml` pins.
    fn pinned_toolchain(&self) -> Result<String, String> {
        let file = std::fs::read_to_string(self.root.join("rust-toolchain.toml"))
            .map_err(|e| format!("reading rust-toolchain.toml: {e}"))?;
        file.lines()
            .filter_map(|line| line.trim().strip_prefix("channel"))
            .filter_map(|rest| rest.trim_start().strip_prefix('='))
            .map(|value| value.trim().trim_matches('"').to_string())
            .find(|channel| !channel.is_empty())
            .ok_or_else(|| "rust-toolchain.toml names no channel".to_string())
    }

    /// The version of `package` that Cargo.lock resolved.
    fn locked_version(&self, package: &str) -> Result<String, String> {
        let lock = std::fs::read_to_string(self.root.join("Cargo.lock"))
            .map_err(|e| format!("reading Cargo.lock: {e}"))?;
        let wanted = format!("name = \"{package}\"");
        let mut lines = lock.lines();
        while let Some(line) = lines.next() {
            if line.trim() == wanted {
                if let Some(version) = lines
                    .next()
                    .and_then(|l| l.trim().strip_prefix("version = \""))
                    .and_then(|v| v.strip_suffix('"'))
                {
                    return Ok(version.to_string());
                }
            }
        }
        Err(format!("{package} is not in Cargo.lock"))
    }

    /// Whether `tool --version` names exactly `version`.
    fn has_version(&self, tool: &str, version: &str) -> bool {
        run::output(Command::new(tool).arg("--version"))
            .map(|out| out.split_whitespace().any(|word| word == version))
            .unwrap_or(false)
    }

    fn apt_install(&self, packages: &[&str]) -> Result<(), String> {
        if !self.is_root_user {
            return Err(format!(
                "missing {}: install with `sudo apt-get install {}` and run again",
                packages.join(", "),
                packages.join(" ")
            ));
        }
        if !self.apt_updated.get() {
            run::status(Command::new("apt-get").args(["update", "-qq"]))?;
            self.apt_updated.set(true);
        }
        run::status(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq"])
                .args(packages),
        )
    }
}

/// The first executable named `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
