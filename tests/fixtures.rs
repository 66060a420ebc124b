//! Runs every fixture, for every variant, through the library, the opt
//! plugin and the CLI; each must report exactly the inline expectations.

use std::collections::BTreeSet;
use std::path::Path;

use libtest_mimic::{Arguments, Failed, Trial};
use lockcheck_tests::{
    Fixture, FixtureArgs, Found, Variant, compile, difference, discover, run_cli, run_library,
    run_plugin,
};

/// One way of running lockcheck: (bitcode, fixture options, fixture dir) -> findings.
type FrontEnd = fn(&Path, &FixtureArgs, &Path) -> Result<BTreeSet<Found>, String>;

const FRONT_ENDS: [(&str, FrontEnd); 3] = [
    ("library", run_library),
    ("opt plugin", run_plugin),
    ("CLI", run_cli),
];

fn check(fixture: &Fixture, variant: Variant) -> Result<(), Failed> {
    let bitcode = compile(fixture, variant)?;
    let expected = fixture.expected(variant);
    let mut problems = Vec::new();
    for (name, run) in FRONT_ENDS {
        match run(&bitcode, &fixture.args, &fixture.dir) {
            Ok(found) => {
                if let Some(diff) = difference(&expected, &found) {
                    problems.push(format!("{name}: {diff}"));
                }
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let fixtures = discover();
    assert!(
        !fixtures.is_empty(),
        "no fixtures found under tests/fixtures"
    );
    let mut trials = Vec::new();
    for fixture in fixtures {
        for variant in Variant::ALL {
            let fixture = fixture.clone();
            let name = format!("{}::{}", fixture.name, variant.name());
            trials.push(Trial::test(name, move || check(&fixture, variant)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
