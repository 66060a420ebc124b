//! `lockcheck check`.

use std::path::PathBuf;
use std::process::ExitCode;

use lockcheck::render::{self, Format};
use lockcheck::{Config, RulePack};

use crate::compile::{TempBitcode, compile};
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
    // C sources become temporary bitcode files; the rest is read as is.
    let mut temporaries: Vec<TempBitcode> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for (index, input) in args.inputs.iter().enumerate() {
        if input.extension().is_some_and(|e| e == "c") {
            match compile(input, &args.compiler_flags, index) {
                Ok(bc) => {
                    files.push(bc.0.clone());
                    temporaries.push(bc);
                }
                Err(e) => return fail(e),
            }
        } else {
            files.push(input.clone());
        }
    }
    let config = Config {
        rules,
        entries: args.entries.clone(),
        model: args.model.clone(),
        all_functions: args.all_functions,
        leak_module: true,
    };
    let report = lockcheck::check_files(&files, &config);
    drop(temporaries);
    let report = match report {
        Ok(r) => r,
        // Name the C source, not its temporary bitcode.
        Err(e) => return fail(rename_temporaries(e.message(), &args.inputs, &files)),
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
    if report.diagnostics.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn rename_temporaries(message: &str, inputs: &[PathBuf], files: &[PathBuf]) -> String {
    let mut message = message.to_string();
    for (input, file) in inputs.iter().zip(files) {
        if input != file {
            message = message.replace(&file.display().to_string(), &input.display().to_string());
        }
    }
    message
}
