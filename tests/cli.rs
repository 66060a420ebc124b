//! The `lockcheck` command: exit codes, one-line errors on bad input, the
//! documented outputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockcheck_tests::front_ends::cli_path;
use lockcheck_tests::process::{Run, assert_rejected, run};
use lockcheck_tests::{compile_example, repo_root, temp_scratch};

fn lockcheck(args: &[&str]) -> Run {
    run(Command::new(cli_path()).args(args))
}

fn scratch(name: &str) -> PathBuf {
    temp_scratch("cli", name)
}

/// Bitcode of a small driver, compiled once per test that needs it.
fn driver_bitcode(name: &str) -> PathBuf {
    compile_example(&scratch(name))
}

#[test]
fn missing_file() {
    assert_rejected(&lockcheck(&["check", "/no/such/driver.bc"]), "/no/such/driver.bc: no such file");
    assert_rejected(&lockcheck(&["check", "/no/such/driver.c"]), "/no/such/driver.c: no such file");
}

#[test]
fn directory_without_bitcode() {
    // A directory is read for its .bc and .ll files (tests/project.rs); one
    // without any is an error.
    let dir = scratch("empty-dir");
    std::fs::create_dir_all(&dir).unwrap();
    assert_rejected(&lockcheck(&["check", dir.to_str().unwrap()]), "no .bc or .ll files");
}

#[test]
fn empty_file() {
    let path = scratch("empty.bc");
    std::fs::write(&path, b"").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "empty file");
}

#[test]
fn random_bytes() {
    let path = scratch("random.bc");
    // A fixed pseudo-random sequence (xorshift), not valid UTF-8 or bitcode.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "not LLVM bitcode or textual IR");
}

#[test]
fn truncated_bitcode() {
    let full = std::fs::read(driver_bitcode("whole.bc")).unwrap();
    for cut in [8, 100, full.len() / 3, full.len() - 16] {
        let path = scratch(&format!("truncated-{cut}.bc"));
        std::fs::write(&path, &full[..cut]).unwrap();
        assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "invalid or truncated LLVM bitcode");
    }
}

#[test]
fn wrong_magic_text_and_invalid_ir() {
    let path = scratch("notes.ll");
    std::fs::write(&path, "this is not IR\n").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "invalid LLVM IR");
    // Parses, but the verifier rejects it (a use before its definition).
    let path = scratch("broken.ll");
    std::fs::write(&path, "define i32 @f() {\n  %a = add i32 %b, 1\n  %b = add i32 %a, 1\n  ret i32 %a\n}\n").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "invalid LLVM IR");
}

#[test]
fn unknown_flag_and_missing_inputs() {
    assert_rejected(&lockcheck(&["check", "--frobnicate", "x.bc"]), "unexpected argument '--frobnicate'");
    assert_rejected(&lockcheck(&["check"]), "<INPUTS>");
    assert_rejected(&lockcheck(&["check", "--format", "xml", "x.bc"]), "invalid value 'xml'");
    assert_rejected(&lockcheck(&["frobnicate"]), "unrecognized subcommand");
}

#[test]
fn bad_rules_files() {
    let bc = driver_bitcode("rules.bc");
    let bc = bc.to_str().unwrap();
    let unknown_key = scratch("unknown_key.yaml");
    std::fs::write(&unknown_key, lockcheck::rules::BUILTIN_RULES.replacen("lock_kinds:", "lock_kindz:", 1)).unwrap();
    assert_rejected(&lockcheck(&["check", "--rules", unknown_key.to_str().unwrap(), bc]), "unknown field `lock_kindz`");
    let dangling = scratch("dangling.yaml");
    std::fs::write(
        &dangling,
        lockcheck::rules::BUILTIN_RULES.replacen("kind: cancel_spin_lock", "kind: cancel_lock", 1),
    )
    .unwrap();
    assert_rejected(
        &lockcheck(&["check", "--rules", dangling.to_str().unwrap(), bc]),
        "unknown lock kind `cancel_lock`",
    );
    let not_yaml = scratch("not_yaml.yaml");
    std::fs::write(&not_yaml, "{{{{ ]]]").unwrap();
    assert_rejected(&lockcheck(&["check", "--rules", not_yaml.to_str().unwrap(), bc]), "not_yaml.yaml");
    assert_rejected(&lockcheck(&["check", "--rules", "/no/rules.yaml", bc]), "/no/rules.yaml");
}

#[test]
fn unknown_entry_and_model() {
    let bc = driver_bitcode("entry.bc");
    let bc = bc.to_str().unwrap();
    assert_rejected(&lockcheck(&["check", "--entry", "NoSuchRoutine", bc]), "no function named `NoSuchRoutine`");
    assert_rejected(&lockcheck(&["check", "--model", "ndis", bc]), "--model ndis: unknown driver model");
}

#[test]
fn source_that_does_not_compile() {
    let path = scratch("broken.c");
    std::fs::write(&path, "#include <ntddk.h>\nint f( { return 0; }\n").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "clang failed");
}

