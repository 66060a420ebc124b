//! `lockcheck rules` and `lockcheck explain`.

use std::path::Path;
use std::process::ExitCode;

use lockcheck::RulePack;

use crate::fail;

fn load(rules: Option<&Path>) -> Result<RulePack, ExitCode> {
    match rules {
        Some(path) => RulePack::from_file(path),
        None => RulePack::builtin(),
    }
    .map_err(fail)
}

fn models(pack: &RulePack, rule: &lockcheck::rules::Rule) -> String {
    rule.models.iter().map(|&m| pack.models[m].id.as_str()).collect::<Vec<_>>().join(", ")
}

pub fn list(rules: Option<&Path>, format: &str) -> ExitCode {
    let pack = match load(rules) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if format == "json" {
        let mut text = serde_json::to_string_pretty(&as_json(&pack)).expect("rules serialize");
        text.push('\n');
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("cannot write output: {e}")),
        };
    }
    let width = pack.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for rule in &pack.rules {
        println!("{:width$}  {:8}  {}", rule.id, rule.severity.as_str(), rule.summary);
        println!("{:width$}  {:8}  SDV: {}; models: {}", "", "", rule.sdv_name, models(&pack, rule));
    }
    println!("\nRun `lockcheck explain <rule>` for a rule's documentation.");
    ExitCode::SUCCESS
}

pub fn explain(id: &str, rules: Option<&Path>) -> ExitCode {
    let pack = match load(rules) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(rule) = pack.rule_by_id(id) else {
        let known: Vec<&str> = pack.rules.iter().map(|r| r.id.as_str()).collect();
        return fail(format!("unknown rule `{id}` (known: {})", known.join(", ")));
    };
    println!("# {} ({})\n", rule.id, rule.sdv_name);
    println!("{}\n", rule.summary);
    println!("Severity: {}. Driver models: {}.", rule.severity.as_str(), models(&pack, rule));
    for own in &rule.owns {
        let kinds: Vec<&str> = own.kinds.iter().map(|&k| pack.lock_kinds[k].display.as_str()).collect();
        for check in &own.checks {
            println!("Check {}: {} ({}).", check.as_str(), check.summary(), kinds.join(", "));
        }
    }
    println!("\n{}", rule.doc.trim_end());
    ExitCode::SUCCESS
}

/// `{"source", "rules": [{"id", "sdv_name", "summary", "severity", "models",
/// "checks": [{"check", "summary", "lock_kinds"}], "doc"}]}`
fn as_json(pack: &RulePack) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = pack
        .rules
        .iter()
        .map(|rule| {
            // (check, lock kinds), a check once even when several entries own it.
            let mut checks: Vec<(lockcheck::checks::Check, Vec<&str>)> = Vec::new();
            for own in &rule.owns {
                for &check in &own.checks {
                    let kinds = own.kinds.iter().map(|&k| pack.lock_kinds[k].id.as_str());
                    match checks.iter_mut().find(|(c, _)| *c == check) {
                        Some((_, known)) => known.extend(kinds.filter(|k| !known.contains(k)).collect::<Vec<_>>()),
                        None => checks.push((check, kinds.collect())),
                    }
                }
            }
            serde_json::json!({
                "id": rule.id,
                "sdv_name": rule.sdv_name,
                "summary": rule.summary,
                "severity": rule.severity.as_str(),
                "models": rule.models.iter().map(|&m| pack.models[m].id.as_str()).collect::<Vec<_>>(),
                "checks": checks
                    .iter()
                    .map(|(check, kinds)| serde_json::json!({
                        "check": check.as_str(),
                        "summary": check.summary(),
                        "lock_kinds": kinds,
                    }))
                    .collect::<Vec<_>>(),
                "doc": rule.doc,
            })
        })
        .collect();
    serde_json::json!({ "source": pack.source, "rules": rules })
}
