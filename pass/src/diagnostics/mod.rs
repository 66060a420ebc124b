//! Diagnostics: findings turned into reports a driver developer reads.
//!
//! One defect, one report: findings are merged per (rule, source line), and
//! a defect reached from several routines names the others in a note. Each
//! report says which lock (as the source names it), where it was acquired,
//! which branches the path took after that, and the calls from the routine
//! down to the offending line.

mod trace_notes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checks::Check;
use crate::dataflow::{Finding, LockKey, Step};
use crate::facts::{FuncId, LocId, ModuleFacts, SourceLoc};
use crate::routines::Routine;
use crate::rules::{RulePack, Severity};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Location {
    /// The source file: relative to the current directory when inside it
    /// (as clang prints it), else absolute.
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The file's absolute path (debug info's file joined to its
    /// compilation directory).
    #[serde(skip)]
    pub path: PathBuf,
}

impl From<&SourceLoc> for Location {
    fn from(l: &SourceLoc) -> Self {
        let path = l.path();
        Location { file: display_path(&path), line: l.line, column: l.column, path }
    }
}

/// `path` relative to the current directory when it lies inside it.
fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Note {
    pub message: String,
    pub location: Option<Location>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub rule: String,
    pub check: Check,
    pub severity: Severity,
    pub message: String,
    /// The function containing the location (shown name).
    pub function: String,
    /// Its LLVM symbol (the plugin anchors LLVM diagnostics on it).
    #[serde(skip)]
    pub symbol: String,
    pub location: Option<Location>,
    pub notes: Vec<Note>,
}

pub fn build(
    facts: &ModuleFacts,
    rules: &RulePack,
    routines: &[Routine],
    findings: &[Finding],
    opaque_origins: &[(FuncId, LockKey)],
) -> Vec<Diagnostic> {
    let writer = Writer { facts, rules, opaque_origins };
    // A report and the routines reaching it, with where each enters the
    // path to it; one report per (file, line, rule), found through `index`.
    type Reached = Vec<(usize, Option<LocId>)>;
    let mut out: Vec<(Diagnostic, Reached)> = Vec::new();
    let mut index: HashMap<(String, u32, String), usize> = HashMap::new();
    // The first routine reaching a defect gives its report; routines go in
    // source order (then by name), never in the module's function order.
    let routine_key = |f: &Finding| {
        let func = facts.function(routines[f.routine].func);
        let at = func.loc.map(|l| facts.loc(l)).map(|l| (l.path(), l.line, l.column));
        (at.is_none(), at, func.display.clone())
    };
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by_cached_key(|f| routine_key(f));
    for finding in ordered {
        let v = &finding.violation;
        let rule = &rules.rules[v.rule].id;
        let key = match writer.loc(v.site) {
            Some(l) => (l.file, l.line, rule.clone()),
            None => (facts.function(v.func).display.clone(), 0, format!("{rule}:{}", v.check.as_str())),
        };
        let entry = (finding.routine, writer.entry_call(v).or(facts.function(routines[finding.routine].func).loc));
        match index.get(&key) {
            Some(&i) => {
                let reached = &mut out[i].1;
                if !reached.iter().any(|(r, _)| *r == finding.routine) {
                    reached.push(entry);
                }
            }
            None => {
                index.insert(key, out.len());
                out.push((writer.diagnostic(finding, routines), vec![entry]));
            }
        }
    }
    let mut diagnostics: Vec<Diagnostic> = out
        .into_iter()
        .map(|(mut d, reached)| {
            for &(r, entry) in &reached[1..] {
                let routine = &routines[r];
                d.notes.push(Note {
                    message: format!(
                        "also reached from {} '{}'",
                        routine.describe(rules),
                        facts.function(routine.func).display
                    ),
                    location: writer.loc(entry),
                });
            }
            d
        })
        .collect();
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.column)).unwrap_or_default();
        key(a).cmp(&key(b)).then_with(|| a.rule.cmp(&b.rule))
    });
    diagnostics
}

struct Writer<'a> {
    facts: &'a ModuleFacts,
    rules: &'a RulePack,
    opaque_origins: &'a [(FuncId, LockKey)],
}

