//! The struct layouts in rules.yaml are facts about the DDK headers: check
//! every offset against `offsetof` compiled from the real headers, on both
//! targets.

use std::process::Command;

use lockcheck_tests::{Arch, Opt, Variant};

/// `offsetof` of each (struct, field) for one target, read back from the IR
/// of a generated translation unit.
fn offsets(variant: Variant, fields: &[(String, String)]) -> Vec<u64> {
    let mut source =
        String::from("#include <ntddk.h>\n#include <stddef.h>\nunsigned long long lockcheck_offsets[] = {\n");
    for (s, f) in fields {
        source.push_str(&format!("    offsetof(struct {s}, {f}),\n"));
    }
    source.push_str("};\n");
    let dir = std::env::temp_dir().join(format!("lockcheck-layouts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{}.c", variant.name()));
    std::fs::write(&c, source).unwrap();
    let flags: Vec<String> = variant.clang_flags().into_iter().filter(|f| f != "-c" && f != "-emit-llvm").collect();
    let output = Command::new("clang-22").args(&flags).args(["-S", "-emit-llvm", "-o", "-"]).arg(&c).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let ir = String::from_utf8(output.stdout).unwrap();
    let line = ir.lines().find(|l| l.starts_with("@lockcheck_offsets")).expect("offsets array in IR");
    let body = &line[line.find("[i64").expect("array initializer")..];
    body.split("i64 ")
        .skip(1)
        .map(|n| n.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap())
        .collect()
}

#[test]
fn rules_yaml_struct_offsets_match_the_headers() {
    let rules = lockcheck::RulePack::builtin().unwrap();
    let mut fields = Vec::new();
    let mut expected: Vec<[u64; 2]> = Vec::new();
    for (struct_name, struct_fields) in &rules.structs {
        for (field_name, field) in struct_fields {
            fields.push((struct_name.clone(), field_name.clone()));
            expected.push(field.offset);
        }
    }
    assert!(!fields.is_empty());
    for (arch, column) in [(Arch::X86_64, 0), (Arch::I686, 1)] {
        let actual = offsets(Variant { opt: Opt::O0, arch }, &fields);
        assert_eq!(actual.len(), fields.len());
        for ((field, want), got) in fields.iter().zip(&expected).zip(&actual) {
            assert_eq!(
                want[column], *got,
                "{}.{} on {arch:?}: rules.yaml says {}, the headers say {got}",
                field.0, field.1, want[column]
            );
        }
    }
}
