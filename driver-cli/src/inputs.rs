//! What `lockcheck check` reads, as one or more modules to analyse: files
//! given on the command line (bitcode and IR as they are, C sources and Rust
//! crate roots compiled to temporary bitcode), directories of bitcode, or a build database
//! (`-p`), compiled through the cache and split into `--group`s.
//!
//! Each group is linked and analysed on its own (a driver project may hold
//! several drivers, each with its own DriverEntry); the reports are merged
//! into one, so the renderers and the exit code see a single report.

use std::path::{Path, PathBuf};

use lockcheck::{Config, Report};

use crate::CheckArgs;
use crate::cache::Cache;
use crate::compile::{TempBitcode, compile, compile_rust};
use crate::project::{Database, Groups, Unit};

/// The modules to check.
pub struct Inputs {
    groups: Vec<Group>,
    /// Some input could not be compiled or checked (already reported on
    /// stderr): the exit code is 2 even when the rest was checked.
    incomplete: bool,
    verbose: bool,
    _temporaries: Vec<TempBitcode>,
}

/// Files linked into one module.
struct Group {
    /// The `--group` glob, when there are groups.
    label: Option<String>,
    /// (file to read, the name errors give it).
    files: Vec<(PathBuf, String)>,
}

/// Gathers the inputs `args` names. Errors are one line.
pub fn collect(args: &CheckArgs) -> Result<Inputs, String> {
    if let Some(project) = &args.project {
        return from_project(project, args);
    }
    if args.jobs.is_some() || !args.groups.is_empty() || args.cache_dir.is_some() {
        return Err("--jobs, --group and --cache-dir need --project (-p)".into());
    }
    let is = |input: &PathBuf, ext: &str| input.extension().is_some_and(|e| e == ext);
    if !args.compiler_flags.is_empty()
        && args.inputs.iter().any(|i| is(i, "c"))
        && args.inputs.iter().any(|i| is(i, "rs"))
    {
        return Err("compiler flags after `--` go to clang for .c inputs or to rustc for .rs inputs: \
                    check .c and .rs inputs in separate runs"
            .into());
    }
    let mut temporaries = Vec::new();
    let mut files = Vec::new();
    for (index, input) in args.inputs.iter().enumerate() {
        let shown = input.display().to_string();
        if input.is_dir() {
            let found = bitcode_under(input);
            if found.is_empty() {
                return Err(format!("{shown}: no .bc or .ll files in this directory"));
            }
            files.extend(found.into_iter().map(|f| {
                let name = f.display().to_string();
                (f, name)
            }));
        } else if input.extension().is_some_and(|e| e == "c") {
            let bc = compile(input, &args.compiler_flags, index)?;
            files.push((bc.0.clone(), shown));
            temporaries.push(bc);
        } else if input.extension().is_some_and(|e| e == "rs") {
            let (dir, units) = compile_rust(input, &args.compiler_flags, index)?;
            files.extend(units.into_iter().map(|unit| (unit, shown.clone())));
            temporaries.push(dir);
        } else {
            files.push((input.clone(), shown));
        }
    }
    Ok(Inputs {
        groups: vec![Group { label: None, files }],
        incomplete: false,
        verbose: args.verbose,
        _temporaries: temporaries,
    })
}

/// Every .bc and .ll file under `dir`, recursively, in path order. Hidden
/// directories (such as a .lockcheck-cache, which holds every version of
/// every unit ever compiled) and symbolic links to directories are skipped.
fn bitcode_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return out,
    };
    entries.sort();
    for path in entries {
        let Ok(metadata) = std::fs::symlink_metadata(&path) else { continue };
        if metadata.is_dir() {
            if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                out.extend(bitcode_under(&path));
            }
        } else if path.extension().is_some_and(|e| e == "bc" || e == "ll") && path.is_file() {
            out.push(path);
        }
    }
    out
}

