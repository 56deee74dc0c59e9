//! `cargo xtask msrv`: every package in the lock file must build with the workspace's declared
//! `rust-version`. A dependency that declares a newer one would break `cargo +<msrv> build` for
//! users on the toolchain we promise, and nobody notices on the newest toolchain CI runs; cargo
//! itself only warns about it when resolving with `-Zmsrv-policy`. This reads `cargo metadata`
//! (no build, no toolchain download) and names every offender, so it is cheap enough for `ci`.

use std::cmp::Ordering;
use std::process::Command;

use crate::project_root;

/// A `rust-version`: `major.minor[.patch]`, with an absent patch as 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RustVersion(u32, u32, u32);

impl RustVersion {
    /// Parses `1.85` or `1.85.1`; anything else is `None`.
    pub fn parse(text: &str) -> Option<RustVersion> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(RustVersion(major, minor, patch))
    }
}

impl std::fmt::Display for RustVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A dependency whose declared `rust-version` is newer than the workspace's.
#[derive(Debug, PartialEq, Eq)]
pub struct Offender {
    /// `name version`.
    pub package: String,
    /// What it declares.
    pub rust_version: RustVersion,
}

/// What `cargo metadata` says: the workspace's `rust-version` and the offenders.
///
/// The workspace's version is the newest any member declares (they all inherit one today; the
/// newest is what a user actually needs). Dependencies are the packages with a `source`
/// (registry or git): path packages are ours. Packages that declare no `rust-version` cannot be
/// judged from metadata and are skipped.
pub fn check(metadata: &serde_json::Value) -> Result<(RustVersion, Vec<Offender>), String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no `packages` array")?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no `workspace_members` array")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let declared = |p: &serde_json::Value| p["rust_version"].as_str().and_then(RustVersion::parse);
    let workspace = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(declared)
        .max()
        .ok_or("no workspace member declares a rust-version")?;
    let mut offenders: Vec<Offender> = packages
        .iter()
        .filter(|p| !p["source"].is_null())
        .filter_map(|p| {
            let rust_version = declared(p)?;
            (rust_version.cmp(&workspace) == Ordering::Greater).then(|| Offender {
                package: format!(
                    "{} {}",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                ),
                rust_version,
            })
        })
        .collect();
    offenders.sort_by(|a, b| a.package.cmp(&b.package));
    Ok((workspace, offenders))
}

/// Runs the check on the workspace's lock file; an error lists every offender.
pub fn msrv() -> Result<(), String> {
    let root = project_root();
    eprintln!("\n==> cargo metadata --format-version 1 --locked");
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("could not start cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata output is not JSON: {e}"))?;
    let (workspace, offenders) = check(&metadata)?;
    let count = metadata["packages"].as_array().map_or(0, Vec::len);
    if offenders.is_empty() {
        eprintln!("msrv: all {count} packages accept the workspace's rust-version {workspace}");
        return Ok(());
    }
    let list: Vec<String> = offenders
        .iter()
        .map(|o| format!("  {} needs rust {}", o.package, o.rust_version))
        .collect();
    Err(format!(
        "{} dependencies need a newer Rust than the workspace's rust-version {workspace}:\n{}\n\
         pin an older version (`cargo update -p NAME --precise VERSION`, or the requirement in \
         Cargo.toml) or raise rust-version in the root Cargo.toml",
        offenders.len(),
        list.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(id: &str, name: &str, rust: Option<&str>, registry: bool) -> serde_json::Value {
        serde_json::json!({
            "id": id,
            "name": name,
            "version": "1.0.0",
            "rust_version": rust,
            "source": registry.then_some("registry+https://github.com/rust-lang/crates.io-index"),
        })
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(RustVersion::parse("1.85"), Some(RustVersion(1, 85, 0)));
        assert_eq!(RustVersion::parse("1.85.1"), Some(RustVersion(1, 85, 1)));
        assert!(RustVersion::parse("1").is_none());
        assert!(RustVersion::parse("1.85.1.2").is_none());
        assert!(RustVersion::parse("1.x").is_none());
        assert!(RustVersion(1, 86, 0) > RustVersion(1, 85, 9));
        assert!(RustVersion(1, 85, 1) > RustVersion(1, 85, 0));
    }

    #[test]
    fn names_every_newer_dependency_and_only_those() {
        let metadata = serde_json::json!({
            "workspace_members": ["ours"],
            "packages": [
                package("ours", "wa", Some("1.85"), false),
                package("a", "older", Some("1.70"), true),
                package("b", "same", Some("1.85.0"), true),
                package("c", "newer", Some("1.86"), true),
                package("d", "patch", Some("1.85.1"), true),
                package("e", "undeclared", None, true),
                // A path package that is not a member (an example crate) is ours too.
                package("f", "local", Some("1.90"), false),
            ],
        });
        let (workspace, offenders) = check(&metadata).unwrap();
        assert_eq!(workspace, RustVersion(1, 85, 0));
        let names: Vec<&str> = offenders.iter().map(|o| o.package.as_str()).collect();
        assert_eq!(names, ["newer 1.0.0", "patch 1.0.0"]);
        assert_eq!(offenders[0].rust_version, RustVersion(1, 86, 0));
    }

    #[test]
    fn no_declared_workspace_version_is_an_error() {
        let metadata = serde_json::json!({
            "workspace_members": ["ours"],
            "packages": [package("ours", "wa", None, false)],
        });
        assert!(check(&metadata).is_err());
    }
}
