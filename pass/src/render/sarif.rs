//! SARIF 2.1.0, for code scanning services and SARIF viewers.
//!
//! One run: the tool with every rule of the rule pack in use (id, SDV name,
//! descriptions and the rule's documentation as help), and one result per
//! diagnostic: the rule (id and index), the level, the message, the primary
//! location with the function as logical location, every note as a related
//! location (ids 1, 2, ...), the notes in order as a code flow ending at the
//! defect, and a partial fingerprint that does not depend on line numbers.
//!
//! Paths inside the working directory are written relative, against the
//! `%SRCROOT%` base (the working directory, given in `originalUriBaseIds`);
//! others as `file:` URIs.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::diagnostics::{Diagnostic, Location};
use crate::rules::{Rule, RulePack, Severity};

/// The `$schema` of the log: the OASIS schema (with errata 01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";
/// `tool.driver.informationUri`. A placeholder until the project has a
/// public home.
pub const INFORMATION_URI: &str = "https://example.com/lockcheck";
/// The base relative artifact locations are resolved against.
pub const SRCROOT: &str = "%SRCROOT%";
/// The key of lockcheck's entry in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "lockcheck/v1";

/// The SARIF log for `diagnostics`, found with the rules of `rules`.
pub fn render(diagnostics: &[Diagnostic], rules: &RulePack) -> String {
    let mut text = serde_json::to_string_pretty(&log(diagnostics, rules)).expect("SARIF serializes");
    text.push('\n');
    text
}

/// The log as a JSON value.
pub fn log(diagnostics: &[Diagnostic], rules: &RulePack) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let driver = json!({
        "name": "lockcheck",
        "fullName": format!("lockcheck {version} (LLVM {})", crate::LLVM_VERSION),
        "version": version,
        "semanticVersion": version,
        "informationUri": INFORMATION_URI,
        "rules": rules.rules.iter().map(|r| descriptor(rules, r)).chain([unused_ignore_descriptor(rules)]).collect::<Vec<_>>(),
    });
    let mut fingerprints = Fingerprints::default();
    let results: Vec<Value> = diagnostics.iter().map(|d| result(d, rules, &mut fingerprints)).collect();
    let mut run = json!({
        "tool": { "driver": driver },
        "invocations": [{ "executionSuccessful": true }],
        "results": results,
    });
    if let Some(root) = std::env::current_dir().ok().and_then(|cwd| directory_uri(&cwd)) {
        run["originalUriBaseIds"] = json!({ SRCROOT: { "uri": root } });
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [run],
    })
}

