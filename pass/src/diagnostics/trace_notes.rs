//! The notes of a report, in execution order: the path from the routine to
//! the violation told as the calls it makes (calls the compiler inlined
//! too), where the locks involved were acquired, and the branches it took.

use super::{Note, Writer};
use crate::checks::Check;
use crate::dataflow::{Step, Taken, Trace, Violation};
use crate::facts::{FuncId, LocId, SourceLoc};

/// Branch notes per report: the newest are kept, older ones summarised.
const MAX_BRANCH_NOTES: usize = 12;
/// Flattened trace items looked at (traces are bounded; this bounds calls).
pub(super) const MAX_ITEMS: usize = 1024;
/// Nested calls told in a row: past it, the outermost and innermost half
/// are kept and the calls between summarised (a 10,000-deep chain would
/// otherwise give every report 10,000 notes).
const MAX_CALL_RUN: usize = 12;

/// A trace flattened into execution order: a call is an `Enter` followed by
/// the items inside it, one level deeper. `parent` is the `Enter` of the call
/// an item lies inside.
#[derive(Debug)]
enum Item<'t> {
    Enter { loc: Option<LocId>, callee: FuncId, depth: usize, returned: bool, parent: Option<usize> },
    Leaf { step: &'t Step, depth: usize, parent: Option<usize> },
}

impl Item<'_> {
    fn depth(&self) -> usize {
        match self {
            Item::Enter { depth, .. } | Item::Leaf { depth, .. } => *depth,
        }
    }

    fn parent(&self) -> Option<usize> {
        match self {
            Item::Enter { parent, .. } | Item::Leaf { parent, .. } => *parent,
        }
    }
}

fn flatten(trace: &Trace) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    // (steps of one trace, the next one to visit, the call they are inside)
    let mut stack: Vec<(Vec<&Step>, usize, Option<usize>)> = vec![(trace.step_refs(), 0, None)];
    while let Some(top) = stack.last_mut() {
        let Some(&step) = top.0.get(top.1) else {
            stack.pop();
            continue;
        };
        top.1 += 1;
        let (parent, depth) = (top.2, stack.len() - 1);
        match step {
            Step::Call { loc, callee, inner, returned, .. } => {
                out.push(Item::Enter { loc: *loc, callee: *callee, depth, returned: *returned, parent });
                stack.push((inner.step_refs(), 0, Some(out.len() - 1)));
            }
            step => out.push(Item::Leaf { step, depth, parent }),
        }
        if out.len() >= MAX_ITEMS {
            break;
        }
    }
    out
}

/// The calls (as item indices) that `index` lies inside, outermost first.
fn enclosing(items: &[Item], index: usize) -> Vec<usize> {
    let mut out: Vec<usize> = std::iter::successors(items[index].parent(), |&p| items[p].parent()).collect();
    out.reverse();
    out
}

/// The calls around any of `indices`, in order: each chain of parents is
/// walked only up to a call already found.
fn enclosing_all(items: &[Item], indices: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut found = vec![false; items.len()];
    for index in indices {
        let mut parent = items[index].parent();
        while let Some(p) = parent.filter(|&p| !found[p]) {
            found[p] = true;
            parent = items[p].parent();
        }
    }
    (0..items.len()).filter(|&i| found[i]).collect()
}

/// The calls still open at the end of the trace: the way down to the site.
fn open_at_end(items: &[Item]) -> Vec<usize> {
    let Some(last) = items.len().checked_sub(1) else { return Vec::new() };
    let mut stack = enclosing(items, last);
    if let Item::Enter { .. } = items[last] {
        stack.push(last);
    }
    // A call the path came back from is not on the way to the site.
    let returned = stack.iter().position(|&i| matches!(items[i], Item::Enter { returned: true, .. }));
    stack.truncate(returned.unwrap_or(stack.len()));
    stack
}

/// Steps that record the same event (traces are rebuilt when mapped into a
/// caller, so identity is by content).
fn same_step(a: &Step, b: &Step) -> bool {
    match (a, b) {
        (Step::Acquire { func: f1, loc: l1, .. }, Step::Acquire { func: f2, loc: l2, .. }) => f1 == f2 && l1 == l2,
        (Step::EntryHolding { func: f1, .. }, Step::EntryHolding { func: f2, .. }) => f1 == f2,
        _ => false,
    }
}