impl Writer<'_> {
    fn loc(&self, id: Option<LocId>) -> Option<Location> {
        id.map(|i| Location::from(self.facts.loc(i)))
    }

    fn function_name(&self, f: FuncId) -> &str {
        &self.facts.function(f).display
    }

    fn kind_name(&self, kind: usize) -> &str {
        self.rules.lock_kinds.get(kind).map(|k| k.display.as_str()).unwrap_or("lock")
    }

    /// "spin lock '&ext->ReadLock'", "the cancel spin lock".
    fn lock_name(&self, lock: Option<LockKey>, kind: usize) -> String {
        let kind_name = self.kind_name(kind);
        match lock {
            Some(LockKey::Path(p)) => format!("{kind_name} '{}'", self.facts.paths.describe(p)),
            Some(LockKey::Handle(h)) => format!("{kind_name} held through handle '{}'", self.facts.paths.describe(h)),
            Some(LockKey::Global(_)) => format!("the {kind_name}"),
            Some(LockKey::Opaque(n)) => match self.opaque_origins.get(n as usize) {
                // A lock a callee acquired through a pointer the caller cannot name.
                Some((_, LockKey::Path(p))) if self.facts.paths.name(*p).is_some() => {
                    format!("{kind_name} '{}'", self.facts.paths.describe(*p))
                }
                Some((callee, _)) => format!("a {kind_name} acquired in '{}'", self.function_name(*callee)),
                None => format!("a {kind_name}"),
            },
            None => format!("a {kind_name}"),
        }
    }

    fn step_lock_name(&self, step: &Step) -> Option<String> {
        match step {
            Step::Acquire { lock, kind, .. } | Step::Release { lock, kind, .. } => {
                Some(self.lock_name(Some(*lock), *kind))
            }
            _ => None,
        }
    }

    fn diagnostic(&self, finding: &Finding, routines: &[Routine]) -> Diagnostic {
        let v = &finding.violation;
        let rule = &self.rules.rules[v.rule];
        let routine = &routines[finding.routine];
        let lock = match v.lock {
            Some(key) if !self.has_source_name(key) => {
                self.name_where_acquired(v).unwrap_or_else(|| self.lock_name(v.lock, v.kind))
            }
            _ => self.lock_name(v.lock, v.kind),
        };
        let message = match v.check {
            Check::DoubleAcquire => format!("{lock} is acquired while already held"),
            Check::ReleaseNotHeld => format!("{lock} is released but not held"),
            Check::CallWhileHeld => {
                let call = self.called_name(v).unwrap_or_else(|| "a call that must not run under a spin lock".into());
                format!("{call} is called while {lock} is held")
            }
            Check::HeldAtExit => {
                let names: Vec<String> =
                    v.related.iter().filter_map(|t| t.last().and_then(|s| self.acquired_lock(s))).collect();
                let held = if names.len() > 1 { names.join(" and ") } else { lock };
                format!(
                    "{} '{}' returns while {held} {} held",
                    routine.describe(self.rules),
                    self.function_name(routine.func),
                    if names.len() > 1 { "are" } else { "is" }
                )
            }
            Check::UnusedIgnore => unreachable!("the dataflow never reports unused lockcheck-ignore comments"),
        };
        let mut notes = trace_notes::notes(self, v);
        if v.check != Check::HeldAtExit && routine.func != v.func && !notes.iter().any(|n| n.message.starts_with("in "))
        {
            notes.push(Note {
                message: format!(
                    "reached from {} '{}'",
                    routine.describe(self.rules),
                    self.function_name(routine.func)
                ),
                location: self.loc(self.facts.function(routine.func).loc),
            });
        }
        let function = self.facts.function(v.func);
        Diagnostic {
            rule: rule.id.clone(),
            check: v.check,
            severity: rule.severity,
            message,
            function: function.display.clone(),
            symbol: function.symbol.clone(),
            location: self.loc(v.site),
            notes,
        }
    }

    /// Whether debug info names the lock in the reporting function's terms.
    fn has_source_name(&self, key: LockKey) -> bool {
        match key {
            LockKey::Path(p) | LockKey::Handle(p) => self.facts.paths.name(p).is_some(),
            LockKey::Global(_) => true,
            LockKey::Opaque(n) => matches!(
                self.opaque_origins.get(n as usize),
                Some((_, LockKey::Path(p))) if self.facts.paths.name(*p).is_some()
            ),
        }
    }

    /// For a lock the reporting function reaches through a pointer debug
    /// info does not name (a wrapper's `self` the optimiser did not inline):
    /// the name the acquiring function gives it, when that one has a name.
    fn name_where_acquired(&self, v: &crate::dataflow::Violation) -> Option<String> {
        let step = innermost(v.related.first()?.last()?);
        match step {
            Step::Acquire { lock, kind, func, .. } if *kind == v.kind && self.has_source_name(*lock) => {
                let name = self.step_lock_name(step)?;
                Some(format!("{name} (as '{}' calls it)", self.function_name(*func)))
            }
            _ => None,
        }
    }

    fn acquired_lock(&self, step: &Step) -> Option<String> {
        match innermost(step) {
            step @ Step::Acquire { .. } => self.step_lock_name(step),
            Step::EntryHolding { kind, .. } => Some(format!("the {}", self.kind_name(*kind))),
            _ => None,
        }
    }

    /// The forbidden call at a violation's site: the name as the rules give it.
    fn called_name(&self, v: &crate::dataflow::Violation) -> Option<String> {
        let site = v.site?;
        let body = self.facts.function(v.func).body.as_ref()?;
        body.blocks.iter().flat_map(|b| b.events.iter()).find_map(|e| match e {
            crate::facts::Event::Forbidden(f) if f.loc == Some(site) => {
                Some(self.rules.forbidden_calls[f.call].display.clone())
            }
            _ => None,
        })
    }

    /// Where the routine's own code enters the path to the violation: the
    /// call leading to it, or the outermost inlined call it sits in.
    fn entry_call(&self, v: &crate::dataflow::Violation) -> Option<LocId> {
        let mut loc = match v.trace.last() {
            Some(Step::Call { loc, .. }) => *loc,
            _ => v.site.filter(|&s| self.facts.loc(s).inlined.is_some()),
        }?;
        while let Some(inlined) = &self.facts.loc(loc).inlined {
            loc = inlined.call;
        }
        Some(loc)
    }
}

/// The step a trace's last step comes down to: through the calls it ends
/// in, the step the innermost one ended with (an acquisition's trace ends
/// with the acquire).
fn innermost(mut step: &Step) -> &Step {
    // Bounded like the notes (trace_notes::MAX_ITEMS): a path thousands of
    // calls deep is named by what lies within reach.
    for _ in 0..trace_notes::MAX_ITEMS {
        let Step::Call { inner, .. } = step else { break };
        let Some(last) = inner.last() else { break };
        step = last;
    }
    step
}
