//! lockcheck: finds spin-lock misuse in kernel drivers, on LLVM IR.
//!
//! Data flows one way through the layers (see ARCHITECTURE.md):
//! IR (`ir`) -> facts (`facts`) -> lock identity (`alias`) -> lock-state
//! dataflow (`dataflow`, consulting `checks`) -> diagnostics (`diagnostics`)
//! -> renderers (`render`). `rules` feeds API knowledge into the facts and
//! rule ownership into the dataflow; `routines` and `model` read the facts.
//! `suppress` drops the diagnostics `lockcheck-ignore` comments silence.
//!
//! The same analysis runs in the `lockcheck` CLI (through `check_files`) and
//! in the opt/clang pass plugin (`plugin`, on a copy of the host's module).

pub mod alias;
pub mod checks;
pub mod dataflow;
pub mod diagnostics;
pub mod error;
pub mod facts;
pub mod ir;
pub mod model;
mod plugin;
pub mod render;
pub mod routines;
pub mod rules;
pub mod suppress;

use std::path::PathBuf;

use inkwell::context::Context;
use llvm_sys::prelude::LLVMModuleRef;

pub use diagnostics::Diagnostic;
pub use error::{Error, Result};
pub use rules::RulePack;

/// The LLVM version lockcheck was built against.
pub const LLVM_VERSION: &str = env!("LOCKCHECK_LLVM_VERSION");

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules: RulePack,
    /// Extra driver routines, by name (--entry).
    pub entries: Vec<String>,
    /// Force a driver model instead of detecting it.
    pub model: Option<String>,
    /// Treat every defined function as a driver routine.
    pub all_functions: bool,
    /// Leave LLVM's memory to the operating system instead of freeing the
    /// module piece by piece (for a process that exits after the check).
    pub leak_module: bool,
}

impl Config {
    pub fn new(rules: RulePack) -> Config {
        Config { rules, entries: Vec::new(), model: None, all_functions: false, leak_module: false }
    }
}

/// The result of checking one module.
#[derive(Debug, Clone)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    /// The driver model the rules were applied for.
    pub model: String,
    /// The driver routines checked: (function, role).
    pub routines: Vec<(String, String)>,
    /// External functions called that are lock-neutral by assumption.
    pub neutral_externals: Vec<String>,
    /// Functions whose analysis hit a bound (reports from them are dropped).
    pub imprecise_functions: Vec<String>,
    /// Time spent per phase (for --verbose).
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// Findings silenced by `lockcheck-ignore` comments (see `suppress`).
    pub suppressed: usize,
    /// `lockcheck-ignore` comments that silenced nothing, as
    /// `lockcheck.unused-ignore` diagnostics: not in `diagnostics` unless
    /// `report_unused_ignores` moves them there.
    pub unused_ignores: Vec<Diagnostic>,
    /// Problems with `lockcheck-ignore` comments (unknown rule ids, missing
    /// reasons), one line each, for the front end to show as warnings.
    pub ignore_warnings: Vec<String>,
}

impl Report {
    /// `time: read 0.600s, verify 0.121s, ...`: the phase timings, for --verbose.
    pub fn timing_line(&self) -> String {
        let phases: Vec<String> =
            self.timings.iter().map(|(phase, time)| format!("{phase} {:.3}s", time.as_secs_f64())).collect();
        format!("time: {}", phases.join(", "))
    }

    /// Reports unused `lockcheck-ignore` comments among the diagnostics
    /// (`--report-unused-ignores`), in location order.
    pub fn report_unused_ignores(&mut self) {
        self.diagnostics.append(&mut self.unused_ignores);
        let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.column)).unwrap_or_default();
        self.diagnostics.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.rule.cmp(&b.rule)));
    }
}

/// Reads `.bc` / `.ll` files, links them into one module and checks it.
pub fn check_files(files: &[PathBuf], config: &Config) -> Result<Report> {
    if files.is_empty() {
        return Err(Error::new("no input files"));
    }
    let mut clock = Clock::start();
    let context = Context::create();
    let mut modules = Vec::new();
    for file in files {
        let module = ir::load_file(&context, file)?;
        modules.push((module, file.display().to_string()));
    }
    let name = files[0].display().to_string();
    let module = ir::link(modules)?;
    clock.lap("read");
    ir::verify(module.as_mut_ptr(), &name)?;
    clock.lap("verify");
    ir::prepare(module.as_mut_ptr())?;
    clock.lap("prepare");
    let report = analyze_prepared(module.as_mut_ptr(), config, clock);
    if config.leak_module {
        // The process exits after the check: tearing LLVM's module down piece
        // by piece would take longer than analysing it.
        std::mem::forget(module);
        std::mem::forget(context);
    }
    report
}

/// Phase timings.
pub(crate) struct Clock {
    last: std::time::Instant,
    laps: Vec<(&'static str, std::time::Duration)>,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock { last: std::time::Instant::now(), laps: Vec::new() }
    }

    pub(crate) fn lap(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((phase, now - self.last));
        self.last = now;
    }
}

/// Checks a module that `ir::prepare` has made ready. Only owned facts are
/// kept: the module can be dropped as soon as this returns.
pub(crate) fn analyze_prepared(module: LLVMModuleRef, config: &Config, mut clock: Clock) -> Result<Report> {
    let mut facts = facts::extract(module, &config.rules);
    clock.lap("extract");
    analyze_facts(&mut facts, config, clock)
}

fn analyze_facts(facts: &mut facts::ModuleFacts, config: &Config, mut clock: Clock) -> Result<Report> {
    let rules = &config.rules;
    let model = model::select(facts, rules, config.model.as_deref())?;
    let routines = routines::discover(facts, rules, &config.entries, config.all_functions)?;
    clock.lap("routines");
    let (findings, stats) = dataflow::analyze(facts, rules, model, &routines);
    clock.lap("dataflow");
    let diagnostics = diagnostics::build(facts, rules, &routines, &findings, &stats.opaque_origins);
    clock.lap("diagnostics");
    let suppressed = suppress::apply(diagnostics, &source_files(facts), rules, suppress::read_source);
    clock.lap("suppress");
    let name = |f: &u32| facts.function(*f).display.clone();
    Ok(Report {
        diagnostics: suppressed.diagnostics,
        model: rules.models[model].id.clone(),
        routines: routines.iter().map(|r| (facts.function(r.func).display.clone(), r.describe(rules))).collect(),
        neutral_externals: stats.neutral_externals.iter().map(name).collect(),
        imprecise_functions: stats.imprecise_functions.iter().map(name).collect(),
        timings: clock.laps,
        suppressed: suppressed.suppressed,
        unused_ignores: suppressed.unused,
        ignore_warnings: suppressed.warnings,
    })
}

/// Every source file the debug locations lockcheck read name (functions
/// analysed, code inlined into them): (path on disk, name as shown).
fn source_files(facts: &facts::ModuleFacts) -> Vec<(PathBuf, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::new();
    for loc in &facts.locs {
        if seen.insert((loc.directory.as_str(), loc.file.as_str())) {
            let location = diagnostics::Location::from(loc);
            files.push((location.path, location.file));
        }
    }
    files
}
