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

pub fn list(rules: Option<&Path>) -> ExitCode {
    let pack = match load(rules) {
        Ok(p) => p,
        Err(code) => return code,
    };
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
