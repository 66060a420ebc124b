//! Compiling a build database's translation units to bitcode: in parallel
//! (`-j`), through the cache, with a progress bar on a terminal.
//!
//! Each unit is preprocessed (to compute its cache key), then compiled only
//! when the cache has no bitcode for that key. A unit clang rejects is
//! reported and left out; the rest is still checked. Failures are returned
//! in database order, so the output does not depend on `-j`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::Cache;
use crate::compile::clang;
use crate::project::Unit;

/// What became of one unit.
enum Outcome {
    Compiled(PathBuf),
    Cached(PathBuf),
    /// One line: `<file>: clang failed: <first error>`.
    Failed(String),
}

/// The result of compiling a list of units.
pub struct Built {
    /// Bitcode per unit, in the order given; `None` where clang failed.
    pub bitcode: Vec<Option<PathBuf>>,
    /// One line per failed unit, in the order given.
    pub failures: Vec<String>,
    pub compiled: usize,
    pub cached: usize,
}

/// Compiles `units` with at most `jobs` clang processes at a time.
pub fn build(units: &[&Unit], cache: &Cache, jobs: usize) -> Result<Built, String> {
    let version = clang_version()?;
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(units.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("compiling [{bar:30}] {pos}/{len} {wide_msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(units.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, units.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(index) else { break };
                    progress.set_message(unit.name.clone());
                    let outcome = build_one(unit, index, cache, &version);
                    outcomes.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    let mut built = Built { bitcode: Vec::new(), failures: Vec::new(), compiled: 0, cached: 0 };
    for outcome in outcomes.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match outcome {
            Some(Outcome::Compiled(path)) => {
                built.compiled += 1;
                built.bitcode.push(Some(path));
            }
            Some(Outcome::Cached(path)) => {
                built.cached += 1;
                built.bitcode.push(Some(path));
            }
            Some(Outcome::Failed(message)) => {
                built.failures.push(message);
                built.bitcode.push(None);
            }
            None => unreachable!("every unit is taken by a worker"),
        }
    }
    Ok(built)
}

/// `clang --version` in full (part of every cache key).
fn clang_version() -> Result<String, String> {
    let output = Command::new(clang())
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", clang().display()))?;
    if !output.status.success() {
        return Err(format!("{} --version failed", clang().display()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn build_one(unit: &Unit, index: usize, cache: &Cache, version: &str) -> Outcome {
    let failed = |detail: String| Outcome::Failed(format!("{}: clang failed: {detail}", unit.name));
    let run = |command: &mut Command| {
        command
            .current_dir(&unit.directory)
            .output()
            .map_err(|e| format!("cannot run {} in {}: {e}", clang().display(), unit.directory.display()))
    };
    let preprocessed = match run(Command::new(clang()).args(unit.preprocess_args())) {
        Ok(output) if output.status.success() => output.stdout,
        Ok(output) => return failed(first_error(&output.stderr)),
        Err(e) => return failed(e),
    };
    let args = unit.compile_args();
    let key = Cache::key(version, &unit.directory, &args, &preprocessed);
    let path = cache.path(&key);
    if path.is_file() {
        return Outcome::Cached(path);
    }
    let temporary = cache.temporary(&key, index);
    match run(Command::new(clang()).args(&args).arg("-o").arg(&temporary)) {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let _ = std::fs::remove_file(&temporary);
            return failed(first_error(&output.stderr));
        }
        Err(e) => return failed(e),
    }
    match cache.commit(&temporary, &key) {
        Ok(path) => Outcome::Compiled(path),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Outcome::Failed(e)
        }
    }
}

/// The first line of clang's output that names an error.
fn first_error(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    stderr.lines().find(|l| l.contains("error:")).unwrap_or("compilation failed").trim().to_string()
}
