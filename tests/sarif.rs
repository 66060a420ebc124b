//! SARIF output: valid against the OASIS SARIF 2.1.0 schema (vendored in
//! tests/schemas/) from the library, the CLI and the pass plugin, and shaped
//! for code scanning: results point at their rules, code flows follow the
//! notes, fingerprints survive edits elsewhere in the file.
//!
//! Needs the workspace built (`cargo build --release --workspace`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use lockcheck::render::sarif::FINGERPRINT_KEY;
use lockcheck_tests::front_ends::{cli_path, plugin_path};
use lockcheck_tests::{
    Arch, Fixture, Opt, Variant, compile, compile_example, fixtures_root, load_fixture, repo_root, temp_scratch,
};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    temp_scratch("sarif", name)
}

/// The schema: $LOCKCHECK_SARIF_SCHEMA, else the vendored copy.
fn schema_path() -> PathBuf {
    std::env::var_os("LOCKCHECK_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/sarif-schema-2.1.0.json"))
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = schema_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&schema)
            .expect("the SARIF schema compiles")
    })
}

/// Every schema violation in `log`, one per line.
fn schema_errors(log: &Value) -> Vec<String> {
    validator().iter_errors(log).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn assert_valid(log: &Value) {
    let errors = schema_errors(log);
    assert!(errors.is_empty(), "SARIF not valid against the schema:\n{}", errors.join("\n"));
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().expect("results array")
}

fn fingerprints(log: &Value) -> Vec<String> {
    results(log).iter().map(|r| r["partialFingerprints"][FINGERPRINT_KEY].as_str().unwrap().to_string()).collect()
}

fn start_lines(log: &Value) -> Vec<u64> {
    results(log)
        .iter()
        .map(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap())
        .collect()
}

/// Runs `lockcheck check --format sarif` in `dir`; returns the exit code
/// and the log.
fn cli_sarif(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let output = Command::new(cli_path())
        .current_dir(dir)
        .args(["check", "--format", "sarif"])
        .args(args)
        .output()
        .expect("run lockcheck (build the workspace first)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 1)), "lockcheck failed: {stderr}");
    (output.status.code(), parse(&String::from_utf8_lossy(&output.stdout)))
}

/// The structure code scanning relies on, for every result of a log
/// rendered from `diagnostics`.
fn assert_structure(log: &Value, diagnostics: &[lockcheck::Diagnostic]) {
    let run = &log["runs"][0];
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-schema-2.1.0"));
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "lockcheck");
    assert!(driver["version"].is_string() && driver["informationUri"].is_string());
    let rules = driver["rules"].as_array().unwrap();
    for rule in rules {
        for key in ["id", "name"] {
            assert!(rule[key].is_string(), "{key} missing in {rule}");
        }
        assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
        assert!(rule["fullDescription"]["text"].is_string(), "{rule}");
        assert!(rule["help"]["markdown"].as_str().unwrap().contains("## Why it matters"), "{rule}");
        assert!(rule["defaultConfiguration"]["level"].is_string(), "{rule}");
        assert!(!rule["properties"]["tags"].as_array().unwrap().is_empty(), "{rule}");
        assert!(!rule["properties"]["driverModels"].as_array().unwrap().is_empty(), "{rule}");
    }
    let results = results(log);
    assert_eq!(results.len(), diagnostics.len());
    for (result, d) in results.iter().zip(diagnostics) {
        // ruleIndex names the rule of ruleId, and the level is the rule's.
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(result["ruleId"], d.rule.as_str());
        assert_eq!(rules[index]["id"], d.rule.as_str());
        assert_eq!(result["level"], rules[index]["defaultConfiguration"]["level"]);
        assert_eq!(result["message"]["text"], d.message.as_str());
        let primary = &result["locations"][0];
        assert_eq!(primary["logicalLocations"][0]["name"], d.function.as_str());
        assert_eq!(primary["logicalLocations"][0]["kind"], "function");
        if let Some(l) = &d.location {
            assert_eq!(primary["physicalLocation"]["region"]["startLine"], l.line);
            assert_eq!(primary["physicalLocation"]["region"]["startColumn"], l.column);
        }
        // Notes: related locations with ids 1.., and the code flow in their
        // order, ending at the defect.
        let related = result["relatedLocations"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(related.len(), d.notes.len());
        for (i, (r, note)) in related.iter().zip(&d.notes).enumerate() {
            assert_eq!(r["id"], i + 1);
            assert_eq!(r["message"]["text"], note.message.as_str());
            if let Some(l) = &note.location {
                assert_eq!(r["physicalLocation"]["region"]["startLine"], l.line);
            }
        }
        if d.notes.is_empty() {
            assert!(result.get("codeFlows").is_none());
        } else {
            let steps = result["codeFlows"][0]["threadFlows"][0]["locations"].as_array().unwrap();
            let messages: Vec<&str> =
                steps.iter().map(|s| s["location"]["message"]["text"].as_str().unwrap()).collect();
            let notes: Vec<&str> = d.notes.iter().map(|n| n.message.as_str()).collect();
            assert_eq!(messages[..notes.len()], notes[..], "code flow out of order");
            assert_eq!(messages.last().copied(), Some(d.message.as_str()), "code flow ends at the defect");
        }
        assert!(result["partialFingerprints"][FINGERPRINT_KEY].is_string(), "{result}");
    }
    let unique: BTreeSet<String> = fingerprints(log).into_iter().collect();
    assert_eq!(unique.len(), results.len(), "fingerprints must tell results apart");
}

fn fixture(relative: &str) -> Fixture {
    let path = fixtures_root().join(relative);
    let dir = path.parent().unwrap().to_path_buf();
    load_fixture(relative.trim_end_matches(".c").to_string(), dir, vec![path])
}

/// The library's diagnostics for a fixture (x86_64, -O0).
fn library_diagnostics(fixture: &Fixture) -> Vec<lockcheck::Diagnostic> {
    let bitcode = compile(fixture, Variant { opt: Opt::O0, arch: Arch::X86_64 }).unwrap();
    let mut config = lockcheck::Config::new(lockcheck::RulePack::builtin().unwrap());
    config.entries = fixture.args.entries.clone();
    config.model = fixture.args.model.clone();
    config.all_functions = fixture.args.all_functions;
    lockcheck::check_files(&[bitcode], &config).unwrap().diagnostics
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    // Guards against a validator that accepts everything.
    let bad = serde_json::json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "lockcheck" } },
                   "results": [{ "ruleId": "wdm.SpinLock", "level": "fatal" }] }],
    });
    let errors = schema_errors(&bad);
    assert!(errors.iter().any(|e| e.contains("fatal")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("message")), "{errors:?}");
    // Deep inside a real log: a line 0 and an unknown property.
    let location = lockcheck::diagnostics::Location { file: "d.c".into(), line: 3, column: 1, path: "d.c".into() };
    let diagnostic = lockcheck::Diagnostic {
        rule: "wdm.SpinLock".into(),
        check: lockcheck::checks::Check::DoubleAcquire,
        severity: lockcheck::rules::Severity::Warning,
        message: "spin lock 'g' is acquired while already held".into(),
        function: "F".into(),
        symbol: "F".into(),
        location: Some(location.clone()),
        notes: vec![lockcheck::diagnostics::Note { message: "acquired here".into(), location: Some(location) }],
    };
    let mut log = lockcheck::render::sarif::log(&[diagnostic], &lockcheck::RulePack::builtin().unwrap());
    assert_valid(&log);
    log["runs"][0]["results"][0]["codeFlows"][0]["threadFlows"][0]["locations"][0]["location"]["physicalLocation"]["region"]
        ["startLine"] = serde_json::json!(0);
    log["runs"][0]["results"][0]["relatedLocations"][0]["lineNumber"] = serde_json::json!(3);
    let errors = schema_errors(&log);
    assert!(errors.iter().any(|e| e.contains("startLine")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("lineNumber")), "{errors:?}");
}