fn from_project(path: &Path, args: &CheckArgs) -> Result<Inputs, String> {
    let database = Database::load(path)?;
    let globs = Groups::new(&args.groups)?;
    // The units to compile, and the groups each belongs to.
    let mut selected: Vec<(&Unit, Vec<usize>)> = Vec::new();
    for unit in &database.units {
        if globs.is_empty() {
            selected.push((unit, vec![0]));
            continue;
        }
        let groups = globs.of(&unit.name);
        if groups.is_empty() {
            if args.verbose {
                eprintln!("lockcheck: {}: in no --group, skipped", unit.name);
            }
        } else {
            selected.push((unit, groups));
        }
    }
    if selected.is_empty() {
        return Err(format!("{}: no translation unit matches a --group", database.path.display()));
    }
    let cache_dir = args.cache_dir.clone().unwrap_or_else(|| database.dir.join(".lockcheck-cache"));
    let cache = Cache::open(&cache_dir)?;
    let jobs = match args.jobs {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let units: Vec<&Unit> = selected.iter().map(|(u, _)| *u).collect();
    let built = crate::units::build(&units, &cache, jobs)?;
    for failure in &built.failures {
        eprintln!("lockcheck: error: {failure}");
    }
    if args.verbose {
        eprintln!("lockcheck: compiled {}, cached {} translation units", built.compiled, built.cached);
    }
    if built.bitcode.iter().all(Option::is_none) {
        return Err(format!("{}: no translation unit could be compiled", database.path.display()));
    }
    let labels: Vec<Option<String>> =
        if globs.is_empty() { vec![None] } else { globs.names().map(|g| Some(g.to_string())).collect() };
    let mut groups: Vec<Group> = labels.into_iter().map(|label| Group { label, files: Vec::new() }).collect();
    for ((unit, member_of), bitcode) in selected.iter().zip(&built.bitcode) {
        let Some(bitcode) = bitcode else { continue };
        for &g in member_of {
            groups[g].files.push((bitcode.clone(), unit.name.clone()));
        }
    }
    groups.retain(|g| {
        if g.files.is_empty() && args.verbose {
            eprintln!("lockcheck: group {}: no translation unit to check", g.label.as_deref().unwrap_or("*"));
        }
        !g.files.is_empty()
    });
    Ok(Inputs { groups, incomplete: !built.failures.is_empty(), verbose: args.verbose, _temporaries: Vec::new() })
}

impl Inputs {
    /// Whether something could not be checked (exit code 2).
    pub fn incomplete(&self) -> bool {
        self.incomplete
    }

    /// Links and checks each group, merging the reports. With one group an
    /// error is returned as is; with several, a group that fails is
    /// reported on stderr and the others are still checked.
    pub fn check(&mut self, config: &Config) -> Result<Report, String> {
        let mut merged: Option<Report> = None;
        let mut last_error = None;
        let count = self.groups.len();
        for (index, group) in self.groups.iter().enumerate() {
            if let (true, Some(label)) = (self.verbose, &group.label) {
                eprintln!("lockcheck: group {label}: {} translation units", group.files.len());
            }
            let files: Vec<PathBuf> = group.files.iter().map(|(f, _)| f.clone()).collect();
            // Only the last module may be left to the operating system.
            let config = Config { leak_module: config.leak_module && index + 1 == count, ..config.clone() };
            match lockcheck::check_files(&files, &config) {
                Ok(report) => merged = Some(merge(merged, report)),
                Err(e) => {
                    let message = rename(e.message(), &group.files);
                    if count == 1 {
                        return Err(message);
                    }
                    let label = group.label.as_deref().unwrap_or("*");
                    eprintln!("lockcheck: error: group {label}: {message}");
                    self.incomplete = true;
                    last_error = Some(message);
                }
            }
        }
        merged.ok_or_else(|| last_error.unwrap_or_else(|| "no input files".into()))
    }
}

/// An error message naming the sources instead of temporary or cached
/// bitcode.
fn rename(message: &str, files: &[(PathBuf, String)]) -> String {
    let mut message = message.to_string();
    for (file, name) in files {
        let shown = file.display().to_string();
        if shown != *name {
            message = message.replace(&shown, name);
        }
    }
    message
}

/// `next` folded into `merged`: diagnostics in group order (a defect two
/// overlapping groups both find is reported once), distinct models, summed
/// phase times.
fn merge(merged: Option<Report>, next: Report) -> Report {
    let Some(mut merged) = merged else { return next };
    fn extend<T: PartialEq>(into: &mut Vec<T>, from: Vec<T>) {
        for item in from {
            if !into.contains(&item) {
                into.push(item);
            }
        }
    }
    extend(&mut merged.diagnostics, next.diagnostics);
    if !merged.model.split(", ").any(|m| m == next.model) {
        merged.model = format!("{}, {}", merged.model, next.model);
    }
    extend(&mut merged.routines, next.routines);
    extend(&mut merged.neutral_externals, next.neutral_externals);
    extend(&mut merged.imprecise_functions, next.imprecise_functions);
    merged.suppressed += next.suppressed;
    // A comment in a header two groups share counts as unused if one group
    // did not use it: groups are checked apart.
    extend(&mut merged.unused_ignores, next.unused_ignores);
    extend(&mut merged.ignore_warnings, next.ignore_warnings);
    for (phase, time) in next.timings {
        match merged.timings.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, total)) => *total += time,
            None => merged.timings.push((phase, time)),
        }
    }
    merged
}
