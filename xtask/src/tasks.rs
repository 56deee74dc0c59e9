//! The commands behind `cargo xtask`.

use std::path::Path;
use std::time::Instant;

use crate::{NODE_PREFIX, have, node_package, project_root, run};

/// Everything CI runs, in order, stopping at the first failure.
pub fn ci() -> Result<(), String> {
    let started = Instant::now();
    let root = project_root();
    setup()?;
    // A CI build is built once: incremental caches would only double the disk it needs.
    let once = ("CARGO_INCREMENTAL", "0");
    // setup() has installed Node.js and the npm peers: a test that needs them must run, not skip
    // (wa-testkit's REQUIRE_NODE).
    let require_node = ("WA_TEST_REQUIRE_NODE", "1");
    run(&root, "cargo", &["fmt", "--all", "--", "--check"], &[])?;
    // The fuzz crate is its own workspace: `--all` above does not reach it.
    run(&root.join("fuzz"), "cargo", &["fmt", "--", "--check"], &[])?;
    // Cheap (metadata only): a dependency newer than our rust-version fails before any build.
    crate::msrv::msrv()?;
    run(
        &root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[once],
    )?;
    run(
        &root,
        "cargo",
        &["test", "--workspace", "--locked"],
        &[once, require_node],
    )?;
    // wa-store against a real PostgreSQL (ours, unless WA_TEST_POSTGRES_URL names one).
    let (url, _server) = crate::postgres::url_for_tests(&root)?;
    run(
        &root,
        "cargo",
        &["test", "-p", "wa-store", "--all-features", "--locked"],
        &[once, require_node, ("WA_TEST_POSTGRES_URL", &url)],
    )?;
    // The default `Client` on PostgreSQL (both runtime flavours, restart, lease, logout).
    run(
        &root,
        "cargo",
        &[
            "test",
            "-p",
            "wa-client",
            "--features",
            "postgres",
            "--test",
            "md_client_postgres",
            "--locked",
        ],
        &[once, require_node, ("WA_TEST_POSTGRES_URL", &url)],
    )?;
    // `wa login --md --store postgres://...` and its lease, as two real processes; `wa serve
    // --store postgres://...` resuming a session after a restart.
    run(
        &root,
        "cargo",
        &[
            "test",
            "-p",
            "wa-cli",
            "--test",
            "md_cli",
            "--test",
            "serve_md_remote",
            "--locked",
        ],
        &[once, require_node, ("WA_TEST_POSTGRES_URL", &url)],
    )?;
    run(
        &root,
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings"), once],
    )?;
    fuzz_smoke(10)?;
    eprintln!("\nxtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Installs what the tests need when it is missing: Node.js and npm (Debian's, and Node.js 20
/// from the npm registry under [`NODE_PREFIX`] when that is older), the npm peers and
/// playwright-core (`npm ci` in `interop/`), Debian's Chromium for the web client's browser test
/// (apt-get, as root or with passwordless sudo; not when `CHROMIUM` names a browser, which the
/// test then uses), cargo-fuzz, and schemathesis (PyPI, in a venv under `target/`) for the HTTP
/// API fuzz test. Already-present tools are left alone, so this is cheap on a warm machine.
pub fn setup() -> Result<(), String> {
    let root = project_root();
    let interop = root.join("interop");
    if !have("node") || !have("npm") {
        apt_install(
            &root,
            &["nodejs", "npm"],
            "node and npm (the interop tests' peers)",
        )?;
    }
    // Baileys 7 and playwright-core need Node.js 20; Debian 12's own nodejs is 18. An older
    // one gets a Node.js 20 beside it from the npm registry, which `command` puts first on PATH.
    if node_major().is_none_or(|major| major < 20) {
        install_node(&root)?;
    }
    match node_major() {
        Some(major) if major >= 20 => {}
        found => {
            return Err(format!(
                "the interop tests need Node.js 20 or newer (found {}); the one installed from \
                 the npm registry under {NODE_PREFIX} did not run: install Node.js 20 from \
                 NodeSource or nodejs.org",
                found.map_or("none".to_owned(), |m| format!("major version {m}"))
            ));
        }
    }
    // Install when node_modules is missing or older than the lock file (a checkout that gained a
    // package, e.g. @signalapp/libsignal-client, must not run on the old set).
    let installed = interop.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&installed),
        modified(&interop.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    };
    if stale || !interop.join("node_modules/playwright-core").is_dir() {
        run(
            &interop,
            "npm",
            &["ci", "--omit=peer", "--no-audit", "--no-fund"],
            &[],
        )?;
    }
    // The web client's browser test drives `$CHROMIUM`, else Debian's Chromium.
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        apt_install(
            &root,
            &["chromium"],
            "Chromium (the web client's browser test)",
        )?;
    }
    if crate::postgres::find_bin().is_none() {
        apt_install(
            &root,
            &["postgresql"],
            "PostgreSQL (wa-store's PostgreSQL tests start a server of their own)",
        )?;
    }
    if !cargo_succeeds(&["fuzz", "--version"]) {
        run(&root, "cargo", &["install", "cargo-fuzz", "--locked"], &[])?;
    }
    install_schemathesis(&root)
}

