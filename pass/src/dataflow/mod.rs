//! Lock-state dataflow: summaries bottom-up over the call graph, then each
//! driver routine checked from the state the OS calls it in.

mod conditions;
mod engine;
mod liveness;
mod loops;
mod state;
mod summary;
mod transfer;

pub use engine::{MAX_OUTCOMES, MAX_STATES};
pub use state::{Held, LockKey, Step, Taken, Trace};
pub use summary::Violation;

use crate::checks::{Check, held_at_exit};
use crate::facts::{Event, FuncId, ModuleFacts, PathId, Root};
use crate::routines::Routine;
use crate::rules::{ModelId, RulePack};
use conditions::Fact;
use engine::Context;
use state::State;
use summary::Summary;
use transfer::{CallSite, Collected, Mode, OpaqueLocks, Transfer};

/// Rounds of re-analysis for a recursive group of functions before its
/// summaries are declared imprecise.
const MAX_RECURSION_ROUNDS: usize = 8;

/// A violation found from a driver routine.
#[derive(Debug, Clone)]
pub struct Finding {
    pub violation: Violation,
    /// Index into the routines the analysis was given.
    pub routine: usize,
}

/// Statistics for `--verbose`.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub functions_analysed: usize,
    pub recursive_groups: usize,
    pub imprecise_functions: Vec<FuncId>,
    /// External functions called that are not lock APIs: taken as lock-neutral.
    pub neutral_externals: Vec<FuncId>,
    /// For each `LockKey::Opaque(n)`: the callee and its own key for that lock.
    pub opaque_origins: Vec<(FuncId, LockKey)>,
}

pub fn analyze(
    facts: &mut ModuleFacts,
    rules: &RulePack,
    model: ModelId,
    routines: &[Routine],
) -> (Vec<Finding>, Stats) {
    let ModuleFacts { functions, paths, .. } = facts;
    let cx = Context { functions, rules, model };
    let mut opaque = OpaqueLocks::default();
    let mut summaries: Vec<Option<Summary>> = (0..functions.len()).map(|_| None).collect();
    let mut stats = Stats::default();

    let callees = call_graph(functions);
    stats.neutral_externals = external_callees(functions, &callees);
    for group in strongly_connected_components(&callees) {
        // A body-less function has no summary: calls to it are lock-neutral
        // (engine.rs). Summarising it would give the empty summary of a
        // function that never returns, ending its callers' paths whenever
        // it happened to come first in the module's function list.
        if group.iter().all(|&f| functions[f as usize].body.is_none()) {
            continue;
        }
        let recursive = group.len() > 1 || callees[group[0] as usize].contains(&group[0]);
        if !recursive {
            let f = group[0];
            summaries[f as usize] = Some(engine::summarize(&cx, paths, &mut opaque, &summaries, f));
            stats.functions_analysed += 1;
            continue;
        }
        stats.recursive_groups += 1;
        // Start from "never returns" and iterate to a fixpoint.
        for &f in &group {
            summaries[f as usize] = Some(Summary::default());
        }
        let mut converged = false;
        for _ in 0..MAX_RECURSION_ROUNDS {
            let mut changed = false;
            for &f in &group {
                let new = engine::summarize(&cx, paths, &mut opaque, &summaries, f);
                let old = summaries[f as usize].as_ref().map(Summary::fingerprint);
                changed |= old != Some(new.fingerprint());
                summaries[f as usize] = Some(new);
                stats.functions_analysed += 1;
            }
            if !changed {
                converged = true;
                break;
            }
        }
        if !converged {
            for &f in &group {
                if let Some(s) = summaries[f as usize].as_mut() {
                    s.imprecise = true;
                    for o in &mut s.outcomes {
                        o.imprecise = true;
                    }
                }
            }
        }
    }
    for (f, s) in summaries.iter().enumerate() {
        if s.as_ref().is_some_and(|s| s.imprecise) {
            stats.imprecise_functions.push(f as FuncId);
        }
    }

    let mut findings = Vec::new();
    for (index, routine) in routines.iter().enumerate() {
        let Some(summary) = summaries[routine.func as usize].as_ref() else {
            continue;
        };
        for violation in check_routine(&cx, paths, &mut opaque, routine, summary) {
            findings.push(Finding { violation, routine: index });
        }
    }
    stats.opaque_origins = opaque.origins;
    (findings, stats)
}