#[test]
fn findings_across_rules_are_valid_and_well_formed() {
    // Four rules, three driver models; the interprocedural fixture's
    // reports carry multi-step traces through two helpers.
    let fixtures = [
        "interprocedural/cancel_routine_helper_chain_completes_holding.c",
        "wdm.SpinLock/held_at_exit_error_return.c",
        "kmdf.SpinlockRelease/held_at_exit_ioread_early_return.c",
        "storport.SpinLock/double_acquire_helper_called_twice.c",
    ];
    let mut diagnostics = Vec::new();
    for name in fixtures {
        let found = library_diagnostics(&fixture(name));
        assert!(!found.is_empty(), "{name}: no violation found");
        diagnostics.extend(found);
    }
    let rules_seen: BTreeSet<&str> = diagnostics.iter().map(|d| d.rule.as_str()).collect();
    assert!(rules_seen.len() >= 4, "{rules_seen:?}");
    assert!(diagnostics.iter().any(|d| d.notes.len() >= 3), "no multi-step trace");
    let pack = lockcheck::RulePack::builtin().unwrap();
    let log = lockcheck::render::sarif::log(&diagnostics, &pack);
    assert_valid(&log);
    assert_structure(&log, &diagnostics);
    // The pack's rules and lockcheck's own unused-ignore diagnostic.
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len(), pack.rules.len() + 1);
    // The rendered text is the same log.
    assert_eq!(parse(&lockcheck::render::sarif(&diagnostics, &pack)), log);
}

