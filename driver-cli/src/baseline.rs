//! Baselines: adopt lockcheck on a driver with known findings, and fail only
//! on new ones.
//!
//! `lockcheck check --write-baseline lockcheck-baseline.json driver.c`
//! records today's findings (and exits 0 whatever they are); later runs with
//! `--baseline lockcheck-baseline.json` show only findings the baseline does
//! not hold, and the exit code reflects only those.
//!
//! A finding is keyed by what survives unrelated edits: its rule id, its
//! file as reported, its function and its message with line numbers
//! stripped, never its line. Identical keys are told apart by an occurrence
//! index (their order in the report), and matching counts them: a baseline
//! holding a key once matches one of two findings with that key, and the
//! other is new. The file as reported is relative to the current directory
//! when inside it, so run lockcheck from the same directory each time.
//!
//! ```json
//! {"version": 1, "tool": "lockcheck", "findings": [
//!   {"rule": "wdm.SpinLock", "file": "driver.c", "function": "DispatchRead",
//!    "message": "spin lock '&ext->Lock' is acquired while already held", "occurrence": 0}]}
//! ```

use std::collections::HashMap;
use std::path::Path;

use lockcheck::Diagnostic;
use serde_json::{Value, json};

/// The baseline format written; the only one read.
const VERSION: u64 = 1;

/// What identifies a finding across edits: (rule, file, function, message).
type Key = (String, String, String, String);

fn key(d: &Diagnostic) -> Key {
    let file = d.location.as_ref().map(|l| l.file.clone()).unwrap_or_default();
    (d.rule.clone(), file, d.function.clone(), strip_line_numbers(&d.message))
}

/// `message` without line numbers: digits after `line ` or `:` are dropped
/// (`to line 12` -> `to line `, `queue.h:40` -> `queue.h:`); other numbers,
/// such as array indices in lock names, stay.
fn strip_line_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if (c == ':' || out.ends_with("line ")) && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.next_if(char::is_ascii_digit).is_some() {}
        }
    }
    out
}

/// A loaded baseline: how many findings of each key it holds.
pub struct Baseline {
    counts: HashMap<Key, usize>,
}

/// What filtering by a baseline did.
pub struct Matched {
    /// Findings the baseline held (no longer shown).
    pub matched: usize,
    /// Baseline entries no finding matched any more.
    pub fixed: usize,
}

/// Reads a baseline file; errors are one line naming the file.
pub fn load(path: &Path) -> Result<Baseline, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read baseline: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: not a lockcheck baseline: {e}"))?;
    match value.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(other) => return Err(format!("{name}: baseline version {other} is not supported (expected {VERSION})")),
        None => return Err(format!("{name}: not a lockcheck baseline: no \"version\" number")),
    }
    let findings = value
        .get("findings")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{name}: not a lockcheck baseline: no \"findings\" array"))?;
    let mut counts: HashMap<Key, usize> = HashMap::new();
    for (index, entry) in findings.iter().enumerate() {
        let field =
            |field: &str| {
                entry.get(field).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    format!("{name}: not a lockcheck baseline: finding {index} has no \"{field}\" string")
                })
            };
        let key = (field("rule")?, field("file")?, field("function")?, field("message")?);
        *counts.entry(key).or_default() += 1;
    }
    Ok(Baseline { counts })
}

impl Baseline {
    /// Drops the findings the baseline holds, counting keys: the first n
    /// findings of a key the baseline holds n times are matched.
    pub fn filter(&self, diagnostics: &mut Vec<Diagnostic>) -> Matched {
        let mut seen: HashMap<Key, usize> = HashMap::new();
        let mut matched = 0;
        diagnostics.retain(|d| {
            let key = key(d);
            let held = self.counts.get(&key).copied().unwrap_or(0);
            let n = seen.entry(key).or_default();
            *n += 1;
            if *n <= held {
                matched += 1;
                false
            } else {
                true
            }
        });
        let fixed = self.counts.iter().map(|(k, &held)| held.saturating_sub(seen.get(k).copied().unwrap_or(0))).sum();
        Matched { matched, fixed }
    }
}

