//! Runs every fixture, for every variant, through the library, the opt
//! plugin and the CLI; each must report exactly the inline expectations.
//! Each fixture is also compiled with `clang-22 -fpass-plugin` at -O2, which
//! must report exactly the -O0 expectations (the plugin checks the module
//! before optimisation).
//! Each build is also checked with its module's functions reversed and
//! shuffled (`shuffle.rs`): the library must report exactly the same.
//! Besides the fixtures under tests/fixtures, runs the generated
//! path-sensitivity stress fixture (`generated.rs`).
//! Afterwards prints the precision report: per rule, over every fixture,
//! build and front end, the expected reports found and the false ones; and
//! how long the library took on the stress fixture and on the slowest
//! fixture (printed, never asserted: speed is measured by scripts/bench.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use lockcheck_tests::{
    Build, Fixture, FixtureArgs, Found, Variant, compile, difference, discover,
    generated::{STRESS_NAME, stress_fixture},
    library_details, library_notes, run_clang_plugin, run_cli, run_library, run_plugin,
    shuffle::{orders_for, reorder_bitcode},
};

/// Independent conditional locks in the generated stress fixture: 2^48
/// lock states, far past the per-point bound. `LOCKCHECK_STRESS_LOCKS=N`
/// overrides it, to see how the time grows.
const STRESS_LOCKS: usize = 48;

fn stress_locks() -> usize {
    std::env::var("LOCKCHECK_STRESS_LOCKS").ok().and_then(|n| n.parse().ok()).unwrap_or(STRESS_LOCKS)
}

/// How long the library front end took, per (fixture, variant).
static TIMES: Mutex<Vec<(String, Duration)>> = Mutex::new(Vec::new());

/// One way of running lockcheck: (bitcode, fixture options, fixture dir) -> findings.
type FrontEnd = fn(&Path, &FixtureArgs, &Path) -> Result<BTreeSet<Found>, String>;

const FRONT_ENDS: [(&str, FrontEnd); 3] = [("library", run_library), ("opt plugin", run_plugin), ("CLI", run_cli)];

/// Per rule: (expected, found among expected, false reports).
static TALLY: Mutex<BTreeMap<String, (usize, usize, usize)>> = Mutex::new(BTreeMap::new());

fn tally(expected: &BTreeSet<Found>, found: &BTreeSet<Found>) {
    let mut tally = TALLY.lock().unwrap();
    for e in expected {
        let entry = tally.entry(e.2.clone()).or_default();
        entry.0 += 1;
        if found.contains(e) {
            entry.1 += 1;
        }
    }
    for f in found.difference(expected) {
        tally.entry(f.2.clone()).or_default().2 += 1;
    }
}

