//! `lockcheck check`.

use std::process::ExitCode;

use lockcheck::render::{self, Format};
use lockcheck::{Config, RulePack};

use crate::{CheckArgs, baseline, fail};

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
    let baseline = match args.baseline.as_deref().map(baseline::load).transpose() {
        Ok(b) => b,
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
    let mut report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if args.report_unused_ignores {
        report.report_unused_ignores();
    }
    report.ignore_warnings.iter().for_each(|w| eprintln!("lockcheck: warning: {w}"));
    let matched = baseline.map(|b| b.filter(&mut report.diagnostics));
    if args.verbose {
        eprintln!("lockcheck: driver model: {}", report.model);
        for (function, role) in &report.routines {
            eprintln!("lockcheck: routine: {function} ({role})");
        }
        for function in &report.neutral_externals {
            eprintln!("lockcheck: assumed lock-neutral (external, not a lock API): {function}");
        }
        eprintln!("lockcheck: {}", report.timing_line());
        for function in &report.imprecise_functions {
            eprintln!("lockcheck: analysis bound reached in {function}: reports depending on it are dropped");
        }
        eprintln!("lockcheck: {} suppressed by lockcheck-ignore comments", findings(report.suppressed));
        if let Some(m) = &matched {
            eprintln!("lockcheck: {} matched by the baseline, {} fixed", findings(m.matched), entries(m.fixed));
        }
    }
    let text = match format {
        Format::Text => {
            let color = crate::color::enabled(&args.color, args.output.is_none(), &crate::color::Env::read());
            render::text_colored(&report.diagnostics, color)
        }
        Format::Json => render::json(&report.diagnostics),
        Format::Sarif => render::sarif(&report.diagnostics, &config.rules),
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
    if let Some(path) = &args.write_baseline {
        return match baseline::write(path, &report.diagnostics) {
            Ok(()) => ExitCode::SUCCESS, // a baseline accepts what it records
            Err(e) => fail(e),
        };
    }
    if report.diagnostics.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn findings(n: usize) -> String {
    if n == 1 { "1 finding".into() } else { format!("{n} findings") }
}

fn entries(n: usize) -> String {
    if n == 1 { "1 baseline entry".into() } else { format!("{n} baseline entries") }
}
