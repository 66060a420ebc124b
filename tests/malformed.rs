//! Malformed input not covered by tests/cli.rs and tests/plugin.rs: IR from
//! a newer LLVM, unreadable files, rules files built to blow up a YAML parser
//! (alias bombs, deep nesting, sheer size). The CLI exits 2 with one line;
//! inside opt it is an LLVM error, never a crash or a hang.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use lockcheck_tests::front_ends::{cli_path, plugin_path};
use lockcheck_tests::process::{Run, assert_llvm_error, assert_rejected, run};
use lockcheck_tests::temp_scratch;

fn lockcheck(args: &[&str]) -> Run {
    run(Command::new(cli_path()).args(args))
}

fn scratch(name: &str) -> PathBuf {
    temp_scratch("malformed", name)
}

/// A small valid module (no driver code) to pair with bad rules.
fn small_ir() -> PathBuf {
    let path = scratch("small.ll");
    std::fs::write(&path, "define i32 @f(i32 %x) {\n  ret i32 %x\n}\n").unwrap();
    path
}

#[test]
fn ir_from_a_newer_llvm() {
    // An instruction this LLVM does not know.
    let path = scratch("newer.ll");
    std::fs::write(&path, "define void @f() {\n  frobnicate i32 1\n  ret void\n}\n").unwrap();
    assert_rejected(&lockcheck(&["check", path.to_str().unwrap()]), "invalid LLVM IR");
    // Bitcode with records this LLVM cannot read, as a newer producer's
    // would be: real bitcode with the bytes after the magic scrambled.
    let bitcode = scratch("newer.bc");
    let status = Command::new("llvm-as-22").arg(small_ir()).arg("-o").arg(&bitcode).status().unwrap();
    assert!(status.success());
    let mut bytes = std::fs::read(&bitcode).unwrap();
    for b in bytes.iter_mut().skip(8).take(32) {
        *b = !*b;
    }
    std::fs::write(&bitcode, &bytes).unwrap();
    assert_rejected(&lockcheck(&["check", bitcode.to_str().unwrap()]), "invalid or truncated LLVM bitcode");
}

#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let path = scratch("unreadable.bc");
    std::fs::write(&path, b"not bitcode at all").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r = lockcheck(&["check", path.to_str().unwrap()]);
    if std::fs::read(&path).is_ok() {
        // Running as root: permissions do not stop reads, so the file is read
        // and rejected for its contents instead.
        assert_rejected(&r, "invalid LLVM IR");
    } else {
        assert_rejected(&r, "permission denied");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// "Billion laughs": nine levels of nine aliases each (9^9 strings if
/// expanded), where the pack expects a list of names.
fn alias_bomb() -> String {
    let mut text = lockcheck::rules::BUILTIN_RULES.replacen("\nentries: []\n", "\n", 1);
    assert_ne!(text, lockcheck::rules::BUILTIN_RULES, "the built-in pack's `entries: []` moved");
    text.push_str(
        "entries:\n  - &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("  - &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn rules_that_blow_up_a_yaml_parser() {
    let ir = small_ir();
    let ir = ir.to_str().unwrap();
    let bomb = scratch("bomb.yaml");
    std::fs::write(&bomb, alias_bomb()).unwrap();
    let deep = scratch("deep.yaml");
    std::fs::write(&deep, format!("version: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000))).unwrap();
    let huge = scratch("huge.yaml");
    let mut text = String::from("version: 1\nentries:\n");
    while text.len() <= 17 << 20 {
        text.push_str("  - SomeFunctionName\n");
    }
    std::fs::write(&huge, text).unwrap();
    for (path, needle) in [(&bomb, "invalid rules"), (&deep, "nested deeper than"), (&huge, "too large")] {
        let start = Instant::now();
        assert_rejected(&lockcheck(&["check", "--rules", path.to_str().unwrap(), ir]), needle);
        assert!(start.elapsed().as_secs() < 20, "{}: took {:?}", path.display(), start.elapsed());
    }
}

#[test]
fn rules_referencing_unknown_ids() {
    let ir = small_ir();
    let unknown_model_kind = scratch("unknown_kind.yaml");
    let text = lockcheck::rules::BUILTIN_RULES.replacen("kind: spin_lock", "kind: no_such_kind", 1);
    assert_ne!(text, lockcheck::rules::BUILTIN_RULES);
    std::fs::write(&unknown_model_kind, text).unwrap();
    let r = lockcheck(&["check", "--rules", unknown_model_kind.to_str().unwrap(), ir.to_str().unwrap()]);
    assert_rejected(&r, "no_such_kind");
}

fn opt(passes: &str, input: &Path) -> Run {
    run(Command::new("opt-22")
        .arg(format!("-load-pass-plugin={}", plugin_path().display()))
        .arg(format!("-passes={passes}"))
        .arg("-disable-output")
        .arg(input))
}

#[test]
fn opt_rejects_bad_rules_without_crashing() {
    let ir = small_ir();
    let bomb = scratch("opt-bomb.yaml");
    std::fs::write(&bomb, alias_bomb()).unwrap();
    let deep = scratch("opt-deep.yaml");
    std::fs::write(&deep, format!("version: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000))).unwrap();
    let start = Instant::now();
    assert_llvm_error(&opt(&format!("lockcheck<rules={}>", bomb.display()), &ir), "invalid rules");
    assert_llvm_error(&opt(&format!("lockcheck<rules={}>", deep.display()), &ir), "nested deeper than");
    let empty = scratch("opt-empty.yaml");
    std::fs::write(&empty, "").unwrap();
    assert_llvm_error(&opt(&format!("lockcheck<rules={}>", empty.display()), &ir), "opt-empty.yaml");
    assert!(start.elapsed().as_secs() < 30, "took {:?}", start.elapsed());
}