fn check(fixture: &Fixture, variant: Variant) -> Result<(), Failed> {
    let bitcode = compile(fixture, variant)?;
    let expected = fixture.expected(variant);
    let mut problems = Vec::new();
    for (name, run) in FRONT_ENDS {
        let start = Instant::now();
        let result = run(&bitcode, &fixture.args, &fixture.dir);
        if name == "library" {
            TIMES.lock().unwrap().push((format!("{}::{}", fixture.name, variant.name()), start.elapsed()));
        }
        match result {
            Ok(found) => {
                tally(&expected, &found);
                if let Some(diff) = difference(&expected, &found) {
                    problems.push(format!("{name}: {diff}"));
                }
            }
            Err(e) => {
                tally(&expected, &BTreeSet::new());
                problems.push(format!("{name}: {e}"));
            }
        }
    }
    if !fixture.notes.is_empty() {
        match library_notes(&bitcode, &fixture.args, &fixture.dir) {
            Ok(notes) => {
                let wanted = fixture.notes.iter().filter(|(.., only)| only.is_none_or(|o| o == variant.opt));
                for (file, line, text, _) in wanted {
                    let present = notes.iter().any(|(f, l, m)| f == file && l == line && m.contains(text.as_str()));
                    if !present {
                        let here: Vec<&String> =
                            notes.iter().filter(|(f, l, _)| f == file && l == line).map(|(_, _, m)| m).collect();
                        problems.push(format!("notes: no note at {file}:{line} containing `{text}` (there: {here:?})"));
                    }
                }
            }
            Err(e) => problems.push(format!("notes: {e}")),
        }
    }
    problems.extend(check_orders(fixture, &bitcode));
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

/// The library must report the same diagnostics, messages and notes
/// whatever the order of the module's functions (`shuffle.rs`).
fn check_orders(fixture: &Fixture, bitcode: &Path) -> Vec<String> {
    let original = match library_details(bitcode, &fixture.args, &fixture.dir) {
        Ok(found) => found,
        Err(e) => return vec![format!("function order: {e}")],
    };
    let mut problems = Vec::new();
    for order in orders_for(&fixture.name) {
        let found = reorder_bitcode(bitcode, order).and_then(|b| library_details(&b, &fixture.args, &fixture.dir));
        match found {
            Ok(found) if found == original => {}
            Ok(found) => {
                let lost: Vec<&String> = original.difference(&found).collect();
                let new: Vec<&String> = found.difference(&original).collect();
                problems.push(format!("functions {}: lost {lost:?}; new {new:?}", order.name()));
            }
            Err(e) => problems.push(format!("functions {}: {e}", order.name())),
        }
    }
    problems
}

fn check_in_clang(fixture: &Fixture) -> Result<(), Failed> {
    let expected = fixture.expected_in(Build::Clang);
    let found = run_clang_plugin(fixture)?;
    match difference(&expected, &found) {
        Some(diff) => Err(format!("clang -fpass-plugin -O2: {diff}").into()),
        None => Ok(()),
    }
}

fn print_precision(fixtures: usize) {
    let tally = TALLY.lock().unwrap();
    if tally.is_empty() {
        return;
    }
    println!("\nprecision over {fixtures} fixtures x {} builds x {} front ends:", Variant::ALL.len(), FRONT_ENDS.len());
    println!("  {:24} {:>9} {:>9} {:>7} {:>6}", "rule", "expected", "found", "found%", "false");
    let (mut e_all, mut f_all, mut x_all) = (0, 0, 0);
    for (rule, (expected, found, false_reports)) in tally.iter() {
        let percent = if *expected == 0 { 100.0 } else { 100.0 * *found as f64 / *expected as f64 };
        println!("  {rule:24} {expected:>9} {found:>9} {percent:>6.1}% {false_reports:>6}");
        (e_all, f_all, x_all) = (e_all + expected, f_all + found, x_all + false_reports);
    }
    let percent = if e_all == 0 { 100.0 } else { 100.0 * f_all as f64 / e_all as f64 };
    println!("  {:24} {e_all:>9} {f_all:>9} {percent:>6.1}% {x_all:>6}", "all rules");
}

fn print_times() {
    let times = TIMES.lock().unwrap();
    let stress: Vec<String> = times
        .iter()
        .filter(|(name, _)| name.starts_with(STRESS_NAME))
        .map(|(name, t)| format!("{} {:.0} ms", &name[STRESS_NAME.len() + 2..], t.as_secs_f64() * 1e3))
        .collect();
    if !stress.is_empty() {
        println!("library time on {STRESS_NAME} ({} conditional locks): {}", stress_locks(), stress.join(", "));
    }
    if let Some((name, t)) = times.iter().max_by_key(|(_, t)| *t) {
        println!("slowest fixture in the library: {name} {:.0} ms", t.as_secs_f64() * 1e3);
    }
}

fn main() {
    let args = Arguments::from_args();
    let mut fixtures = discover();
    assert!(!fixtures.is_empty(), "no fixtures found under tests/fixtures");
    fixtures.push(stress_fixture(stress_locks()));
    let count = fixtures.len();
    let mut trials = Vec::new();
    for fixture in fixtures {
        for variant in Variant::ALL.into_iter().filter(|v| v.applies_to(&fixture)) {
            let fixture = fixture.clone();
            let name = format!("{}::{}", fixture.name, variant.name());
            trials.push(Trial::test(name, move || check(&fixture, variant)));
        }
        if fixture.is_rust() {
            continue;
        }
        let name = format!("{}::clang-plugin-O2", fixture.name);
        trials.push(Trial::test(name, move || check_in_clang(&fixture)));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    print_precision(count);
    print_times();
    conclusion.exit();
}