/// The baseline holding `diagnostics`, as JSON text: one finding a line, so
/// a baseline kept in version control diffs by finding.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    let mut occurrences: HashMap<Key, usize> = HashMap::new();
    let findings: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            let key = key(d);
            let n = occurrences.entry(key.clone()).or_default();
            let entry = json!({"rule": key.0, "file": key.1, "function": key.2, "message": key.3, "occurrence": *n});
            *n += 1;
            format!("    {entry}")
        })
        .collect();
    let findings = if findings.is_empty() { "[]".to_string() } else { format!("[\n{}\n  ]", findings.join(",\n")) };
    format!("{{\n  \"version\": {VERSION},\n  \"tool\": \"lockcheck\",\n  \"findings\": {findings}\n}}\n")
}

/// Writes the baseline holding `diagnostics` to `path`.
pub fn write(path: &Path, diagnostics: &[Diagnostic]) -> Result<(), String> {
    std::fs::write(path, render(diagnostics)).map_err(|e| format!("{}: cannot write baseline: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockcheck::checks::Check;
    use lockcheck::diagnostics::Location;
    use lockcheck::rules::Severity;

    fn finding(function: &str, line: u32, message: &str) -> Diagnostic {
        Diagnostic {
            rule: "wdm.SpinLock".into(),
            check: Check::DoubleAcquire,
            severity: Severity::Warning,
            message: message.into(),
            function: function.into(),
            symbol: function.into(),
            location: Some(Location { file: "d.c".into(), line, column: 1, path: "/d.c".into() }),
            notes: Vec::new(),
        }
    }

    fn baseline_of(diagnostics: &[Diagnostic]) -> Baseline {
        let path = std::env::temp_dir().join(format!("lockcheck-baseline-unit-{}.json", std::process::id()));
        write(&path, diagnostics).unwrap();
        let baseline = load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        baseline
    }

    #[test]
    fn line_numbers_are_stripped_and_indices_kept() {
        assert_eq!(strip_line_numbers("taking the branch to line 125"), "taking the branch to line ");
        assert_eq!(strip_line_numbers("see queue.h:40 and Locks[3]"), "see queue.h: and Locks[3]");
    }

    #[test]
    fn keys_survive_line_shifts_and_are_counted() {
        let base = baseline_of(&[finding("A", 10, "m"), finding("A", 20, "m"), finding("B", 5, "x")]);
        // Lines moved, B fixed, a third A with the same message is new.
        let mut now = vec![finding("A", 13, "m"), finding("A", 23, "m"), finding("A", 30, "m"), finding("C", 1, "m")];
        let m = base.filter(&mut now);
        assert_eq!((m.matched, m.fixed), (2, 1));
        let left: Vec<(&str, u32)> =
            now.iter().map(|d| (d.function.as_str(), d.location.as_ref().unwrap().line)).collect();
        assert_eq!(left, vec![("A", 30), ("C", 1)]);
    }

    #[test]
    fn written_entries_carry_occurrence_indices() {
        let text = render(&[finding("A", 10, "m"), finding("A", 20, "m")]);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text.lines().count(), 8, "{text}");
        assert!(serde_json::from_str::<Value>(&render(&[])).unwrap()["findings"].as_array().unwrap().is_empty());
        assert_eq!(value["version"], 1);
        assert_eq!(value["findings"][0]["occurrence"], 0);
        assert_eq!(value["findings"][1]["occurrence"], 1);
        assert!(value["findings"][0].get("line").is_none());
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let path = std::env::temp_dir().join(format!("lockcheck-baseline-bad-{}.json", std::process::id()));
        for (text, needle) in [
            ("not json", "not a lockcheck baseline"),
            ("{\"version\": 7, \"findings\": []}", "version 7 is not supported"),
            ("{\"version\": 1}", "no \"findings\" array"),
            ("{\"version\": 1, \"findings\": [{\"rule\": \"r\"}]}", "finding 0 has no \"file\""),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = load(&path).err().unwrap();
            assert!(e.contains(needle) && !e.contains('\n'), "{e}");
        }
        std::fs::remove_file(&path).unwrap();
        assert!(load(&path).err().unwrap().contains("cannot read baseline"));
    }
}