/// The last step that is not a call, in execution order (looked for no
/// deeper than `MAX_ITEMS` calls).
fn last_leaf(trace: &Trace) -> Option<&Step> {
    let mut stack = vec![trace.newest_first()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            None => {
                stack.pop();
            }
            Some(Step::Call { .. }) if stack.len() >= MAX_ITEMS => return None,
            Some(Step::Call { inner, .. }) => stack.push(inner.newest_first()),
            Some(step) => return Some(step),
        }
    }
    None
}

/// What one selected item says.
enum Say {
    Acquired {
        looped: bool,
    },
    Branch,
    Call,
    /// Stands for this many calls left out of a long run.
    CallsNotShown(usize),
}

/// Shortens each run of more than `MAX_CALL_RUN` consecutive calls to its
/// first and last `MAX_CALL_RUN / 2`, with a `CallsNotShown` between.
fn abridge_calls(selected: Vec<(usize, Say)>) -> Vec<(usize, Say)> {
    let mut out = Vec::with_capacity(selected.len().min(4 * MAX_CALL_RUN));
    let mut run: Vec<(usize, Say)> = Vec::new();
    let flush = |run: &mut Vec<(usize, Say)>, out: &mut Vec<(usize, Say)>| {
        let keep = MAX_CALL_RUN / 2;
        if run.len() > MAX_CALL_RUN {
            let hidden = run.len() - 2 * keep;
            let tail = run.split_off(run.len() - keep);
            let at = run[keep].0;
            run.truncate(keep);
            out.append(run);
            out.push((at, Say::CallsNotShown(hidden)));
            out.extend(tail);
        } else {
            out.append(run);
        }
    };
    for entry in selected {
        if matches!(entry.1, Say::Call) {
            run.push(entry);
        } else {
            flush(&mut run, &mut out);
            out.push(entry);
        }
    }
    flush(&mut run, &mut out);
    out
}

pub(super) fn notes(w: &Writer, v: &Violation) -> Vec<Note> {
    let items = flatten(&v.trace);
    let mut selected: Vec<(usize, Say)> = Vec::new();
    let mut off_path = Vec::new();
    // A double acquire's or a release's trace ends with the offending step:
    // an earlier acquisition is looked for before it.
    let ends_with_site = matches!(
        items.last(),
        Some(Item::Leaf { step: Step::Acquire { loc, .. } | Step::Release { loc, .. }, .. }) if *loc == v.site
    ) && matches!(v.check, Check::DoubleAcquire | Check::ReleaseNotHeld);
    let searchable = if ends_with_site { items.len() - 1 } else { items.len() };
    let mut first_acquisition = None;
    for related in &v.related {
        let Some(acquired) = last_leaf(related) else {
            if !related.is_empty() {
                off_path.push(Note {
                    message: format!("(the acquisition lies over {MAX_ITEMS} calls deep and is not shown)"),
                    location: None,
                });
            }
            continue;
        };
        let found = items[..searchable]
            .iter()
            .rposition(|item| matches!(item, Item::Leaf { step, .. } if same_step(step, acquired)));
        match found {
            Some(i) => {
                // The same call, reached the same way, acquired it before: the
                // path came round again (a loop).
                let looped = ends_with_site
                    && matches!(&items[i], Item::Leaf { step: Step::Acquire { loc, .. }, .. } if *loc == v.site)
                    && call_locs(&items, i) == call_locs(&items, items.len() - 1);
                selected.push((i, Say::Acquired { looped }));
                first_acquisition = Some(first_acquisition.map_or(i, |f: usize| f.min(i)));
            }
            // Not on this path's record (it was cut short): tell it apart.
            None => off_path.extend(acquisition_notes(w, related)),
        }
    }
    // The branches of the path. Past the limit, those after the acquisition
    // come first, and the newest of each part.
    let mut branches: Vec<usize> =
        (0..searchable).filter(|&i| matches!(items[i], Item::Leaf { step: Step::Branch { .. }, .. })).collect();
    branches.dedup_by(|b, a| same_branch(&items[*a], &items[*b]));
    let split = branches.partition_point(|&i| first_acquisition.is_some_and(|a| i < a));
    let after = branches.len() - split;
    let keep_after = after.min(MAX_BRANCH_NOTES);
    let keep_before = split.min(MAX_BRANCH_NOTES - keep_after);
    let abridged = branches.len() - keep_after - keep_before;
    let kept = branches[split - keep_before..split].iter().chain(&branches[branches.len() - keep_after..]);
    selected.extend(kept.map(|&i| (i, Say::Branch)));
    // The calls around everything said, and those leading to the site (a
    // held-at-exit site is the routine's own return: every call has ended).
    let mut calls = enclosing_all(&items, selected.iter().map(|(i, _)| *i));
    if v.check != Check::HeldAtExit {
        calls.extend(open_at_end(&items));
        calls.sort_unstable();
        calls.dedup();
    }
    selected.extend(calls.into_iter().map(|i| (i, Say::Call)));
    selected.sort_by_key(|(i, _)| *i);
    let selected = abridge_calls(selected);

    let mut out = off_path;
    if abridged > 0 {
        out.push(Note { message: format!("({abridged} earlier branches on the path are not shown)"), location: None });
    }
    let mut inline = InlineFrames::default();
    for (i, say) in selected {
        let depth = items[i].depth();
        match (&items[i], say) {
            (_, Say::CallsNotShown(hidden)) => out.push(calls_not_shown(hidden)),
            (Item::Enter { loc, callee, .. }, _) => {
                inline.enter(w, &mut out, depth, *loc);
                out.push(Note { message: format!("in call to '{}'", w.function_name(*callee)), location: w.loc(*loc) });
                inline.called(depth);
            }
            (Item::Leaf { step, .. }, Say::Acquired { looped }) => {
                let mut note = acquisition_note(w, step);
                if looped {
                    note.message.push_str(" on an earlier pass through this code (the path loops back)");
                }
                if let Step::Acquire { loc, .. } = step {
                    inline.enter(w, &mut out, depth, *loc);
                }
                out.push(note);
            }
            (Item::Leaf { step: Step::Branch { loc, taken, to, .. }, .. }, _) => {
                inline.enter(w, &mut out, depth, *loc);
                out.push(branch_note(w, *loc, *taken, *to));
            }
            _ => {}
        }
    }
    if v.check != Check::HeldAtExit {
        let depth = open_at_end(&items).len();
        inline.enter(w, &mut out, depth, v.site);
    }
    out
}

