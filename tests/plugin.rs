//! The pass plugin inside its hosts: opt-22 and clang-22 -fpass-plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockcheck_tests::front_ends::plugin_path;
use lockcheck_tests::process::{Run, assert_llvm_error, run};
use lockcheck_tests::{compile_example, repo_root, temp_scratch};

fn scratch(name: &str) -> PathBuf {
    temp_scratch("plugin", name)
}

const DDK: [&str; 4] = [
    "--target=x86_64-w64-mingw32",
    "--sysroot=/usr/x86_64-w64-mingw32",
    "-isystem",
    "/usr/share/mingw-w64/include/ddk",
];

fn example() -> PathBuf {
    repo_root().join("examples/packet_queue.c")
}

fn example_bitcode() -> PathBuf {
    compile_example(&scratch("example.bc"))
}

fn opt(passes: &str, extra: &[&str], input: &Path) -> Run {
    run(Command::new("opt-22")
        .arg(format!("-load-pass-plugin={}", plugin_path().display()))
        .args(extra)
        .arg(format!("-passes={passes}"))
        .arg("-disable-output")
        .arg(input))
}

#[test]
fn opt_reports_with_locations() {
    let r = opt("lockcheck", &[], &example_bitcode());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("packet_queue.c:126:13: dispatch routine for IRP_MJ_DEVICE_CONTROL"), "{}", r.stderr);
    assert!(r.stderr.contains("note: "), "{}", r.stderr);
}

#[test]
fn opt_bad_rules_is_an_llvm_error_not_a_crash() {
    let bad = scratch("bad.yaml");
    std::fs::write(&bad, "version: 1\nlock_kinds: {}\nbogus: true\n").unwrap();
    let bc = example_bitcode();
    assert_llvm_error(&opt(&format!("lockcheck<rules={}>", bad.display()), &[], &bc), "unknown field `bogus`");
    assert_llvm_error(
        &opt("lockcheck", &[&format!("-lockcheck-rules={}", bad.display())], &bc),
        "unknown field `bogus`",
    );
    assert_llvm_error(&opt("lockcheck<rules=/no/such.yaml>", &[], &bc), "/no/such.yaml");
    assert_llvm_error(&opt("lockcheck<colour=red>", &[], &bc), "unknown pass parameter `colour`");
}

#[test]
fn opt_json_output_to_file() {
    let out = scratch("report.json");
    let r = opt(&format!("lockcheck<format=json;output={}>", out.display()), &[], &example_bitcode());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["diagnostics"][0]["location"]["line"], 126);
}

fn clang(extra: &[&str]) -> Run {
    let object = scratch("example.o");
    run(Command::new("clang-22")
        .arg(format!("-fpass-plugin={}", plugin_path().display()))
        .args(DDK)
        .args(["-Wno-#warnings", "-g", "-c", "-o"])
        .arg(&object)
        .args(extra)
        .arg(example()))
}

#[test]
fn clang_reports_during_a_normal_compile_at_every_level() {
    for level in ["-O0", "-O2"] {
        let r = clang(&[level]);
        assert_eq!(r.code, Some(0), "{level}: {}", r.stderr);
        assert!(
            r.stderr.contains("packet_queue.c:126:13: warning: dispatch routine for IRP_MJ_DEVICE_CONTROL 'DispatchDeviceControl' returns while spin lock '&ext->StatsLock' is held [wdm.SpinLock]"),
            "{level}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("return STATUS_BUFFER_TOO_SMALL;"), "{level}: no source snippet: {}", r.stderr);
        assert!(r.stderr.contains("note: ") && r.stderr.contains("acquired here"), "{level}: {}", r.stderr);
        assert!(r.stderr.contains("1 warning generated."), "{level}: {}", r.stderr);
    }
}

#[test]
fn clang_werror_turns_violations_into_errors() {
    let r = clang(&["-O2", "-Werror"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("packet_queue.c:126:13: error: dispatch routine"), "{}", r.stderr);
}

#[test]
fn clang_bad_rules_fails_the_compile_cleanly() {
    let bad = scratch("bad-clang.yaml");
    std::fs::write(&bad, "not: [a, valid, pack]\n").unwrap();
    let r = clang(&["-O2", "-mllvm", &format!("-lockcheck-rules={}", bad.display())]);
    assert_llvm_error(&r, "bad-clang.yaml");
    assert!(r.stdout.is_empty());
}
