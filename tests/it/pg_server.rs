//! A PostgreSQL server of a test's (or a benchmark's) own, from Debian's
//! `postgresql` package: `initdb` into a temp dir and `pg_ctl start` on a
//! loopback port (its socket in the same dir), stopped when dropped.
//!
//! Standalone (std, tempfile, nix): the integration tests use it through
//! `support` (`Postgres::start`), the bridge benchmark
//! (`bench/bridge/main.rs`) includes this file by path.
//!
//! Decisions: tests run without fsync (nothing of theirs must survive a
//! power cut, and fsync on this shared disk only adds stalls); the
//! benchmark runs with PostgreSQL's durable defaults ([`Settings::DURABLE`]),
//! as the SQLite bridge it is compared with fsyncs every acknowledgement.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server. As root (CI containers) it runs as the package's
/// `postgres` user, which `initdb` insists on. Password authentication over
/// TCP, so the URL carries a password as in production.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_user: Option<&'static str>,
}

/// The password of the database user `outpost`.
pub const PG_PASSWORD: &str = "pg-S3cret-DoNotLeak";

/// How the server is set up.
pub struct Settings {
    /// `fsync`, `synchronous_commit` and `full_page_writes` on (the
    /// server's defaults) rather than off.
    pub durable: bool,
    /// `shared_buffers` (the server's default is 128MB).
    pub shared_buffers: &'static str,
    /// The directory the data dir is made in; `None`: the system temp dir.
    /// It must be one the `postgres` user can reach when run as root.
    pub parent: Option<&'static str>,
}

impl Settings {
    /// For tests: no fsync, small buffers, in the system temp dir.
    pub const TEST: Settings = Settings {
        durable: false,
        shared_buffers: "16MB",
        parent: None,
    };
    /// For the benchmark: a commit is on disk before it is answered, the
    /// data dir in the working directory (the disk the SQLite state is on).
    pub const DURABLE: Settings = Settings {
        durable: true,
        shared_buffers: "128MB",
        parent: Some("."),
    };
}

impl Postgres {
    /// Starts a server on loopback `port`; panics naming the Debian package
    /// when the programs are missing or the server does not start.
    pub fn launch(port: u16, settings: &Settings) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut versions: Vec<PathBuf> = d
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                    .collect();
                versions.sort();
                versions.pop()
            })
            .unwrap_or_else(|| {
                panic!("initdb/pg_ctl not found under /usr/lib/postgresql/*/bin: install the Debian package `postgresql` (apt-get install -y postgresql); the README's test command does this")
            });
        let dir = match settings.parent {
            Some(parent) => tempfile::Builder::new()
                .prefix("postgres-")
                .tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .unwrap();
        let as_user = nix::unistd::geteuid().is_root().then_some("postgres");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).unwrap();
        if let Some(user) = as_user {
            let ok = Command::new("chown")
                .args(["-R", user])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chown {user} {}: the `postgresql` package creates the user",
                dir.path().display()
            );
        }
        let pg = Postgres {
            dir,
            port,
            bin,
            as_user,
        };
        let data = pg.dir.path().join("data");
        let mut initdb = vec![
            "-D",
            data.to_str().unwrap(),
            "-U",
            "outpost",
            "--pwfile",
            pwfile.to_str().unwrap(),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        ];
        if !settings.durable {
            initdb.push("--no-sync");
        }
        pg.tool("initdb", &initdb);
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c shared_buffers={} -c max_connections=200",
            pg.port,
            pg.dir.path().display(),
            settings.shared_buffers
        );
        if !settings.durable {
            opts.push_str(" -c fsync=off");
        }
        let log = pg.dir.path().join("server.log");
        pg.tool(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        pg
    }

    /// The directory holding the data dir, the socket and the server log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command running one of the server's programs (as `postgres` when
    /// root).
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        }
    }

    /// Runs one of the server's programs; panics with its output when it
    /// fails.
    fn tool(&self, name: &str, args: &[&str]) {
        let out = self
            .command(name)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e} (Debian package `postgresql`)"));
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "{name} failed (Debian package `postgresql`): {}{}\nserver log:\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of database `postgres` as user `outpost`, with its password.
    pub fn url(&self) -> String {
        format!(
            "postgres://outpost:{PG_PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// The server's process ids (postmaster first, then its children:
    /// backends, WAL writer, checkpointer…), for CPU accounting.
    pub fn pids(&self) -> Vec<u32> {
        let pidfile = self.dir.path().join("data/postmaster.pid");
        let Some(main) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let mut pids = vec![main];
        let children = format!("/proc/{main}/task/{main}/children");
        if let Ok(list) = std::fs::read_to_string(children) {
            pids.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        pids
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
