//! A throwaway PostgreSQL cluster for the steps that test and measure the server on
//! PostgreSQL: Debian's `postgresql` package (installed when missing), `initdb` into a
//! temporary folder, one server on a free loopback port, one database. Dropping the
//! [`Cluster`] stops the server and deletes the folder, whatever the steps did.
//!
//! PostgreSQL refuses to run as root, so when xtask runs as root every PostgreSQL command
//! runs as the `postgres` user the package creates (through util-linux's `runuser`), in a
//! folder owned by that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// The database every step gets (tests create their own next to it).
const DATABASE: &str = "session_guard";

/// The PostgreSQL client and server programs of one installed major version.
#[derive(Debug, Clone)]
pub struct Programs {
    bin: PathBuf,
}

impl Programs {
    /// The newest `/usr/lib/postgresql/<major>/bin` that holds `initdb` and `pg_ctl`
    /// (Debian puts only the clients on PATH), else a PATH that has them.
    pub fn find() -> Option<Self> {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((major, entry.path().join("bin")))
            })
            .collect();
        versions.sort();
        let from_package = versions.into_iter().rev().map(|(_, bin)| bin);
        let from_path =
            crate::tools::find_on_path("pg_ctl").and_then(|p| p.parent().map(Path::to_path_buf));
        from_package
            .chain(from_path)
            .find(|bin| {
                ["initdb", "pg_ctl", "psql"]
                    .iter()
                    .all(|p| bin.join(p).is_file())
            })
            .map(|bin| Self { bin })
    }

    fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// A running throwaway cluster; dropping it stops the server and deletes its files.
pub struct Cluster {
    programs: Programs,
    dir: PathBuf,
    run_as_postgres: bool,
    port: u16,
    running: bool,
}

impl Cluster {
    /// `initdb` into a fresh temporary folder, start on a free loopback port (no Unix
    /// socket outside the folder, no TCP beyond 127.0.0.1), create the database.
    ///
    /// Durability is off (`fsync`, `synchronous_commit`, `full_page_writes`): the cluster
    /// lives for one run and a crash only loses test data.
    pub fn start(programs: &Programs, run_as_postgres: bool) -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("sg-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = Self {
            programs: programs.clone(),
            dir,
            run_as_postgres,
            port: 0,
            running: false,
        };
        cluster.init_and_start()?;
        Ok(cluster)
    }

    fn init_and_start(&mut self) -> Result<(), String> {
        if self.run_as_postgres {
            run::status(Command::new("chown").arg("postgres:").arg(&self.dir))?;
        }
        let data = self.dir.join("data");
        run::status(
            self.command("initdb")
                .arg("--pgdata")
                .arg(&data)
                .args(["--username", "postgres", "--auth", "trust"])
                .args(["--encoding", "UTF8", "--locale", "C", "--no-sync"]),
        )?;
        // The kernel names a free port; the short gap before PostgreSQL binds it is only
        // a problem when another program takes it meanwhile, and then start-up fails
        // loudly rather than reaching the wrong server.
        self.port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|e| format!("no free loopback port: {e}"))?;
        let options = format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.dir.display(),
            self.port
        );
        run::status(
            self.command("pg_ctl")
                .arg("--pgdata")
                .arg(&data)
                .arg("--log")
                .arg(self.dir.join("server.log"))
                .args(["--wait", "--timeout", "60", "--options", &options, "start"]),
        )
        .map_err(|e| format!("{e}\n{}", self.server_log()))?;
        self.running = true;
        run::status(
            self.psql("postgres")
                .arg("--command")
                .arg(format!("CREATE DATABASE {DATABASE}")),
        )?;
        Ok(())
    }

    /// `postgres://postgres@127.0.0.1:PORT/session_guard`: the server tests create a
    /// fresh database each through it.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// Creates another database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        run::status(
            self.psql("postgres")
                .arg("--command")
                .arg(format!("CREATE DATABASE {name}")),
        )?;
        Ok(self.url_of(name))
    }

    /// `postgres://postgres@127.0.0.1:PORT/<database>`.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's processes: the postmaster (first line of `postmaster.pid`) and its
    /// children (a backend per connection, the background workers).
    pub fn process_ids(&self) -> Vec<u32> {
        let Some(postmaster) = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let children = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        // Field 4 (after the parenthesised name) is the parent.
                        let after_name = stat.rsplit_once(')')?.1.to_owned();
                        after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(postmaster)
            });
        std::iter::once(postmaster).chain(children).collect()
    }

    /// `psql` connected to `database` over loopback, stopping at the first error.
    pub fn psql(&self, database: &str) -> Command {
        let mut command = self.command("psql");
        command
            .args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"])
            .args(["--host", "127.0.0.1", "--username", "postgres"])
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dbname")
            .arg(database);
        command
    }

    /// A PostgreSQL program, run as the `postgres` user when xtask runs as root.
    fn command(&self, program: &str) -> Command {
        let path = self.programs.program(program);
        if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            // `immediate`: nothing here needs a clean shutdown checkpoint.
            let _ = self
                .command("pg_ctl")
                .arg("--pgdata")
                .arg(self.dir.join("data"))
                .args(["--mode", "immediate", "--wait", "stop"])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        run::output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
    }

    /// `cargo xtask test` installs PostgreSQL before the native tests; without it this
    /// test fails, it does not skip.
    #[test]
    fn a_cluster_serves_its_database_on_loopback_and_is_gone_after_drop() {
        let programs =
            Programs::find().expect("PostgreSQL is installed (cargo xtask test installs it)");
        let cluster = Cluster::start(&programs, is_root()).expect("cluster starts");
        let url = cluster.url();
        assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
        let answer = run::output(cluster.psql(DATABASE).args([
            "--tuples-only",
            "--no-align",
            "--command",
            "SELECT current_database()",
        ]))
        .expect("psql answers");
        assert_eq!(answer.trim(), DATABASE);
        let dir = cluster.dir.clone();
        let port = cluster.port;
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        drop(cluster);
        assert!(!dir.exists(), "{} is left behind", dir.display());
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server still listens on {port}"
        );
    }
}