/// `lockcheck.unused-ignore`: not a rule of the pack but lockcheck's own
/// diagnostic (a `lockcheck-ignore` comment that silenced nothing), described
/// so code scanning can show it like the rules.
fn unused_ignore_descriptor(pack: &RulePack) -> Value {
    let help = "A `lockcheck-ignore[rule]: reason` comment matched no finding on its line (or, alone on its line, \
                on the line below).\n\n## Why it matters\n\nA stale suppression hides the next real violation \
                of that rule on that line. Remove it, or correct the rule id.";
    json!({
        "id": crate::suppress::UNUSED_IGNORE,
        "name": "UnusedIgnore",
        "shortDescription": { "text": "a lockcheck-ignore comment silences nothing" },
        "fullDescription": { "text": "A `lockcheck-ignore[rule]: reason` comment matched no finding on its line (or the line below): the code was fixed or the comment names the wrong rule. Reported with --report-unused-ignores." },
        "help": { "text": plain(help), "markdown": help },
        "defaultConfiguration": { "level": "warning" },
        "properties": {
            "tags": ["lockcheck", "suppression"],
            "driverModels": pack.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        },
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// A rule as a SARIF reportingDescriptor.
fn descriptor(pack: &RulePack, rule: &Rule) -> Value {
    let models: Vec<&str> = rule.models.iter().map(|&m| pack.models[m].id.as_str()).collect();
    let mut checks: Vec<&str> = Vec::new();
    for own in &rule.owns {
        for check in &own.checks {
            if !checks.contains(&check.as_str()) {
                checks.push(check.as_str());
            }
        }
    }
    let mut tags = vec!["concurrency", "correctness", "spin-lock", "windows-driver"];
    tags.extend(&models);
    let doc = rule.doc.trim_end();
    let markdown = format!(
        "{}\n\n{doc}\n\nStatic Driver Verifier rule: {}. Driver models: {}.",
        rule.summary,
        rule.sdv_name,
        models.join(", ")
    );
    json!({
        "id": rule.id,
        "name": rule.sdv_name,
        "shortDescription": { "text": rule.summary },
        "fullDescription": { "text": section(doc, "What it finds").unwrap_or_else(|| rule.summary.clone()) },
        "help": { "text": plain(doc), "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "tags": tags,
            "sdvRule": rule.sdv_name,
            "driverModels": models,
            "checks": checks,
            "problem.severity": level(rule.severity),
        },
    })
}

/// A rule's documentation (Markdown) as plain text: headings lose their
/// `##`, code fences go.
fn plain(doc: &str) -> String {
    let lines: Vec<&str> = doc
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .map(|l| l.strip_prefix("## ").unwrap_or(l))
        .collect();
    lines.join("\n")
}

/// The text of a `## title` section of a rule's documentation, as one
/// paragraph.
fn section(doc: &str, title: &str) -> Option<String> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != format!("## {title}"));
    lines.next()?;
    let words: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).flat_map(str::split_whitespace).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn result(d: &Diagnostic, rules: &RulePack, fingerprints: &mut Fingerprints) -> Value {
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(d.rule));
    let index = match rules.rules.iter().position(|r| r.id == d.rule) {
        Some(index) => Some(index),
        // The tool's own diagnostic is listed after the pack's rules.
        None if d.rule == crate::suppress::UNUSED_IGNORE => Some(rules.rules.len()),
        None => None,
    };
    if let Some(index) = index {
        result.insert("ruleIndex".into(), json!(index));
    }
    result.insert("level".into(), json!(level(d.severity)));
    result.insert("message".into(), json!({ "text": d.message }));
    let mut primary = Map::new();
    if let Some(l) = &d.location {
        primary.insert("physicalLocation".into(), physical(l));
    }
    let mut logical = json!({ "name": d.function, "fullyQualifiedName": d.function, "kind": "function" });
    if !d.symbol.is_empty() && d.symbol != d.function {
        logical["decoratedName"] = json!(d.symbol);
    }
    primary.insert("logicalLocations".into(), json!([logical]));
    result.insert("locations".into(), json!([primary]));
    if !d.notes.is_empty() {
        let related: Vec<Value> = d
            .notes
            .iter()
            .enumerate()
            .map(|(i, note)| {
                let mut location = located(note.location.as_ref(), &note.message);
                location.insert("id".into(), json!(i + 1));
                Value::Object(location)
            })
            .collect();
        result.insert("relatedLocations".into(), json!(related));
        // The notes in order, then the defect itself.
        let mut steps: Vec<Value> =
            d.notes.iter().map(|note| json!({ "location": located(note.location.as_ref(), &note.message) })).collect();
        if d.location.is_some() {
            steps.push(json!({ "location": located(d.location.as_ref(), &d.message), "importance": "essential" }));
        }
        result.insert("codeFlows".into(), json!([{ "threadFlows": [{ "locations": steps }] }]));
    }
    let file = d.location.as_ref().map(|l| l.file.as_str()).unwrap_or("");
    result.insert("partialFingerprints".into(), json!({ FINGERPRINT_KEY: fingerprints.next(d, file) }));
    result.insert("properties".into(), json!({ "check": d.check.as_str() }));
    Value::Object(result)
}

/// A location object with a message (and the physical location, if known).
fn located(location: Option<&Location>, message: &str) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(l) = location {
        out.insert("physicalLocation".into(), physical(l));
    }
    out.insert("message".into(), json!({ "text": message }));
    out
}

fn physical(l: &Location) -> Value {
    let artifact = if let Some(uri) = absolute_uri(&l.file) {
        json!({ "uri": uri })
    } else {
        json!({ "uri": encode_path(&l.file), "uriBaseId": SRCROOT })
    };
    let mut region = Map::new();
    if l.line > 0 {
        region.insert("startLine".into(), json!(l.line));
        if l.column > 0 {
            region.insert("startColumn".into(), json!(l.column));
        }
    }
    let mut out = json!({ "artifactLocation": artifact });
    if !region.is_empty() {
        out["region"] = Value::Object(region);
    }
    out
}

/// A `file:` URI for an absolute path (POSIX, or a Windows drive path as
/// debug info from a Windows build names files); `None` for a relative one.
fn absolute_uri(file: &str) -> Option<String> {
    if Path::new(file).is_absolute() {
        return Some(format!("file://{}", encode_path(file)));
    }
    let bytes = file.as_bytes();
    let drive =
        bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && matches!(bytes[2], b'\\' | b'/');
    drive.then(|| format!("file:///{}", encode_path(&file.replace('\\', "/"))))
}

/// The working directory as a `file:` URI ending in `/`.
fn directory_uri(dir: &Path) -> Option<String> {
    let text = dir.to_str()?;
    let uri = absolute_uri(text)?;
    Some(if uri.ends_with('/') { uri } else { format!("{uri}/") })
}