/// The locations of the calls around item `i`.
fn call_locs(items: &[Item], i: usize) -> Vec<Option<LocId>> {
    enclosing(items, i)
        .into_iter()
        .map(|c| match items[c] {
            Item::Enter { loc, .. } => loc,
            Item::Leaf { .. } => None,
        })
        .collect()
}

fn same_branch(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (
            Item::Leaf { step: Step::Branch { loc: l1, taken: t1, func: f1, .. }, depth: d1, .. },
            Item::Leaf { step: Step::Branch { loc: l2, taken: t2, func: f2, .. }, depth: d2, .. },
        ) => l1 == l2 && t1 == t2 && f1 == f2 && d1 == d2,
        _ => false,
    }
}

fn acquisition_note(w: &Writer, step: &Step) -> Note {
    match step {
        Step::EntryHolding { func, kind } => Note {
            message: format!(
                "'{}' is entered holding the {} (the I/O manager calls it with the lock held)",
                w.function_name(*func),
                w.kind_name(*kind)
            ),
            location: w.loc(w.facts.function(*func).loc),
        },
        Step::Acquire { loc, .. } => Note {
            message: format!("{} acquired here", w.step_lock_name(step).unwrap_or_default()),
            location: w.loc(*loc),
        },
        _ => Note { message: String::new(), location: None },
    }
}

/// Where a lock was acquired when that is not on the report's path record:
/// the calls leading to the acquire, then the acquire.
fn acquisition_notes(w: &Writer, trace: &Trace) -> Vec<Note> {
    let items = flatten(trace);
    let Some(last) = items.iter().rposition(|i| matches!(i, Item::Leaf { .. })) else { return Vec::new() };
    let mut out = Vec::new();
    let mut inline = InlineFrames::default();
    let calls = abridge_calls(enclosing(&items, last).into_iter().map(|c| (c, Say::Call)).collect());
    for (c, say) in calls {
        if let Say::CallsNotShown(hidden) = say {
            out.push(calls_not_shown(hidden));
        } else if let Item::Enter { loc, callee, depth, .. } = items[c] {
            inline.enter(w, &mut out, depth, loc);
            out.push(Note { message: format!("in call to '{}'", w.function_name(callee)), location: w.loc(loc) });
            inline.called(depth);
        }
    }
    if let Item::Leaf { step, depth, .. } = &items[last] {
        if let Step::Acquire { loc, .. } = step {
            inline.enter(w, &mut out, *depth, *loc);
        }
        out.push(acquisition_note(w, step));
    }
    out
}

fn calls_not_shown(hidden: usize) -> Note {
    Note { message: format!("({hidden} nested calls are not shown)"), location: None }
}

