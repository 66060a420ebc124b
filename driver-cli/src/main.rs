//! The `lockcheck` command: check drivers' bitcode, IR or C sources for
//! spin-lock misuse; list and explain the rules.
//!
//! Exit codes: 0 no violation, 1 violations found, 2 error (bad input, bad
//! flags, a compile that failed, bad rules), with one line on stderr.

mod baseline;
mod cache;
mod check;
mod color;
mod compile;
mod inputs;
mod project;
mod rules_cmd;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lockcheck", version = version(), about = "Finds spin-lock misuse in kernel drivers (LLVM IR analysis)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| format!("{} (built against LLVM {})", env!("CARGO_PKG_VERSION"), lockcheck::LLVM_VERSION))
}

#[derive(Subcommand)]
enum Command {
    /// Check .bc, .ll, .c or .rs files, linked into one module.
    Check(Box<CheckArgs>),
    /// List the rules.
    Rules(RulesArgs),
    /// Explain one rule: what it finds, why it matters, an example.
    Explain(ExplainArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// Input files: LLVM bitcode (.bc), textual IR (.ll), C sources (.c) or
    /// Rust crate roots (.rs, compiled with rustc), or directories of .bc/.ll
    /// files.
    #[arg(required_unless_present = "project", value_name = "INPUTS")]
    pub inputs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    pub format: String,
    /// Rule pack replacing the built-in rules.yaml.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Treat this function as a driver routine (repeatable).
    #[arg(long = "entry", value_name = "NAME")]
    pub entries: Vec<String>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Force the driver model instead of detecting it.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Treat every defined function as a driver routine.
    #[arg(long)]
    pub all_functions: bool,
    /// Print the model, the routines checked and the assumptions made.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Flags for clang-22 when compiling .c inputs (replace the default
    /// mingw-w64 DDK setup), or for rustc when compiling .rs inputs
    /// (replace `--edition=2021 --crate-type=lib -C opt-level=0`).
    #[arg(last = true, value_name = "COMPILER FLAGS")]
    pub compiler_flags: Vec<String>,
    /// Check a project: a build directory holding compile_commands.json, or
    /// the file itself. Every translation unit is compiled with its own flags.
    #[arg(long, short = 'p', value_name = "PATH", conflicts_with_all = ["inputs", "compiler_flags"])]
    pub project: Option<PathBuf>,
    /// With -p: compile N translation units at a time (default: all cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// With -p: check the translation units whose source path (relative to
    /// the database's directory) matches GLOB as one module; repeatable,
    /// one module per group.
    #[arg(long = "group", value_name = "GLOB")]
    pub groups: Vec<String>,
    /// With -p: cache bitcode in DIR (default: <build dir>/.lockcheck-cache).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Report lockcheck-ignore comments that silence nothing (as
    /// lockcheck.unused-ignore warnings, which count as findings).
    #[arg(long)]
    pub report_unused_ignores: bool,
    /// Show only the findings that are not in this baseline file (written
    /// by --write-baseline); the exit code reflects only those.
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
    /// Write the findings to FILE as a baseline, then exit 0 whatever was found.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Color the text report: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

#[derive(Args)]
struct RulesArgs {
    /// Rule pack to list instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Args)]
struct ExplainArgs {
    /// A rule id, e.g. wdm.SpinLock.
    rule: String,
    /// Rule pack to read instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
}

/// Prints one line and returns the error exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("lockcheck: error: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap explains over several lines; keep what precedes the usage.
            let text = e.to_string();
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more information"))
                .collect();
            let message = lines.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            return fail(format!("{message} (see lockcheck --help)"));
        }
    };
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Rules(args) => rules_cmd::list(args.rules.as_deref(), &args.format),
        Command::Explain(args) => rules_cmd::explain(&args.rule, args.rules.as_deref()),
    }
}
