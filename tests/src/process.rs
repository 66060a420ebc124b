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