#[test]
fn cli_sarif_over_the_example_and_fixtures() {
    let example = repo_root().join("examples/packet_queue.c");
    // Inside the working directory: relative to %SRCROOT%.
    let (code, log) = cli_sarif(&repo_root(), &["examples/packet_queue.c"]);
    assert_eq!(code, Some(1));
    assert_valid(&log);
    let result = &results(&log)[0];
    let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "examples/packet_queue.c");
    assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    let root = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"].as_str().unwrap();
    assert!(root.starts_with("file:///") && root.ends_with('/'), "{root}");
    assert_eq!(result["ruleId"], "wdm.SpinLock");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 126);
    let steps = result["codeFlows"][0]["threadFlows"][0]["locations"].as_array().unwrap();
    let lines: Vec<u64> =
        steps.iter().map(|s| s["location"]["physicalLocation"]["region"]["startLine"].as_u64().unwrap()).collect();
    assert_eq!(lines, [121, 123, 124, 126]);
    // Outside it: file: URIs.
    let elsewhere = scratch("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (_, log) = cli_sarif(&elsewhere, &[example.to_str().unwrap()]);
    assert_valid(&log);
    let artifact = &results(&log)[0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], format!("file://{}", example.display()));
    assert!(artifact.get("uriBaseId").is_none());
    // Fixtures with violations, through the CLI and its own compile.
    for name in [
        "interprocedural/cancel_routine_helper_chain_completes_holding.c",
        "wdm.SpinLockSafe/cancel_routine_completes_before_release.c",
    ] {
        let (code, log) = cli_sarif(&repo_root(), &[&format!("tests/fixtures/{name}")]);
        assert_eq!(code, Some(1), "{name}");
        assert_valid(&log);
        assert!(!results(&log).is_empty(), "{name}");
    }
}

#[test]
fn clean_run_has_empty_results_and_every_rule() {
    let (code, log) = cli_sarif(&repo_root(), &["tests/fixtures/wdm.SpinLock/clean_nested_distinct_locks.c"]);
    assert_eq!(code, Some(0));
    assert_valid(&log);
    assert!(results(&log).is_empty());
    let pack = lockcheck::RulePack::builtin().unwrap();
    let ids: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = pack.rules.iter().map(|r| r.id.as_str()).collect();
    expected.push("lockcheck.unused-ignore");
    assert_eq!(ids, expected, "the pack's rules, then lockcheck's own diagnostic");
}

