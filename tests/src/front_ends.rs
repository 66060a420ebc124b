//! The three ways to run lockcheck, each returning what it reported as
//! (file, line, rule) triples.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{FixtureArgs, Found, relative, target_dir};

/// A reported file, relative to the fixture directory. Front ends print
/// paths relative to their working directory (the test's) or absolute.
fn location_key(dir: &Path, file: &str) -> String {
    let path = Path::new(file);
    let full =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    relative(dir, &full)
}

/// (a) The analysis library, in process.
pub fn run_library(bitcode: &Path, args: &FixtureArgs, dir: &Path) -> Result<BTreeSet<Found>, String> {
    let config = args.config()?;
    let mut report = lockcheck::check_files(&[bitcode.to_path_buf()], &config).map_err(|e| e.to_string())?;
    if args.report_unused_ignores {
        report.report_unused_ignores();
    }
    Ok(report
        .diagnostics
        .iter()
        .map(|d| {
            let loc = d.location.as_ref();
            let file = loc.map(|l| relative(dir, &l.path)).unwrap_or_else(|| d.function.clone());
            (file, loc.map_or(0, |l| l.line), d.rule.clone())
        })
        .collect())
}

/// Every note of every diagnostic the library reports: (file, line, message).
pub fn library_notes(bitcode: &Path, args: &FixtureArgs, dir: &Path) -> Result<Vec<(String, u32, String)>, String> {
    let config = args.config()?;
    let report = lockcheck::check_files(&[bitcode.to_path_buf()], &config).map_err(|e| e.to_string())?;
    Ok(report
        .diagnostics
        .iter()
        .flat_map(|d| d.notes.iter())
        .filter_map(|n| n.location.as_ref().map(|l| (relative(dir, &l.path), l.line, n.message.clone())))
        .collect())
}

/// Everything the library reports, message and notes included, one line
/// per diagnostic: what must not change when only the module's order does.
pub fn library_details(bitcode: &Path, args: &FixtureArgs, dir: &Path) -> Result<BTreeSet<String>, String> {
    let config = args.config()?;
    let report = lockcheck::check_files(&[bitcode.to_path_buf()], &config).map_err(|e| e.to_string())?;
    Ok(report
        .diagnostics
        .iter()
        .map(|d| {
            let notes: Vec<String> =
                d.notes.iter().map(|n| format!("{} {}", place(dir, n.location.as_ref()), n.message)).collect();
            format!("{} [{}] {} | {}", place(dir, d.location.as_ref()), d.rule, d.message, notes.join(" | "))
        })
        .collect())
}

fn place(dir: &Path, location: Option<&lockcheck::diagnostics::Location>) -> String {
    location.map(|l| format!("{}:{}:{}", relative(dir, &l.path), l.line, l.column)).unwrap_or_default()
}

pub fn plugin_path() -> PathBuf {
    target_dir().join("liblockcheck.so")
}

pub fn cli_path() -> PathBuf {
    target_dir().join("lockcheck")
}

fn require_built(path: &Path) -> Result<(), String> {
    if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} is not built: run `cargo build --release --workspace` first (scripts/test.sh does)",
            path.display()
        ))
    }
}

/// (b) opt-22 with the pass plugin, reading the LLVM diagnostics it prints:
/// `warning: FILE:LINE:COL: MESSAGE [RULE]`.
pub fn run_plugin(bitcode: &Path, args: &FixtureArgs, dir: &Path) -> Result<BTreeSet<Found>, String> {
    let plugin = plugin_path();
    require_built(&plugin)?;
    let params = args.pass_params();
    let passes = if params.is_empty() { "lockcheck".to_string() } else { format!("lockcheck<{params}>") };
    let output = Command::new("opt-22")
        .arg(format!("-load-pass-plugin={}", plugin.display()))
        .arg(format!("-passes={passes}"))
        .arg("-disable-output")
        .arg(bitcode)
        .output()
        .map_err(|e| format!("cannot run opt-22: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("opt-22 failed ({}):\n{stderr}", output.status));
    }
    let mut found = BTreeSet::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("warning: ") {
            found.insert(parse_located(rest, dir).ok_or_else(|| format!("unexpected warning from opt: {line}"))?);
        } else if line.starts_with("note: ") {
            continue;
        } else if !line.trim().is_empty() {
            return Err(format!("unexpected output from opt: {line}"));
        }
    }
    Ok(found)
}

