//! Diagnostics: findings turned into reports a driver developer reads.
//!
//! One defect, one report: findings are merged per (rule, source line), and
//! a defect reached from several routines names the others in a note. Each
//! report says which lock (as the source names it), where it was acquired,
//! which branches the path took after that, and the calls from the routine
//! down to the offending line.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checks::Check;
use crate::dataflow::{Finding, LockKey, Step, Taken, Trace};
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
    // (report, its (file, line, rule) key, the routines reaching it)
    type Merged = (Diagnostic, (String, u32, String), Vec<usize>);
    let mut out: Vec<Merged> = Vec::new();
    for finding in findings {
        let v = &finding.violation;
        let diagnostic = writer.diagnostic(finding, routines);
        let key = match &diagnostic.location {
            Some(l) => (l.file.clone(), l.line, diagnostic.rule.clone()),
            None => (diagnostic.function.clone(), 0, format!("{}:{}", diagnostic.rule, v.check.as_str())),
        };
        match out.iter_mut().find(|(_, k, _)| *k == key) {
            Some((_, _, others)) => {
                if !others.contains(&finding.routine) {
                    others.push(finding.routine);
                }
            }
            None => out.push((diagnostic, key, vec![finding.routine])),
        }
    }
    let mut diagnostics: Vec<Diagnostic> = out
        .into_iter()
        .map(|(mut d, _, reached)| {
            if reached.len() > 1 {
                let others: Vec<String> = reached[1..]
                    .iter()
                    .map(|&r| {
                        let routine = &routines[r];
                        format!("'{}' ({})", facts.function(routine.func).display, routine.describe(rules))
                    })
                    .collect();
                d.notes.push(Note { message: format!("also reached from {}", others.join(", ")), location: None });
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
        let lock = self.lock_name(v.lock, v.kind);
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
        };
        let mut notes = Vec::new();
        for related in &v.related {
            let mut acquisition = self.acquisition_notes(related);
            // The same call acquired it before: a previous loop iteration.
            if let Some(last) = acquisition.last_mut()
                && v.check == Check::DoubleAcquire
                && last.location.is_some()
                && last.location == self.loc(v.site)
            {
                last.message.push_str(" in an earlier iteration of the loop");
            }
            notes.extend(acquisition);
        }
        notes.extend(self.branch_notes(&v.trace, &v.related));
        if v.check != Check::HeldAtExit {
            // The site is inside a callee: how the routine got there. (A
            // held-at-exit site is the routine's own return.)
            notes.extend(self.call_chain_notes(&v.trace));
        }
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

    fn acquired_lock(&self, step: &Step) -> Option<String> {
        match step {
            Step::Acquire { .. } => self.step_lock_name(step),
            Step::Call { inner, .. } => inner.last().and_then(|s| self.acquired_lock(s)),
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

    /// Where a lock was acquired: the calls leading to the acquire, then the acquire.
    fn acquisition_notes(&self, trace: &Trace) -> Vec<Note> {
        let mut notes = Vec::new();
        let mut step = trace.last().cloned();
        while let Some(s) = step {
            match s {
                Step::Call { loc, callee, inner, .. } => {
                    notes.push(Note {
                        message: format!("in call to '{}'", self.function_name(callee)),
                        location: self.loc(loc),
                    });
                    step = inner.last().cloned();
                }
                Step::Acquire { loc, .. } => {
                    let name = self.step_lock_name(&s).unwrap_or_default();
                    notes.push(Note { message: format!("{name} acquired here"), location: self.loc(loc) });
                    break;
                }
                Step::EntryHolding { func, kind } => {
                    notes.push(Note {
                        message: format!(
                            "'{}' is entered holding the {} (the I/O manager calls it with the lock held)",
                            self.function_name(func),
                            self.kind_name(kind)
                        ),
                        location: self.loc(self.facts.function(func).loc),
                    });
                    break;
                }
                _ => break,
            }
        }
        notes
    }

    /// Branches the path took after the lock was acquired, inside called
    /// functions too.
    fn branch_notes(&self, trace: &Trace, related: &[Trace]) -> Vec<Note> {
        let steps = flatten(trace);
        let start = related
            .iter()
            .filter_map(|r| flatten(r).pop())
            .filter_map(|acquired| steps.iter().rposition(|s| same_step(s, &acquired)))
            .min()
            .map(|i| i + 1)
            .unwrap_or(steps.len());
        steps[start.min(steps.len())..]
            .iter()
            .filter_map(|s| match s {
                Step::Branch { loc, taken, to, .. } => {
                    // Where the path goes, in source terms: the optimiser may
                    // have inverted the condition, so "true branch" could lie.
                    let target =
                        to.map(|t| self.facts.loc(t)).filter(|t| Some(t.line) != loc.map(|l| self.facts.loc(l).line));
                    let towards = |what: &str| match (target, loc.map(|l| self.facts.loc(l))) {
                        (Some(t), Some(here)) if t.file == here.file => format!("{what} to line {}", t.line),
                        (Some(t), _) => format!("{what} to {}:{}", t.file, t.line),
                        (None, _) => what.to_string(),
                    };
                    let message = match taken {
                        Taken::True | Taken::False => towards("taking the branch"),
                        Taken::Case(c) => towards(&format!("taking case {c}")),
                        Taken::Default => towards("taking the default case"),
                    };
                    Some(Note { message, location: self.loc(*loc) })
                }
                _ => None,
            })
            .collect()
    }

    /// The calls from the routine down to the function containing the site.
    fn call_chain_notes(&self, trace: &Trace) -> Vec<Note> {
        let mut notes = Vec::new();
        let mut step = trace.last().cloned();
        while let Some(Step::Call { loc, callee, inner, .. }) = step {
            notes.push(Note {
                message: format!("in call to '{}'", self.function_name(callee)),
                location: self.loc(loc),
            });
            step = inner.last().cloned();
        }
        notes
    }
}

/// The steps of a trace in execution order, calls replaced by the steps
/// inside them.
fn flatten(trace: &Trace) -> Vec<Step> {
    let mut out = Vec::new();
    let mut pending: Vec<Step> = trace.steps();
    pending.reverse();
    while let Some(step) = pending.pop() {
        match step {
            Step::Call { inner, .. } => {
                let mut inside = inner.steps();
                inside.reverse();
                pending.extend(inside);
            }
            other => out.push(other),
        }
        if out.len() > 4096 {
            break;
        }
    }
    out
}

/// Steps that record the same event (traces are rebuilt when mapped into a
/// caller, so identity is by content).
fn same_step(a: &Step, b: &Step) -> bool {
    match (a, b) {
        (Step::Acquire { func: f1, loc: l1, .. }, Step::Acquire { func: f2, loc: l2, .. }) => f1 == f2 && l1 == l2,
        (Step::Call { func: f1, loc: l1, callee: c1, .. }, Step::Call { func: f2, loc: l2, callee: c2, .. }) => {
            f1 == f2 && l1 == l2 && c1 == c2
        }
        (Step::EntryHolding { func: f1, .. }, Step::EntryHolding { func: f2, .. }) => f1 == f2,
        _ => false,
    }
}