#[test]
fn unused_ignores_point_at_the_tool_descriptor() {
    let fixture = "tests/fixtures/suppress/unused_ignores_reported.c";
    let flags = [
        "--target=x86_64-w64-mingw32",
        "--sysroot=/usr/x86_64-w64-mingw32",
        "-isystem",
        "/usr/share/mingw-w64/include/ddk",
        "-I",
        "tests/fixtures/include",
        "-w",
    ];
    let mut args = vec!["--report-unused-ignores", fixture, "--"];
    args.extend(flags);
    let (code, log) = cli_sarif(&repo_root(), &args);
    assert_eq!(code, Some(1));
    assert_valid(&log);
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let unused: Vec<&Value> = results(&log).iter().filter(|r| r["ruleId"] == "lockcheck.unused-ignore").collect();
    assert_eq!(unused.len(), 2, "{log}");
    for r in unused {
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], "lockcheck.unused-ignore");
    }
}

#[test]
fn rules_come_from_the_pack_in_use() {
    let pack = scratch("renamed.yaml");
    let summary = "A spin lock is acquired while already held, released while not held, or still held when a driver routine returns.";
    std::fs::write(&pack, lockcheck::rules::BUILTIN_RULES.replacen(summary, "Spin lock misuse (site rules).", 1))
        .unwrap();
    let (_, log) = cli_sarif(&repo_root(), &["--rules", pack.to_str().unwrap(), "examples/packet_queue.c"]);
    assert_valid(&log);
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let index = results(&log)[0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "wdm.SpinLock");
    assert_eq!(rules[index]["shortDescription"]["text"], "Spin lock misuse (site rules).");
}

#[test]
fn fingerprints_survive_reruns_and_edits_elsewhere() {
    let name = "interprocedural/cancel_routine_helper_chain_completes_holding.c";
    let source = std::fs::read_to_string(fixtures_root().join(name)).unwrap();
    let run_in = |dir: &str, text: &str| {
        let dir = scratch(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("driver.c"), text).unwrap();
        let (code, log) = cli_sarif(&dir, &["driver.c"]);
        assert_eq!(code, Some(1));
        assert_valid(&log);
        log
    };
    let first = run_in("original", &source);
    let again = run_in("original", &source);
    assert_eq!(results(&first).len(), 2, "two reports expected");
    assert_eq!(fingerprints(&first), fingerprints(&again));
    // An unrelated line above everything moves every report down one line
    // and changes no fingerprint.
    let edited = run_in("edited", &format!("/* an unrelated comment */\n{source}"));
    assert_eq!(fingerprints(&first), fingerprints(&edited));
    let moved: Vec<u64> = start_lines(&first).iter().map(|l| l + 1).collect();
    assert_eq!(start_lines(&edited), moved);
}

fn example_bitcode() -> PathBuf {
    compile_example(&scratch("example.bc"))
}

#[test]
fn plugin_writes_valid_sarif() {
    // opt with the pass parameter.
    let out = scratch("opt.sarif");
    let output = Command::new("opt-22")
        .arg(format!("-load-pass-plugin={}", plugin_path().display()))
        .arg(format!("-passes=lockcheck<format=sarif;output={}>", out.display()))
        .arg("-disable-output")
        .arg(example_bitcode())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let log = parse(&std::fs::read_to_string(&out).unwrap());
    assert_valid(&log);
    assert_eq!(results(&log).len(), 1);
    assert_eq!(results(&log)[0]["ruleId"], "wdm.SpinLock");
    assert_eq!(start_lines(&log), [126]);
    // clang -fpass-plugin with the -lockcheck-format option.
    let out = scratch("clang.sarif");
    let flags: Vec<String> =
        Variant { opt: Opt::O2, arch: Arch::X86_64 }.clang_flags().into_iter().filter(|f| f != "-emit-llvm").collect();
    let output = Command::new("clang-22")
        .arg(format!("-fpass-plugin={}", plugin_path().display()))
        .args(flags)
        .args(["-mllvm", "-lockcheck-format=sarif", "-mllvm"])
        .arg(format!("-lockcheck-output={}", out.display()))
        .arg("-o")
        .arg(scratch("example.o"))
        .arg(repo_root().join("examples/packet_queue.c"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let log = parse(&std::fs::read_to_string(&out).unwrap());
    assert_valid(&log);
    assert_eq!(start_lines(&log), [126]);
}
