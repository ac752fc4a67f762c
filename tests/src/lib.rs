//! Helpers for the end-to-end tests in `tests/e2e/`: find (or build) the `promptbook` binary and run it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace root").to_path_buf()
}

/// A fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// The `promptbook` binary of the current profile, built once if the test run did not build it already.
pub fn promptbook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/; the binary in target/<profile>/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps layout");
        let bin = profile_dir.join(format!("promptbook{}", std::env::consts::EXE_SUFFIX));
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.current_dir(workspace_root()).args(["build", "-q", "-p", "promptbook", "--bin", "promptbook"]);
        if release {
            build.arg("--release");
        }
        // Always ask cargo: it is a no-op when the binary is fresh, and rebuilds it when the sources changed.
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the promptbook binary failed");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
}

/// Run `promptbook ARGS` with `stdin` fed in; the environment has no display so the studio never opens.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(promptbook_bin());
    cmd.args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn promptbook");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for promptbook")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