fn branch_note(w: &Writer, loc: Option<LocId>, taken: Taken, to: Option<LocId>) -> Note {
    // Where the path goes, in source terms: the optimiser may have inverted
    // the condition, so "true branch" could lie.
    let here = loc.map(|l| w.facts.loc(l));
    let target = to.map(|t| in_frame_of(w, t, loc)).filter(|t| Some(t.line) != here.map(|h| h.line));
    let towards = |what: &str| match (target, here) {
        (Some(t), Some(h)) if t.file == h.file => format!("{what} to line {}", t.line),
        (Some(t), _) => format!("{what} to {}:{}", t.file, t.line),
        (None, _) => what.to_string(),
    };
    let message = match taken {
        Taken::True | Taken::False => towards("taking the branch"),
        Taken::Case(c) => towards(&format!("taking case {}", case_value(c))),
        Taken::Default => towards("taking the default case"),
    };
    Note { message, location: w.loc(loc) }
}

/// A case value as written in drivers: IOCTL codes and NTSTATUS values
/// are read in hex.
fn case_value(c: i64) -> String {
    if (i32::MIN as i64..0).contains(&c) {
        format!("{c} ({:#x})", c as i32 as u32)
    } else if c >= 256 {
        format!("{c} ({c:#x})")
    } else {
        c.to_string()
    }
}

/// How many inlined calls a location sits in.
fn inline_depth(w: &Writer, mut loc: LocId) -> usize {
    let mut depth = 0;
    while let Some(inlined) = &w.facts.loc(loc).inlined {
        loc = inlined.call;
        depth += 1;
    }
    depth
}

/// `target` as seen from the frame `from` lies in: a branch into code the
/// compiler inlined there goes to the line of the inlined call.
fn in_frame_of<'w>(w: &'w Writer, target: LocId, from: Option<LocId>) -> &'w SourceLoc {
    let limit = from.map_or(0, |f| inline_depth(w, f));
    let mut current = target;
    while inline_depth(w, current) > limit {
        match &w.facts.loc(current).inlined {
            Some(inlined) => current = inlined.call,
            None => break,
        }
    }
    w.facts.loc(current)
}

/// The inlined calls already told, per call depth: a location inside
/// inlined code first gets "in call to" notes for the inlined calls not yet
/// told on its level.
#[derive(Default)]
struct InlineFrames {
    told: Vec<Vec<LocId>>,
}

impl InlineFrames {
    fn enter(&mut self, w: &Writer, out: &mut Vec<Note>, depth: usize, loc: Option<LocId>) {
        self.told.resize(depth + 1, Vec::new());
        let mut chain: Vec<(LocId, &str)> = Vec::new();
        let mut current = loc;
        while let Some(inlined) = current.and_then(|l| w.facts.loc(l).inlined.as_ref()) {
            chain.push((inlined.call, &inlined.function));
            current = Some(inlined.call);
            if chain.len() > 64 {
                break;
            }
        }
        chain.reverse();
        let told = &mut self.told[depth];
        let common = told.iter().zip(&chain).take_while(|(a, (b, _))| *a == b).count();
        told.truncate(common);
        for &(call, function) in &chain[common..] {
            out.push(Note { message: format!("in call to '{function}'"), location: w.loc(Some(call)) });
            told.push(call);
        }
    }

    /// A real call was made at `depth`: the callee's frames start afresh.
    fn called(&mut self, depth: usize) {
        self.told.truncate(depth + 1);
        self.told.push(Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn says(selected: &[(usize, Say)]) -> Vec<String> {
        selected
            .iter()
            .map(|(i, say)| match say {
                Say::Call => format!("call {i}"),
                Say::CallsNotShown(n) => format!("{n} hidden"),
                Say::Branch => format!("branch {i}"),
                Say::Acquired { .. } => format!("acquired {i}"),
            })
            .collect()
    }

    #[test]
    fn long_runs_of_calls_keep_their_ends() {
        let mut selected: Vec<(usize, Say)> = (0..20).map(|i| (i, Say::Call)).collect();
        selected.push((20, Say::Branch));
        selected.extend((21..30).map(|i| (i, Say::Call)));
        let told = says(&abridge_calls(selected));
        let expected: Vec<String> = (0..6)
            .map(|i| format!("call {i}"))
            .chain(["8 hidden".to_string()])
            .chain((14..20).map(|i| format!("call {i}")))
            .chain(["branch 20".to_string()])
            .chain((21..30).map(|i| format!("call {i}")))
            .collect();
        assert_eq!(told, expected);
    }
}
