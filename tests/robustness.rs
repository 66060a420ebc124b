//! Robustness: lockcheck must neither panic, abort nor hang on code it was
//! not written for. Bounded in time for CI (a few minutes on 2 cores):
//!
//! - every fixture at -O1, -O3 and -Os (the fixture suite covers -O0 and
//!   -O2), for x86_64 and i686 (Rust fixtures: the host), run through the
//!   library in process under `catch_unwind`. Findings are not compared:
//!   the optimiser may legitimately change them.
//! - 200 random C programs from csmith (fixed seeds 1..=200), compiled for the
//!   host at -O0 and -O2 and checked with `--all-functions` by the CLI in a
//!   child process with a 20 s limit: no lock is taken, so no report.
//!   `LOCKCHECK_CSMITH_PROGRAMS=N` changes the count.
//! - a 10,000-deep call chain and a function with 100,000 blocks, generated
//!   at test time, through the CLI (no stack overflow).

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lockcheck_tests::front_ends::cli_path;
use lockcheck_tests::{Arch, Fixture, Opt, Variant, discover, link, target_dir};

fn scratch(name: &str) -> PathBuf {
    let dir = target_dir().join("robustness");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `work` over `items` on every core; returns the failures.
fn parallel<T: Sync>(items: &[T], work: impl Fn(&T) -> Result<(), String> + Sync) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = work(item) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    failures
}

const LEVELS: [&str; 3] = ["-O1", "-O3", "-Os"];
const ARCHES: [Arch; 2] = [Arch::X86_64, Arch::I686];

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::I686 => "i686",
    }
}