/// `FILE:LINE:COL: MESSAGE [RULE]`
fn parse_located(text: &str, dir: &Path) -> Option<Found> {
    let rule_start = text.rfind(" [")?;
    let rule = text[rule_start + 2..].strip_suffix(']')?.to_string();
    let mut parts = text[..rule_start].splitn(4, ':');
    let file = parts.next()?;
    let line: u32 = parts.next()?.parse().ok()?;
    let _column: u32 = parts.next()?.parse().ok()?;
    Some((location_key(dir, file), line, rule))
}

/// (c) The `lockcheck` CLI with `--format json`; its exit code must agree.
pub fn run_cli(bitcode: &Path, args: &FixtureArgs, dir: &Path) -> Result<BTreeSet<Found>, String> {
    let cli = cli_path();
    require_built(&cli)?;
    let output = Command::new(&cli)
        .args(["check", "--format", "json"])
        .args(args.cli())
        .arg(bitcode)
        .output()
        .map_err(|e| format!("cannot run lockcheck: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    if !matches!(code, Some(0) | Some(1)) {
        return Err(format!("lockcheck exited with {code:?}: {stderr}"));
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout).map_err(|e| format!("lockcheck printed invalid JSON ({e}): {stdout}"))?;
    let diagnostics = json["diagnostics"].as_array().ok_or("no diagnostics array")?;
    let mut found = BTreeSet::new();
    for d in diagnostics {
        let rule = d["rule"].as_str().ok_or("diagnostic without rule")?.to_string();
        let file = d["location"]["file"].as_str().unwrap_or("");
        let line = d["location"]["line"].as_u64().unwrap_or(0) as u32;
        found.insert((location_key(dir, file), line, rule));
    }
    let expected_code = if found.is_empty() { 0 } else { 1 };
    if code != Some(expected_code) {
        return Err(format!("lockcheck exited with {code:?} for {} diagnostics", found.len()));
    }
    Ok(found)
}

/// (d) clang-22 -fpass-plugin during a normal -O2 compile (x86_64), reading
/// clang's diagnostics: `FILE:LINE:COL: warning: MESSAGE [RULE]`. The plugin
/// checks each module as the front end produced it, before optimisation, so
/// it must find what the -O0 build finds.
pub fn run_clang_plugin(fixture: &crate::Fixture) -> Result<BTreeSet<Found>, String> {
    let plugin = plugin_path();
    require_built(&plugin)?;
    let variant = crate::Variant { opt: crate::Opt::O2, arch: crate::Arch::X86_64 };
    let flags: Vec<String> = variant.clang_flags().into_iter().filter(|f| f != "-w" && f != "-emit-llvm").collect();
    let mut found = BTreeSet::new();
    for source in &fixture.sources {
        let mut command = Command::new("clang-22");
        // Warnings stay on (they would silence lockcheck's too); the header's
        // #warning is noise.
        command.arg(format!("-fpass-plugin={}", plugin.display())).args(&flags).args(&fixture.clang_args);
        command.arg("-Wno-#warnings");
        command.args(["-Wno-error", "-o", "/dev/null"]).arg(source);
        let params = fixture.args.pass_params();
        for item in params.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let option =
                if value.is_empty() { format!("-lockcheck-{key}") } else { format!("-lockcheck-{key}={value}") };
            command.args(["-mllvm", &option]);
        }
        let output = command.output().map_err(|e| format!("cannot run clang-22: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("clang-22 -fpass-plugin failed ({}):\n{stderr}", output.status));
        }
        for line in stderr.lines() {
            if let Some(at) = line.find(": warning: ") {
                let (location, rest) = (&line[..at], &line[at + ": warning: ".len()..]);
                let rule = rest
                    .rfind(" [")
                    .and_then(|i| rest[i + 2..].strip_suffix(']'))
                    .ok_or(format!("no rule in: {line}"))?;
                let mut parts = location.rsplitn(3, ':');
                let _column = parts.next();
                let line_number: u32 =
                    parts.next().and_then(|l| l.parse().ok()).ok_or(format!("no line in: {line}"))?;
                let file = parts.next().unwrap_or("");
                found.insert((location_key(&fixture.dir, file), line_number, rule.to_string()));
            }
        }
    }
    Ok(found)
}