/// Applies a routine's summary to the state it is entered with and checks
/// what it holds at every return.
fn check_routine(
    cx: &Context,
    paths: &mut crate::facts::Paths,
    opaque: &mut OpaqueLocks,
    routine: &Routine,
    summary: &Summary,
) -> Vec<Violation> {
    let role = &cx.rules.roles[routine.role];
    let mut entry = State::default();
    for &kind in &role.holds_on_entry {
        let key = LockKey::Global(kind);
        let acquired = Trace::default().push(Step::EntryHolding { func: routine.func, kind });
        entry.add_held(Held { key, kind, handle: None, acquired, count: state::Count::one() });
        entry.touch(key, kind);
    }
    let params = cx.functions[routine.func as usize].param_count;
    let args: Vec<Option<PathId>> = (0..params).map(|n| Some(paths.root(Root::Param(routine.func, n)))).collect();
    // A role's typed parameters are the objects the operating system passes
    // (the device object, the IRP): never NULL.
    let arg_facts =
        (0..params).map(|n| if (n as usize) < role.params.len() { Fact::not_equal(0) } else { Fact::ANY }).collect();
    let call = CallSite { args: &args, arg_facts, result: None, loc: None, top_level: true };
    let mut collected = Collected::default();
    let after = Transfer {
        rules: cx.rules,
        model: cx.model,
        paths,
        opaque,
        func: routine.func,
        mode: Mode::Routine,
        collected: &mut collected,
        requires: Vec::new(),
    }
    .apply_summary(entry, routine.func, summary, &call);
    let mut violations = collected.violations;
    for (state, outcome) in after {
        if state.imprecise {
            continue;
        }
        let exit = summary.outcomes[outcome].exit;
        // One report per rule at this return, naming every lock it holds.
        let mut by_rule: Vec<(usize, Vec<&Held>)> = Vec::new();
        for held in held_at_exit::check(&state.held).filter(|h| h.count.certainly_held()) {
            let Some(rule) = cx.rules.owner(Check::HeldAtExit, held.kind, cx.model) else {
                continue;
            };
            if state.is_muted(rule) {
                continue;
            }
            match by_rule.iter_mut().find(|(r, _)| *r == rule) {
                Some((_, locks)) => locks.push(held),
                None => by_rule.push((rule, vec![held])),
            }
        }
        for (rule, locks) in by_rule {
            violations.push(Violation {
                rule,
                check: Check::HeldAtExit,
                kind: locks[0].kind,
                lock: Some(locks[0].key),
                func: routine.func,
                site: exit,
                trace: state.trace.clone(),
                related: locks.iter().map(|h| h.acquired.clone()).collect(),
                effects: Vec::new(),
            });
        }
    }
    violations
}

fn call_graph(functions: &[crate::facts::Function]) -> Vec<Vec<FuncId>> {
    functions
        .iter()
        .map(|f| {
            let mut out: Vec<FuncId> = f
                .body
                .iter()
                .flat_map(|b| b.blocks.iter())
                .flat_map(|b| b.events.iter())
                .filter_map(|e| if let Event::Call(c) = e { Some(c.targets.iter().copied()) } else { None })
                .flatten()
                .filter(|&t| functions[t as usize].body.is_some())
                .collect();
            out.sort_unstable();
            out.dedup();
            out
        })
        .collect()
}

fn external_callees(functions: &[crate::facts::Function], _callees: &[Vec<FuncId>]) -> Vec<FuncId> {
    let mut out: Vec<FuncId> = functions
        .iter()
        .flat_map(|f| f.body.iter())
        .flat_map(|b| b.blocks.iter())
        .flat_map(|b| b.events.iter())
        .filter_map(|e| if let Event::Call(c) = e { Some(c.targets.iter().copied()) } else { None })
        .flatten()
        .filter(|&t| functions[t as usize].body.is_none())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Tarjan's algorithm, iteratively (call chains can be deep). Components
/// come out callees first.
pub(crate) fn strongly_connected_components(callees: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let n = callees.len();
    let mut index = vec![u32::MAX; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<FuncId> = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0u32;
    for start in 0..n {
        if index[start] != u32::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start as FuncId);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut next)) = work.last_mut() {
            if let Some(&w) = callees[v].get(*next) {
                *next += 1;
                let w = w as usize;
                if index[w] == u32::MAX {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w as FuncId);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w as usize == v {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strongly_connected_components;

    #[test]
    fn components_come_callees_first() {
        // 0 -> 1 -> 2 -> 1, 2 -> 3
        let graph = vec![vec![1], vec![2], vec![1, 3], vec![]];
        let sccs = strongly_connected_components(&graph);
        assert_eq!(sccs, vec![vec![3], vec![1, 2], vec![0]]);
    }

    #[test]
    fn deep_chains_do_not_overflow() {
        let n = 200_000;
        let graph: Vec<Vec<u32>> = (0..n).map(|i| if i + 1 < n { vec![i as u32 + 1] } else { vec![] }).collect();
        assert_eq!(strongly_connected_components(&graph).len(), n);
    }
}
