//! A throwaway PostgreSQL server for the store tests, the store soak and the store benchmark.
//!
//! Debian's server binaries live in `/usr/lib/postgresql/<major>/bin` (not on `PATH`). We
//! `initdb` a cluster under `target/`, start it with `pg_ctl` on a free loopback port (and a
//! private socket directory), and stop and delete it when the [`Server`] is dropped. PostgreSQL
//! refuses to run as root, so as root every server command runs as the `postgres` user
//! (`runuser`), which owns the cluster directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// A running throwaway server; stopped and deleted on drop.
pub struct Server {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    port: u16,
}

/// The newest `/usr/lib/postgresql/<major>/bin` that has `initdb` and `pg_ctl`.
pub fn find_bin() -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A port the kernel just handed out on loopback (free when we asked).
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Server {
    /// Runs a server command, as `postgres` when we are root.
    fn pg(&self, dir: &Path, tool: &str, args: &[&str]) -> Result<(), String> {
        let tool = self.bin.join(tool).to_string_lossy().into_owned();
        if self.as_postgres {
            let mut full = vec!["-u", "postgres", "--", tool.as_str()];
            full.extend(args);
            run(dir, "runuser", &full, &[])
        } else {
            run(dir, &tool, args, &[])
        }
    }

    /// Creates and starts a cluster under `<root>/target/`.
    pub fn start(root: &Path) -> Result<Server, String> {
        let bin = find_bin().ok_or(
            "no PostgreSQL server under /usr/lib/postgresql (`cargo xtask setup` installs it)",
        )?;
        let port = free_port()?;
        let dir = root.join("target").join(format!("pg-test-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let as_postgres = is_root();
        let server = Server {
            bin,
            dir: dir.clone(),
            as_postgres,
            port,
        };
        if as_postgres {
            run(
                root,
                "chown",
                &["postgres:postgres", &dir.to_string_lossy()],
                &[],
            )?;
        }
        let data = dir.join("data").to_string_lossy().into_owned();
        let sockets = dir.to_string_lossy().into_owned();
        // Trust on loopback: a throwaway cluster for tests, reachable only from this machine.
        server.pg(
            &dir,
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "wa",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let options =
            format!("-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c max_connections=200");
        let log = dir.join("server.log").to_string_lossy().into_owned();
        server.pg(
            &dir,
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        )?;
        Ok(server)
    }

    /// The URL the tests read from `WA_TEST_POSTGRES_URL`.
    pub fn url(&self) -> String {
        format!("postgres://wa@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = self.pg(
            &self.dir.clone(),
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The URL to test against: `WA_TEST_POSTGRES_URL` when set, else a server of our own (kept
/// running while the returned guard lives).
pub fn url_for_tests(root: &Path) -> Result<(String, Option<Server>), String> {
    if let Ok(url) = std::env::var("WA_TEST_POSTGRES_URL") {
        if !url.is_empty() {
            return Ok((url, None));
        }
    }
    let server = Server::start(root)?;
    Ok((server.url(), Some(server)))
}
