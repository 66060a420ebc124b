//! `lockcheck check`.

use std::process::ExitCode;

use lockcheck::render::{self, Format};
use lockcheck::{Config, RulePack};

use crate::{CheckArgs, fail};

pub fn run(args: &CheckArgs) -> ExitCode {
    let format = match Format::parse(&args.format) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let rules = match &args.rules {
        Some(path) => RulePack::from_file(path),
        None => RulePack::builtin(),
    };
    let rules = match rules {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // Files, directories or a build database (-p): one or more modules.
    let mut inputs = match crate::inputs::collect(args) {
        Ok(inputs) => inputs,
        Err(e) => return fail(e),
    };
    let config = Config {
        rules,
        entries: args.entries.clone(),
        model: args.model.clone(),
        all_functions: args.all_functions,
        leak_module: true,
    };
    let report = inputs.check(&config);
    let incomplete = inputs.incomplete();
    drop(inputs);
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if args.verbose {
        eprintln!("lockcheck: driver model: {}", report.model);
        for (function, role) in &report.routines {
            eprintln!("lockcheck: routine: {function} ({role})");
        }
        for function in &report.neutral_externals {
            eprintln!("lockcheck: assumed lock-neutral (external, not a lock API): {function}");
        }
        let phases: Vec<String> =
            report.timings.iter().map(|(phase, time)| format!("{phase} {:.3}s", time.as_secs_f64())).collect();
        eprintln!("lockcheck: time: {}", phases.join(", "));
        for function in &report.imprecise_functions {
            eprintln!("lockcheck: analysis bound reached in {function}: reports depending on it are dropped");
        }
    }
    let text = match format {
        Format::Text => render::text(&report.diagnostics),
        Format::Json => render::json(&report.diagnostics),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: cannot write output: {e}", path.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| format!("cannot write output: {e}"))
        }
    };
    if let Err(e) = written {
        return fail(e);
    }
    if incomplete {
        // Some input could not be checked (each named on stderr already).
        return ExitCode::from(2);
    }
    if report.diagnostics.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
