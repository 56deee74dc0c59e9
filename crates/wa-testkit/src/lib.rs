//! Helpers for the workspace's tests that run Node.js peers from `interop/`: where the npm peers
//! are installed, and whether a test may skip because Node.js (or an npm package) is missing.
//!
//! A dev-dependency of the crates whose tests run those peers; never published. A test that may
//! run without Node.js asks [`node_missing`] first and, on a machine without it, skips, saying so
//! on stderr. `cargo xtask ci` installs Node.js and the peers first and sets [`REQUIRE_NODE`],
//! which turns every such skip into a failure, so no peer test passes there without running.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that makes a missing `node` (or npm package) fail a test instead of
/// skipping it: `cargo xtask ci` sets it, having installed both. Any value counts.
pub const REQUIRE_NODE: &str = "WA_TEST_REQUIRE_NODE";

/// `<workspace>/interop`, where `cargo xtask setup` runs `npm ci`.
///
/// # Panics
///
/// When a package of `packages` (an npm name such as `baileys` or `@adiwajshing/baileys`) is not
/// installed under `interop/node_modules/`, naming the missing ones.
pub fn interop_dir(packages: &[&str]) -> PathBuf {
    let dir = interop_root();
    let modules = dir.join("node_modules");
    let missing: Vec<String> = packages
        .iter()
        .filter(|package| !modules.join(package).is_dir())
        .map(|package| format!("interop/node_modules/{package}"))
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: run `cargo xtask setup` (it runs `npm ci` in interop/)",
        missing.join(", ")
    );
    dir
}

/// Whether `node` cannot be started, in which case the calling test should return at once: it
/// prints `skipped: ...` to stderr first.
///
/// # Panics
///
/// When `node` is missing and [`REQUIRE_NODE`] is set.
pub fn node_missing() -> bool {
    if Command::new("node").arg("--version").output().is_ok() {
        return false;
    }
    skip_unless_required(
        "`node` is not installed",
        "installs Node.js",
        node_required(),
    );
    true
}

/// Whether the npm package `package` is not installed under `interop/node_modules/`, in which
/// case the calling test should return at once: it prints `skipped: ...` to stderr first. For a
/// test that may run without the package; the others call [`interop_dir`].
///
/// # Panics
///
/// When the package is missing and [`REQUIRE_NODE`] is set.
pub fn npm_package_missing(package: &str) -> bool {
    if interop_root().join("node_modules").join(package).is_dir() {
        return false;
    }
    skip_unless_required(
        &format!("`{package}` is not installed (`npm ci` in interop/)"),
        "runs `npm ci` in interop/",
        node_required(),
    );
    true
}

fn interop_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

fn node_required() -> bool {
    std::env::var_os(REQUIRE_NODE).is_some()
}

/// Says on stderr that a test skips for want of `missing`; when `required`, fails the test
/// instead, saying that `cargo xtask ci` `ci_does` (e.g. "installs Node.js") before the tests.
fn skip_unless_required(missing: &str, ci_does: &str, required: bool) {
    assert!(
        !required,
        "{missing}, and {REQUIRE_NODE} is set: `cargo xtask ci` {ci_does} before the tests, so a \
         test that needs it must not pass unrun"
    );
    eprintln!("skipped: {missing}");
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

    #[test]
    fn a_skip_is_reported_when_not_required() {
        skip_unless_required("`nothing` is not installed", "installs nothing", false);
    }

    #[test]
    #[should_panic(
        expected = "`nothing` is not installed, and WA_TEST_REQUIRE_NODE is set: \
                               `cargo xtask ci` installs nothing before the tests"
    )]
    fn a_skip_fails_the_test_when_required() {
        skip_unless_required("`nothing` is not installed", "installs nothing", true);
    }
}