/// A path as a URI path: every byte but unreserved characters, `/` and a
/// drive letter's `:` percent-encoded.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, byte) in path.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/')
            || (byte == b':' && i == 1 && path.as_bytes()[0].is_ascii_alphabetic());
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Partial fingerprints: a hash of what identifies a defect apart from
/// where it is (rule, check, function, file, and the message, which names
/// the lock, the routine and the forbidden call but never a line), and the
/// occurrence of that hash among the results so far, so that two reports
/// alike in all of these stay apart. Inserting or removing unrelated lines
/// changes none of it.
#[derive(Default)]
struct Fingerprints {
    seen: Vec<(u64, usize)>,
}

impl Fingerprints {
    fn next(&mut self, d: &Diagnostic, file: &str) -> String {
        let hash = fnv1a(&[&d.rule, d.check.as_str(), &d.function, file, &d.message]);
        let occurrence = match self.seen.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.seen.push((hash, 1));
                1
            }
        };
        format!("{hash:016x}:{occurrence}")
    }
}

/// 64-bit FNV-1a over the parts, each followed by a 0 byte: stable across
/// runs, builds and platforms (unlike std's hashers).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part.as_bytes().iter().chain(&[0u8]) {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Check;
    use crate::diagnostics::Note;

    fn location(file: &str, line: u32) -> Location {
        Location { file: file.into(), line, column: 5, path: file.into() }
    }

    fn diagnostic(rule: &str, line: u32) -> Diagnostic {
        Diagnostic {
            rule: rule.into(),
            check: Check::HeldAtExit,
            severity: Severity::Warning,
            message: "dispatch routine 'Dispatch' returns while spin lock '&ext->Lock' is held".into(),
            function: "Dispatch".into(),
            symbol: "Dispatch".into(),
            location: Some(location("src/driver.c", line)),
            notes: vec![
                Note {
                    message: "spin lock '&ext->Lock' acquired here".into(),
                    location: Some(location("src/driver.c", 3)),
                },
                Note { message: "taking the true branch".into(), location: None },
            ],
        }
    }

    #[test]
    fn results_point_at_their_rules_and_keep_the_notes_in_order() {
        let rules = RulePack::builtin().unwrap();
        let log = log(&[diagnostic("wdm.SpinLock", 10)], &rules);
        let run = &log["runs"][0];
        // The pack's rules, then lockcheck's own unused-ignore diagnostic.
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), rules.rules.len() + 1);
        let result = &run["results"][0];
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "wdm.SpinLock");
        assert_eq!(run["tool"]["driver"]["rules"][index]["name"], "SpinLock (wdm)");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "src/driver.c");
        assert_eq!(location["artifactLocation"]["uriBaseId"], SRCROOT);
        assert_eq!(location["region"]["startLine"], 10);
        assert_eq!(result["relatedLocations"][1]["id"], 2);
        assert!(result["relatedLocations"][1].get("physicalLocation").is_none());
        let steps = result["codeFlows"][0]["threadFlows"][0]["locations"].as_array().unwrap();
        let messages: Vec<&str> = steps.iter().map(|s| s["location"]["message"]["text"].as_str().unwrap()).collect();
        assert_eq!(messages[..2], ["spin lock '&ext->Lock' acquired here", "taking the true branch"]);
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn fingerprints_ignore_lines_and_count_alike_reports() {
        let rules = RulePack::builtin().unwrap();
        let a = log(&[diagnostic("wdm.SpinLock", 10), diagnostic("wdm.SpinLock", 20)], &rules);
        let b = log(&[diagnostic("wdm.SpinLock", 12), diagnostic("wdm.SpinLock", 22)], &rules);
        let prints = |log: &Value| -> Vec<String> {
            log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["partialFingerprints"][FINGERPRINT_KEY].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(prints(&a), prints(&b));
        assert_ne!(prints(&a)[0], prints(&a)[1]);
        assert!(prints(&a)[1].ends_with(":2"));
    }

    #[test]
    fn paths_become_uris() {
        assert_eq!(absolute_uri("/src/my driver.c").unwrap(), "file:///src/my%20driver.c");
        assert_eq!(absolute_uri("C:\\src\\drv.c").unwrap(), "file:///C:/src/drv.c");
        assert_eq!(absolute_uri("src/drv.c"), None);
        assert_eq!(encode_path("a#b/c%.c"), "a%23b/c%25.c");
        assert_eq!(directory_uri(Path::new("/work")).unwrap(), "file:///work/");
    }

    #[test]
    fn full_description_is_the_what_it_finds_section() {
        let doc = "## What it finds\nA lock\nheld twice.\n\n## Why it matters\nDeadlock.\n";
        assert_eq!(section(doc, "What it finds").unwrap(), "A lock held twice.");
        assert_eq!(section(doc, "Example"), None);
        assert_eq!(plain("## Example\n```c\nf();\n```"), "Example\nf();");
    }
}
