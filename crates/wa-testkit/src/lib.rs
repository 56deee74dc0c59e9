//! Helpers for the workspace's tests that run Node.js peers from `interop/`: where the npm peers
//! are installed, and whether a test may skip because Node.js (or an npm package) is missing.
//!
//! A dev-dependency of the crates whose tests run those peers; never published. A test that may
//! run without Node.js asks [`node_missing`] first and, on a machine without it, skips, saying so
//! on stderr.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<workspace>/interop`, where `cargo xtask setup` runs `npm ci`.
///
/// # Panics
///
/// When a package of `packages` (an npm name such as `baileys` or `@adiwajshing/baileys`) is not
/// installed under `interop/node_modules/`, naming the missing ones; with no packages, when
/// `interop/node_modules` itself is missing.
pub fn interop_dir(packages: &[&str]) -> PathBuf {
    let dir = interop_root();
    let modules = dir.join("node_modules");
    let mut missing: Vec<String> = packages
        .iter()
        .filter(|package| !modules.join(package).is_dir())
        .map(|package| format!("interop/node_modules/{package}"))
        .collect();
    if packages.is_empty() && !modules.is_dir() {
        missing.push("interop/node_modules".to_owned());
    }
    assert!(
        missing.is_empty(),
        "missing {}: run `cargo xtask setup` (it runs `npm ci` in interop/)",
        missing.join(", ")
    );
    dir
}

/// Whether `node` cannot be started, in which case the calling test should return at once: it
/// prints `skipped: ...` to stderr first.
pub fn node_missing() -> bool {
    if Command::new("node").arg("--version").output().is_ok() {
        return false;
    }
    eprintln!("skipped: `node` is not installed");
    true
}

/// Whether the npm package `package` is not installed under `interop/node_modules/`, in which
/// case the calling test should return at once: it prints `skipped: ...` to stderr first. For a
/// test that may run without the package; the others call [`interop_dir`].
pub fn npm_package_missing(package: &str) -> bool {
    if interop_root().join("node_modules").join(package).is_dir() {
        return false;
    }
    eprintln!("skipped: `{package}` is not installed (`npm ci` in interop/)");
    true
}

fn interop_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interop_root_is_the_workspace_interop_project() {
        assert!(interop_root().join("package.json").is_file());
    }

    #[test]
    fn interop_dir_names_every_missing_package_and_the_fix() {
        let packages = ["no-such-package-xyz", "@no-such-scope-xyz/peer"];
        let payload = std::panic::catch_unwind(|| interop_dir(&packages)).unwrap_err();
        let message = payload.downcast::<String>().expect("a formatted message");
        for package in packages {
            assert!(
                message.contains(&format!("interop/node_modules/{package}")),
                "{message}"
            );
        }
        assert!(message.contains("cargo xtask setup"), "{message}");
    }
}
