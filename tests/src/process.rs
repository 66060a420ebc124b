//! Running a command and keeping what the tests look at.

use std::process::Command;

/// A finished command: exit code (none when killed by a signal) and its output.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion; panics when it cannot start (a binary
/// that is not built: `cargo build --release --workspace` first).
pub fn run(command: &mut Command) -> Run {
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (build the workspace first: cargo build --release --workspace)")
    });
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A bad input to the CLI: exit 2, exactly one line on stderr that starts
/// with the tool's name and mentions `needle`, nothing on stdout, no panic.
pub fn assert_rejected(run: &Run, needle: &str) {
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {}", run.stderr);
    assert!(lines[0].starts_with("lockcheck: error: "), "{}", lines[0]);
    assert!(lines[0].contains(needle), "`{needle}` not in: {}", lines[0]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// A host (opt, clang) that failed cleanly: exit 1 with an `error:
/// lockcheck:` line naming `needle`, no crash report.
pub fn assert_llvm_error(run: &Run, needle: &str) {
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("error: lockcheck: "), "{}", run.stderr);
    assert!(run.stderr.contains(needle), "`{needle}` not in {}", run.stderr);
    for crash in ["Stack dump", "PLEASE submit", "panicked", "Aborted"] {
        assert!(!run.stderr.contains(crash), "{}", run.stderr);
    }
}