#[test]
fn example_driver_has_its_one_violation() {
    let example = repo_root().join("examples/packet_queue.c");
    let run = lockcheck(&["check", example.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let warnings: Vec<&str> = run.stdout.lines().filter(|l| l.contains(": warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stdout);
    assert!(
        warnings[0].contains("packet_queue.c:126:13: warning: dispatch routine for IRP_MJ_DEVICE_CONTROL"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].ends_with("[wdm.SpinLock]"), "{}", warnings[0]);
    assert!(
        run.stdout.contains("packet_queue.c:123:9: note: spin lock '&ext->StatsLock' acquired here"),
        "{}",
        run.stdout
    );
}

#[test]
fn rust_example_driver_compiled_with_rustc_has_its_one_violation() {
    let example = repo_root().join("examples/rust_driver/lib.rs");
    let run = lockcheck(&["check", example.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let warnings: Vec<&str> = run.stdout.lines().filter(|l| l.contains(": warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stdout);
    assert!(warnings[0].contains("lib.rs:78:21: warning: IoCompleteRequest is called while"), "{}", warnings[0]);
    assert!(warnings[0].ends_with("[wdm.SpinLockSafe]"), "{}", warnings[0]);
    // The lock, reached through the guard's pointer, is named as the
    // function that acquired it names it.
    assert!(
        warnings[0].contains("spin lock '&self.raw' (as 'rust_driver::SpinLock::lock' calls it)"),
        "{}",
        warnings[0]
    );
    // Demangled Rust names, hash suffixes stripped, the crate named after its directory.
    assert!(run.stdout.contains("note: in call to 'rust_driver::queue::ReadQueue::complete_all'"), "{}", run.stdout);
    // Several codegen units at -O3: the same one finding.
    let run = lockcheck(&[
        "check",
        example.to_str().unwrap(),
        "--",
        "--edition=2021",
        "--crate-type=lib",
        "-C",
        "opt-level=3",
        "-C",
        "codegen-units=4",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stdout.lines().filter(|l| l.contains("lib.rs:78:21: warning: ")).count(), 1, "{}", run.stdout);
}

#[test]
fn rust_source_that_does_not_compile() {
    let path = scratch("broken.rs");
    std::fs::write(&path, "#![no_std]\npub fn f( { }\n").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "rustc failed");
}

#[test]
fn json_report_has_the_documented_shape() {
    let bc = driver_bitcode("json.bc");
    let out = scratch("report.json");
    let run = lockcheck(&["check", "--format", "json", "--output", out.to_str().unwrap(), bc.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    for key in ["rule", "check", "severity", "message", "function"] {
        assert!(d[key].is_string(), "{key} missing in {d}");
    }
    assert_eq!(d["rule"], "wdm.SpinLock");
    assert_eq!(d["check"], "held_at_exit");
    assert_eq!(d["function"], "DispatchDeviceControl");
    assert!(d["location"]["file"].as_str().unwrap().ends_with("packet_queue.c"));
    assert!(d["location"]["line"].is_u64() && d["location"]["column"].is_u64());
    // Notes are chronological: the switch case taken, the acquire, the branch to the return.
    let notes = d["notes"].as_array().unwrap();
    let messages: Vec<&str> = notes.iter().map(|n| n["message"].as_str().unwrap()).collect();
    assert_eq!(
        notes.iter().map(|n| n["location"]["line"].as_u64().unwrap()).collect::<Vec<_>>(),
        [121, 123, 124],
        "{messages:?}"
    );
    assert!(messages[0].contains("taking case"), "{messages:?}");
    assert!(messages[1].contains("acquired here"), "{messages:?}");
    assert!(messages[2].contains("taking the branch to line 125"), "{messages:?}");
}

#[test]
fn clean_input_exits_zero() {
    let path = scratch("clean.c");
    std::fs::write(
        &path,
        "#include <ntddk.h>\nstatic KSPIN_LOCK g;\nNTSTATUS DriverEntry(PDRIVER_OBJECT d, PUNICODE_STRING r) {\n  KIRQL i;\n  KeAcquireSpinLock(&g, &i);\n  KeReleaseSpinLock(&g, i);\n  return STATUS_SUCCESS;\n}\n",
    )
    .unwrap();
    let run = lockcheck(&["check", path.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn rules_explain_and_version() {
    let run = lockcheck(&["rules"]);
    assert_eq!(run.code, Some(0));
    for id in ["wdm.SpinLock", "wdm.SpinLockSafe", "wdm.CancelSpinLock", "storport.SpinLock", "kmdf.SpinlockRelease"] {
        assert!(run.stdout.contains(id), "{id} not listed");
    }
    let run = lockcheck(&["explain", "wdm.SpinLock"]);
    assert_eq!(run.code, Some(0));
    for section in ["## What it finds", "## Why it matters", "## Example", "SpinLock (wdm)"] {
        assert!(run.stdout.contains(section), "{section} missing from explain");
    }
    assert_rejected(&lockcheck(&["explain", "wdm.Nope"]), "unknown rule `wdm.Nope`");
    let run = lockcheck(&["--version"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains(&format!("LLVM {}", lockcheck::LLVM_VERSION)), "{}", run.stdout);
}

/// `lockcheck check` of the example's bitcode with `args` and the
/// environment variables `env` set (NO_COLOR and CLICOLOR_FORCE unset
/// otherwise); stdout is a pipe.
fn check_with_env(bc: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(cli_path());
    command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").arg("check").args(args).arg(bc);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run lockcheck");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn color_follows_the_flag_and_the_environment() {
    let bc = driver_bitcode("color.bc");
    let colored = check_with_env(&bc, &["--color", "always"], &[]);
    assert_eq!(colored.code, Some(1), "{}", colored.stderr);
    assert!(colored.stdout.contains("\x1b[1;35mwarning:\x1b[0m"), "{:?}", colored.stdout);
    assert!(colored.stdout.contains("\x1b[1;36mnote:\x1b[0m"), "{:?}", colored.stdout);
    assert!(colored.stdout.contains("\x1b[1;35mwdm.SpinLock\x1b[0m"), "{:?}", colored.stdout);
    // Without the escapes it is the plain report.
    let plain = check_with_env(&bc, &["--color", "never"], &[]);
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);
    let mut stripped = colored.stdout.clone();
    for escape in ["\x1b[0m", "\x1b[1;35m", "\x1b[1;36m", "\x1b[1m"] {
        stripped = stripped.replace(escape, "");
    }
    assert_eq!(stripped, plain.stdout);
    // auto (the default) into a pipe, and NO_COLOR: no escapes.
    for (args, env) in [
        (&[][..], &[][..]),
        (&["--color", "auto"][..], &[][..]),
        (&["--color", "auto"][..], &[("NO_COLOR", "1")][..]),
        (&[][..], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")][..]),
    ] {
        let run = check_with_env(&bc, args, env);
        assert_eq!(run.code, Some(1));
        assert!(!run.stdout.contains('\x1b'), "{args:?} {env:?}: {:?}", run.stdout);
    }
    // CLICOLOR_FORCE colors a pipe under auto; --color never still wins.
    assert!(check_with_env(&bc, &[], &[("CLICOLOR_FORCE", "1")]).stdout.contains('\x1b'));
    assert!(!check_with_env(&bc, &["--color", "never"], &[("CLICOLOR_FORCE", "1")]).stdout.contains('\x1b'));
    // JSON is never colored.
    assert!(!check_with_env(&bc, &["--format", "json", "--color", "always"], &[]).stdout.contains('\x1b'));
    assert_rejected(&lockcheck(&["check", "--color", "sometimes", "x.bc"]), "invalid value 'sometimes'");
}

#[test]
fn rules_as_json() {
    let run = lockcheck(&["rules", "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let pack = lockcheck::RulePack::builtin().unwrap();
    let rules = json["rules"].as_array().unwrap();
    assert_eq!(rules.len(), pack.rules.len());
    for (rule, expected) in rules.iter().zip(&pack.rules) {
        assert_eq!(rule["id"], expected.id.as_str());
        assert_eq!(rule["sdv_name"], expected.sdv_name.as_str());
        assert_eq!(rule["summary"], expected.summary.as_str());
        assert_eq!(rule["severity"], expected.severity.as_str());
        assert_eq!(rule["doc"], expected.doc.as_str());
        let models: Vec<&str> = rule["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(models, expected.models.iter().map(|&m| pack.models[m].id.as_str()).collect::<Vec<_>>());
        let checks = rule["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{rule}");
        for check in checks {
            assert!(check["check"].is_string() && check["summary"].is_string(), "{check}");
            assert!(!check["lock_kinds"].as_array().unwrap().is_empty(), "{check}");
        }
    }
    let safe = rules.iter().find(|r| r["id"] == "wdm.SpinLockSafe").unwrap();
    assert_eq!(safe["checks"][0]["check"], "call_while_held");
    // Text stays the default.
    assert!(lockcheck(&["rules"]).stdout.contains("Run `lockcheck explain <rule>`"));
    assert_rejected(&lockcheck(&["rules", "--format", "sarif"]), "invalid value 'sarif'");
}

#[test]
fn color_is_on_by_default_on_a_terminal() {
    // script(1) runs the command with its stdout on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let bc = driver_bitcode("tty.bc");
    let on_terminal = |no_color: bool| {
        let command = format!("{} check {}", cli_path().display(), bc.display());
        let mut script = Command::new("script");
        script.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").args(["-q", "-e", "-c", &command, "/dev/null"]);
        if no_color {
            script.env("NO_COLOR", "1");
        }
        let output = script.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let colored = on_terminal(false);
    assert!(colored.contains("\x1b[1;35mwarning:\x1b[0m"), "{colored:?}");
    let plain = on_terminal(true);
    assert!(plain.contains("warning:") && !plain.contains('\x1b'), "{plain:?}");
}