/// The schemathesis that `wa serve`'s API fuzz test runs (crates/wa-cli/tests/serve_hardening.rs
/// looks for it here); pinned so CI runs the same checks every time.
const SCHEMATHESIS_VENV: &str = "target/schemathesis";
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

fn install_schemathesis(root: &Path) -> Result<(), String> {
    let venv = root.join(SCHEMATHESIS_VENV);
    if venv.join("bin/schemathesis").exists() {
        return Ok(());
    }
    let has_venv = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_venv {
        apt_install(
            root,
            &["python3", "python3-venv"],
            "python3 with venv (schemathesis, the API fuzz test)",
        )?;
    }
    let venv_arg = venv.to_string_lossy().into_owned();
    run(root, "python3", &["-m", "venv", &venv_arg], &[])?;
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    run(
        root,
        &pip,
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ],
        &[],
    )
}

/// The Node.js that set-up installs when the machine's is older than 20: the version CI runs,
/// published on the npm registry as `node-linux-<arch>` (the binary alone).
const NODE_VERSION: &str = "20.20.2";

/// Installs Node.js [`NODE_VERSION`] under [`NODE_PREFIX`] with the machine's npm.
fn install_node(root: &Path) -> Result<(), String> {
    let package = node_package().ok_or_else(|| {
        format!(
            "no Node.js package on the npm registry for {} {}: install Node.js 20",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    })?;
    let package = format!("{package}@{NODE_VERSION}");
    let prefix = root.join(NODE_PREFIX).to_string_lossy().into_owned();
    run(
        root,
        "npm",
        &[
            "install",
            "--prefix",
            &prefix,
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            &package,
        ],
        &[],
    )
}

/// The major version `node --version` prints (`v20.20.2` → 20), for the `node` that the
/// commands run from here find.
fn node_major() -> Option<u32> {
    let output = crate::command("node").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Installs Debian `packages` with apt-get, as root or through passwordless sudo; otherwise
/// fails saying what to run.
fn apt_install(root: &Path, packages: &[&str], what: &str) -> Result<(), String> {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let sudo = !is_root
        && std::process::Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !have("apt-get") || !(is_root || sudo) {
        return Err(format!(
            "{what} missing and cannot be installed here (needs apt-get as root or with \
             passwordless sudo): run `sudo apt-get update && sudo apt-get install -y {}`",
            packages.join(" ")
        ));
    }
    let (program, prefix): (&str, &[&str]) = if is_root {
        ("apt-get", &[])
    } else {
        ("sudo", &["DEBIAN_FRONTEND=noninteractive", "apt-get"])
    };
    let mut update = prefix.to_vec();
    update.push("update");
    run(root, program, &update, &[])?;
    let mut install = prefix.to_vec();
    install.extend(["install", "-y"]);
    install.extend(packages);
    run(
        root,
        program,
        &install,
        &[("DEBIAN_FRONTEND", "noninteractive")],
    )
}

/// Whether `cargo` with `args` runs and succeeds (a subcommand or toolchain is installed).
fn cargo_succeeds(args: &[&str]) -> bool {
    std::process::Command::new("cargo")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs every target under `fuzz/fuzz_targets` for `seconds`, starting from its committed seed
/// corpus in `fuzz/corpus/<target>` (new inputs go to a scratch directory, not the repository).
///
/// cargo-fuzz needs unstable rustc flags; `RUSTC_BOOTSTRAP=1` lets the stable toolchain accept
/// them, so no nightly toolchain is required.
pub fn fuzz_smoke(seconds: u32) -> Result<(), String> {
    let root = project_root();
    let fuzz = root.join("fuzz");
    let targets = fuzz_targets(&fuzz)?;
    if targets.is_empty() {
        return Err("no fuzz targets found under fuzz/fuzz_targets".into());
    }
    let bootstrap = [("RUSTC_BOOTSTRAP", "1")];
    run(
        &root,
        "cargo",
        &["fuzz", "build", "--sanitizer", "none"],
        &bootstrap,
    )?;
    let scratch = std::env::temp_dir().join(format!("wa-fuzz-{}", std::process::id()));
    let max_time = format!("-max_total_time={seconds}");
    for target in &targets {
        let new_inputs = scratch.join(target);
        std::fs::create_dir_all(&new_inputs)
            .map_err(|e| format!("{}: {e}", new_inputs.display()))?;
        let seeds = fuzz.join("corpus").join(target);
        let new_inputs = new_inputs.to_string_lossy().into_owned();
        let seeds = seeds.to_string_lossy().into_owned();
        let mut args = vec![
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            target.as_str(),
            &new_inputs,
        ];
        if Path::new(&seeds).is_dir() {
            args.push(&seeds);
        }
        args.extend(["--", &max_time]);
        run(&root, "cargo", &args, &bootstrap)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn fuzz_targets(fuzz: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

/// wa-store's crash test with `kills` SIGKILLs per backend, against SQLite and a PostgreSQL of
/// our own (or `WA_TEST_POSTGRES_URL`).
pub fn store_soak(kills: &str) -> Result<(), String> {
    let root = project_root();
    let (url, _server) = crate::postgres::url_for_tests(&root)?;
    run(
        &root,
        "cargo",
        &[
            "test",
            "-p",
            "wa-store",
            "--features",
            "postgres",
            "--test",
            "crash",
            "--",
            "--nocapture",
        ],
        &[("WA_TEST_POSTGRES_URL", &url), ("WA_STORE_KILLS", kills)],
    )
}

/// wa-store's benchmark: decrypt-and-commit operations per second on memory, SQLite and
/// PostgreSQL in one run (release build).
pub fn bench_store() -> Result<(), String> {
    let root = project_root();
    let (url, _server) = crate::postgres::url_for_tests(&root)?;
    run(
        &root,
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "wa-store",
            "--features",
            "postgres",
            "--example",
            "bench_store",
        ],
        &[("WA_TEST_POSTGRES_URL", &url)],
    )
}

/// Runs `wa-binary`'s `unsafe` module (`frame`: the shared frame's count) and the code that
/// hands its references out and back (spans in `blob`, the owned decoder, the list cache's
/// reclaim) under Miri, which checks every access and count update against Rust's rules. The
/// cache's tests that fill its 512-KiB bound are left out: they take Miri over twenty minutes.
/// Installs a nightly toolchain with the `miri` component first when it is missing (with
/// rustup, from the Rust distribution server). Not a step of `ci`: it needs that toolchain,
/// which a CI machine does not have, and about two minutes.
pub fn miri() -> Result<(), String> {
    let root = project_root();
    if !cargo_succeeds(&["+nightly", "miri", "--version"]) {
        let install: &[&str] = match cargo_succeeds(&["+nightly", "--version"]) {
            true => &[
                "component",
                "add",
                "--toolchain",
                "nightly",
                "miri",
                "rust-src",
            ],
            false => &[
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "miri",
                "--component",
                "rust-src",
            ],
        };
        run(&root, "rustup", install, &[])?;
    }
    run(
        &root,
        "cargo",
        &[
            "+nightly",
            "miri",
            "test",
            "-p",
            "wa-binary",
            "--lib",
            "--",
            "frame::",
            "blob::",
            "tree::owned::tests::both_paths",
            "recycle::tests::long_contents",
            "recycle::tests::a_leaf",
            "recycle::tests::a_tree_of",
            "recycle::tests::a_frame_the",
            "recycle::tests::a_list_with",
            "recycle::tests::a_dropped_tree",
            "recycle::tests::only_children",
            "recycle::tests::contents_of_reused",
        ],
        &[],
    )
}

/// Regenerates the committed test vectors by running each `interop/gen-*.mjs` script with the
/// npm peers. The scripts write into the crates' `tests/vectors/` directories.
pub fn vectors() -> Result<(), String> {
    setup()?;
    let interop = project_root().join("interop");
    let entries = std::fs::read_dir(&interop).map_err(|e| format!("{}: {e}", interop.display()))?;
    let mut scripts: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") && (n.ends_with(".mjs") || n.ends_with(".js")))
        .collect();
    scripts.sort();
    for script in &scripts {
        run(&interop, "node", &[script], &[])?;
    }
    Ok(())
}