/// Compiles a Rust fixture with rustc for the host at the opt-level closest
/// to `level` (-O3 becomes opt-level 2: the fixture suite covers 3).
fn compile_rust_at(fixture: &Fixture, level: &str) -> Result<PathBuf, String> {
    let opt = match level {
        "-O1" => "opt-level=1",
        "-Os" => "opt-level=s",
        _ => "opt-level=2",
    };
    let flags: Vec<String> = Variant { opt: Opt::O2, arch: Arch::X86_64 }
        .rustc_flags()
        .into_iter()
        .map(|f| if f.starts_with("opt-level=") { opt.to_string() } else { f })
        .collect();
    let out = scratch(&format!("{}-rust{level}", fixture.name.replace(['/', '.'], "_")));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let output = Command::new("rustc")
        .args(&flags)
        .args(&fixture.rustc_args)
        .arg("--out-dir")
        .arg(&out)
        .arg(&fixture.sources[0])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !output.status.success() {
        return Err(format!("rustc failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let mut objects: Vec<PathBuf> = std::fs::read_dir(&out)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "bc"))
        .collect();
    objects.sort();
    if objects.is_empty() {
        return Err("rustc wrote no bitcode".into());
    }
    link(objects, &out.with_extension("bc"))
}

/// Compiles a C fixture for `arch` and optimises it at each of `LEVELS`:
/// clang's front end runs once, at -O1 with LLVM's passes off (so the IR
/// carries what optimised builds start from: no optnone, lifetime markers,
/// TBAA), the units are linked, and `opt-22 -passes=default<On>` runs the
/// pipeline clang would run at that level. Returns (level, bitcode) pairs.
fn compile_at_levels(fixture: &Fixture, arch: Arch) -> Result<Vec<(&'static str, PathBuf)>, String> {
    let mut flags: Vec<String> = Variant { opt: Opt::O2, arch }
        .clang_flags()
        .into_iter()
        .map(|f| if f == "-O2" { "-O1".to_string() } else { f })
        .collect();
    flags.extend(["-Xclang", "-disable-llvm-passes"].map(String::from));
    let base = format!("{}-{}", fixture.name.replace(['/', '.'], "_"), arch_name(arch));
    let mut objects = Vec::new();
    for (i, source) in fixture.sources.iter().enumerate() {
        let object = scratch(&format!("{base}.{i}.bc"));
        let output =
            Command::new("clang-22").args(&flags).args(&fixture.clang_args).arg("-o").arg(&object).arg(source).output();
        let output = output.map_err(|e| format!("cannot run clang-22: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "clang-22 failed on {}: {}",
                source.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        objects.push(object);
    }
    let linked = link(objects, &scratch(&format!("{base}.bc")))?;
    let mut out = Vec::new();
    for level in LEVELS {
        let optimised = scratch(&format!("{base}{level}.bc"));
        let pipeline = format!("-passes=default<{}>", &level[1..]);
        let output = Command::new("opt-22").arg(pipeline).arg(&linked).arg("-o").arg(&optimised).output();
        let output = output.map_err(|e| format!("cannot run opt-22: {e}"))?;
        if !output.status.success() {
            return Err(format!("opt-22 {level} failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        out.push((level, optimised));
    }
    Ok(out)
}

/// Checks one build of a fixture in process: no panic, and no error but a
/// `--entry` the optimiser removed.
fn check_in_process(fixture: &Fixture, bitcode: &Path, what: &str) -> Result<(), String> {
    let config = fixture.args.config()?;
    match catch_unwind(AssertUnwindSafe(|| lockcheck::check_files(&[bitcode.to_path_buf()], &config))) {
        Ok(Ok(_)) => Ok(()),
        // An --entry the optimiser inlined away is a user error, not a crash.
        Ok(Err(e)) if e.message().contains("no function named") => Ok(()),
        Ok(Err(e)) => Err(format!("{what}: error: {e}")),
        Err(_) => Err(format!("{what}: panicked")),
    }
}

/// A C fixture is one job per target (its three levels share the front
/// end); a Rust fixture one job per level, built for the host.
enum Job {
    C(Fixture, Arch),
    Rust(Fixture, &'static str),
}

#[test]
fn fixtures_at_every_optimisation_level_do_not_panic() {
    let mut jobs = Vec::new();
    for fixture in discover() {
        if fixture.is_rust() {
            jobs.extend(LEVELS.iter().map(|level| Job::Rust(fixture.clone(), level)));
        } else {
            jobs.extend(ARCHES.iter().map(|arch| Job::C(fixture.clone(), *arch)));
        }
    }
    assert!(jobs.len() > 50, "fixtures not found");
    let failures = parallel(&jobs, |job| match job {
        Job::C(fixture, arch) => {
            let what = format!("{} {}", fixture.name, arch_name(*arch));
            for (level, bitcode) in compile_at_levels(fixture, *arch).map_err(|e| format!("{what}: {e}"))? {
                check_in_process(fixture, &bitcode, &format!("{what} {level}"))?;
            }
            Ok(())
        }
        Job::Rust(fixture, level) => {
            let what = format!("{} host {level}", fixture.name);
            let bitcode = compile_rust_at(fixture, level).map_err(|e| format!("{what}: {e}"))?;
            check_in_process(fixture, &bitcode, &what)
        }
    });
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs a command with a time limit; `None` when it had to be killed.
fn run_with_limit(command: &mut Command, limit: Duration) -> Option<Outcome> {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    status.map(|s| Outcome { code: s.code(), stdout, stderr, elapsed: start.elapsed() })
}

/// csmith's runtime header: Debian's package ships the generator only. The
/// programs are compiled, never run, so printing stubs suffice.
const CSMITH_H: &str = "#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\
#include <limits.h>\nstatic void platform_main_begin(void) {}\n\
static void platform_main_end(uint32_t crc, int flag) { printf(\"checksum = %X %d\\n\", crc, flag); }\n";

#[test]
fn csmith_programs_check_cleanly() {
    let count: u64 = std::env::var("LOCKCHECK_CSMITH_PROGRAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let include = scratch("csmith-include");
    assert!(
        Command::new("csmith")
            .arg("--version")
            .current_dir(include.parent().unwrap())
            .output()
            .is_ok_and(|o| o.status.success()),
        "csmith not found: run scripts/setup.sh (Debian package `csmith`)"
    );
    std::fs::create_dir_all(&include).unwrap();
    std::fs::write(include.join("csmith.h"), CSMITH_H).unwrap();
    let seeds: Vec<u64> = (1..=count).collect();
    let failures = parallel(&seeds, |seed| {
        let source = scratch(&format!("csmith-{seed}.c"));
        let generated = Command::new("csmith")
            .args(["--seed", &seed.to_string(), "--max-funcs", "8", "--max-block-depth", "4"])
            .args(["--no-safe-math", "--no-checksum", "--no-argc", "-o"])
            .arg(&source)
            // csmith writes platform.info into its working directory.
            .current_dir(source.parent().unwrap())
            .output()
            .map_err(|e| format!("seed {seed}: cannot run csmith: {e}"))?;
        if !generated.status.success() {
            return Err(format!("seed {seed}: csmith failed: {}", String::from_utf8_lossy(&generated.stderr)));
        }
        for level in ["-O0", "-O2"] {
            let what = format!("csmith seed {seed} {level}");
            let bitcode = scratch(&format!("csmith-{seed}{level}.bc"));
            let compiled = Command::new("clang-22")
                .args(["-w", "-g", level, "-c", "-emit-llvm", "-I"])
                .arg(&include)
                .arg("-o")
                .arg(&bitcode)
                .arg(&source)
                .output()
                .map_err(|e| format!("{what}: cannot run clang-22: {e}"))?;
            if !compiled.status.success() {
                return Err(format!("{what}: clang-22 failed: {}", String::from_utf8_lossy(&compiled.stderr)));
            }
            let limit = Duration::from_secs(20);
            let mut command = Command::new(cli_path());
            command.args(["check", "--all-functions"]).arg(&bitcode);
            let Some(run) = run_with_limit(&mut command, limit) else {
                return Err(format!("{what}: no result within {limit:?} (hang)"));
            };
            if run.code != Some(0) || !run.stdout.is_empty() || run.stderr.contains("panicked") {
                return Err(format!(
                    "{what}: exit {:?} after {:?}\n{}{}",
                    run.code,
                    run.elapsed,
                    run.stdout,
                    run.stderr.lines().take(5).collect::<Vec<_>>().join("\n")
                ));
            }
            std::fs::remove_file(&bitcode).ok();
        }
        std::fs::remove_file(&source).ok();
        Ok(())
    });
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

const DDK: [&str; 4] = [
    "--target=x86_64-w64-mingw32",
    "--sysroot=/usr/x86_64-w64-mingw32",
    "-isystem",
    "/usr/share/mingw-w64/include/ddk",
];

fn compile_driver(source: &Path, level: &str) -> PathBuf {
    let bitcode = source.with_extension(format!("{}.bc", level.trim_start_matches('-')));
    let output = Command::new("clang-22")
        .args(DDK)
        .args(["-w", "-g", level, "-Xclang", "-disable-O0-optnone", "-c", "-emit-llvm", "-o"])
        .arg(&bitcode)
        .arg(source)
        .output()
        .expect("run clang-22");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    bitcode
}

/// The CLI on a generated driver: finishes within the limit, no crash.
fn check_generated(bitcode: &Path, args: &[&str]) -> Outcome {
    let mut command = Command::new(cli_path());
    command.arg("check").args(args).arg(bitcode);
    let run = run_with_limit(&mut command, Duration::from_secs(240)).expect("lockcheck did not finish within 240 s");
    assert!(matches!(run.code, Some(0 | 1)), "exit {:?} (a signal is a crash):\n{}", run.code, run.stderr);
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("overflow"), "{}", run.stderr);
    run
}

#[test]
fn deep_call_chain_does_not_overflow_the_stack() {
    const DEPTH: usize = 10_000;
    let mut c = String::from("#include <ntddk.h>\nKSPIN_LOCK g_Lock;\nKIRQL g_Irql;\n");
    for i in 0..DEPTH {
        c.push_str(&format!("void f{i}(int n);\n"));
    }
    for i in 0..DEPTH - 1 {
        c.push_str(&format!("void f{i}(int n) {{ if (n != {i}) f{}(n); }}\n", i + 1));
    }
    c.push_str(&format!("void f{}(int n) {{ KeAcquireSpinLock(&g_Lock, &g_Irql); }}\n", DEPTH - 1));
    c.push_str("NTSTATUS DriverEntry(PDRIVER_OBJECT d, PUNICODE_STRING r) {\n    f0(1);\n    return 0;\n}\n");
    let source = scratch("deep_chain.c");
    std::fs::write(&source, c).unwrap();
    // -O0 keeps the chain (-O2 would inline much of it).
    let bitcode = compile_driver(&source, "-O0");
    let run = check_generated(&bitcode, &[]);
    // The lock taken 10,000 calls down is still held when DriverEntry returns.
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("DriverEntry"), "{}", run.stdout);
    // As routines, every function of the chain returns holding it: 10,001
    // reports whose notes stay bounded (the calls between the outermost and
    // innermost are summarised), so the output grows linearly.
    let run = check_generated(&bitcode, &["--all-functions"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let reports = run.stdout.lines().filter(|l| l.contains(": warning: ")).count();
    assert_eq!(reports, DEPTH + 1, "{}", &run.stdout[..run.stdout.len().min(4000)]);
    let longest = run.stdout.split(": warning: ").map(|report| report.lines().count()).max().unwrap_or(0);
    assert!(longest < 64, "a report of {longest} lines");
}

#[test]
fn function_with_100k_blocks_does_not_overflow_the_stack() {
    const BLOCKS: usize = 100_000;
    let mut c = String::from(
        "#include <ntddk.h>\nKSPIN_LOCK g_Lock;\nvolatile ULONG g_Counter;\n\
         NTSTATUS DriverEntry(PDRIVER_OBJECT d, PUNICODE_STRING r) {\n    KIRQL irql;\n    ULONG x = g_Counter;\n\
         KeAcquireSpinLock(&g_Lock, &irql);\n",
    );
    // A chain of ifs: a block for each test and for each body.
    for i in 0..BLOCKS / 2 {
        c.push_str(&format!("    if (x == {i}u) g_Counter = {i}u;\n"));
    }
    c.push_str("    KeReleaseSpinLock(&g_Lock, irql);\n    return 0;\n}\n");
    let source = scratch("huge_function.c");
    std::fs::write(&source, c).unwrap();
    let run = check_generated(&compile_driver(&source, "-O0"), &[]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
}
