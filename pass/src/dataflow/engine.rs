//! The per-function analysis: a forward dataflow over the function's blocks
//! in the manner of ESP's property simulation (Das, Lerner & Seigle, PLDI
//! 2002): each block keeps a few states, each a lock state with the facts
//! of the paths that reach it; a branch whose condition the facts decide is
//! followed one way only. Facts about values nothing ahead reads are dropped
//! (`liveness`), so paths merge as soon as what told them apart stops
//! mattering. The result is the function's summary.
//!
//! Bounded: at most `MAX_STATES` states per block. Past that, further states
//! fold into one merged state (`merge_past_bound`): locks held on only some
//! of the folded paths become maybe-held, values whose facts differ become
//! blurred, and paths that branch on a blurred value report nothing. So the
//! analysis neither explodes nor reports what merged paths cannot show, yet
//! still reports what holds on all of them.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::conditions::{Conditions, Fact};
use super::liveness::Liveness;
use super::loops;
use super::state::{Count, LockKey, State, StateKey, Step, Taken};
use super::summary::{Outcome, Requires, Summary};
use super::transfer::{CallSite, Collected, Mode, OpaqueLocks, Transfer};
use crate::facts::{Block, Body, Event, FuncId, Function, LocId, Operand, Paths, Terminator, ValueDef};
use crate::rules::{LockOp, ModelId, RulePack};

/// Distinct states kept per block before further ones fold into one.
pub const MAX_STATES: usize = 16;
/// Distinct outcomes kept per function.
pub const MAX_OUTCOMES: usize = 64;
/// Block visits per block before giving up on a function (a safety net; the
/// lattice is finite, so this is never reached on real code).
const VISITS_PER_BLOCK: usize = 200;

pub struct Context<'a> {
    pub functions: &'a [Function],
    pub rules: &'a RulePack,
    pub model: ModelId,
}

struct Slot {
    key: StateKey,
    state: State,
    dirty: bool,
    /// The fold-everything state of an overflowing block.
    sink: bool,
}

pub fn summarize(
    cx: &Context,
    paths: &mut Paths,
    opaque: &mut OpaqueLocks,
    summaries: &[Option<Summary>],
    func: FuncId,
) -> Summary {
    // Only defined functions are summarised (see `dataflow::analyze`); calls
    // to body-less ones never consult a summary.
    let Some(body) = cx.functions[func as usize].body.as_ref() else {
        return Summary::default();
    };
    let cycle = loops::block_cycles(body);
    let mut run = Run {
        cx,
        paths,
        opaque,
        summaries,
        func,
        body,
        conditions: Conditions { values: &body.values },
        slots: (0..body.blocks.len()).map(|_| Vec::new()).collect(),
        order: Vec::new(),
        on_cycle: loops::on_cycle(body, &cycle),
        cycle: cycle.clone(),
        counters: loops::counters(body),
        returns: can_return(body),
        liveness: Liveness::compute(body, &value_blocks(body), &cycle),
        value_block: value_blocks(body),
        position: vec![usize::MAX; body.blocks.len()],
        queue: BTreeSet::new(),
        collected: Collected::default(),
        outcomes: Vec::new(),
        outcome_keys: HashMap::default(),
        imprecise: false,
    };
    run.run();
    Summary {
        outcomes: run.outcomes,
        effects: run.collected.effects,
        violations: run.collected.violations,
        imprecise: run.imprecise,
    }
}

type OutcomeKey =
    (Vec<(LockKey, usize, Option<u32>)>, Vec<(LockKey, usize)>, Option<Fact>, Requires, u64, bool, Option<LocId>);

struct Run<'a, 'b> {
    cx: &'a Context<'a>,
    paths: &'b mut Paths,
    opaque: &'b mut OpaqueLocks,
    summaries: &'b [Option<Summary>],
    func: FuncId,
    body: &'a Body,
    conditions: Conditions<'a>,
    slots: Vec<Vec<Slot>>,
    /// Blocks in reverse postorder, and each block's place in it.
    order: Vec<usize>,
    /// Per block: its strongly connected component in the CFG (a loop).
    cycle: Vec<u32>,
    /// Per block: whether it is on a cycle. Blocks that are not see all
    /// their states before they are first processed (reverse postorder),
    /// so their states are dropped once processed, keeping memory to the
    /// frontier rather than the whole function.
    on_cycle: Vec<bool>,
    /// Per tracked value: the block defining it (none for parameters).
    value_block: Vec<Option<u32>>,
    liveness: Liveness,
    /// Phi edges that count around a loop (`i = phi [0], [i + 1]`): the
    /// value they bring is forgotten, or facts would climb forever.
    counters: HashSet<(u32, u32)>,
    /// Per block: whether some path from it reaches a `return` (not only
    /// panics, bug checks and unwinding).
    returns: Vec<bool>,
    position: Vec<usize>,
    queue: BTreeSet<usize>,
    collected: Collected,
    outcomes: Vec<Outcome>,
    outcome_keys: HashMap<OutcomeKey, usize>,
    imprecise: bool,
}

impl Run<'_, '_> {
    fn run(&mut self) {
        self.order = reverse_postorder(self.body);
        for (i, &b) in self.order.iter().enumerate() {
            self.position[b] = i;
        }
        self.insert(0, State::default());
        let mut budget = VISITS_PER_BLOCK * self.body.blocks.len() + 64;
        while let Some(pos) = self.queue.pop_first() {
            if budget == 0 {
                self.imprecise = true;
                break;
            }
            budget -= 1;
            let b = self.order[pos];
            let states: Vec<State> = if self.on_cycle[b] {
                self.slots[b]
                    .iter_mut()
                    .filter(|s| s.dirty)
                    .map(|s| {
                        s.dirty = false;
                        s.state.clone()
                    })
                    .collect()
            } else {
                std::mem::take(&mut self.slots[b]).into_iter().filter(|s| s.dirty).map(|s| s.state).collect()
            };
            let block = &self.body.blocks[b];
            for st in states {
                for st in self.events(st, block) {
                    self.terminate(st, b, block);
                }
            }
        }
    }

    fn transfer(&mut self, st: &State) -> Transfer<'_> {
        let requires = self.requires(st);
        Transfer {
            rules: self.cx.rules,
            model: self.cx.model,
            paths: self.paths,
            opaque: self.opaque,
            func: self.func,
            mode: Mode::Summary,
            collected: &mut self.collected,
            requires,
        }
    }

    /// The facts of the path about the function's parameters.
    fn requires(&self, st: &State) -> Requires {
        st.facts
            .iter()
            .filter_map(|(v, f)| match self.body.values.get(*v as usize).map(|i| &i.def) {
                Some(ValueDef::Param(n)) => Some((*n, *f)),
                _ => None,
            })
            .collect()
    }

    // ----- events -----

    fn events(&mut self, st: State, block: &Block) -> Vec<State> {
        let mut states = vec![st];
        for event in &block.events {
            let mut next = Vec::new();
            for s in states {
                self.event(s, event, &mut next);
            }
            states = self.compact(next);
        }
        states
    }

    /// Merges states one of which covers the other (same lock state, facts
    /// no stronger); past the bound, folds the rest into one imprecise state.
    fn compact(&mut self, states: Vec<State>) -> Vec<State> {
        if states.len() <= 1 {
            return states;
        }
        let mut out: Vec<(StateKey, State)> = Vec::with_capacity(states.len());
        for s in states {
            let key = s.key();
            if let Some((_, existing)) = out.iter_mut().find(|(k, e)| *k == key && e.facts.covers(&s.facts)) {
                existing.add_effects(&s.effects);
                continue;
            }
            let mut s = s;
            out.retain(|(k, e)| {
                let covered = *k == key && s.facts.covers(&e.facts);
                if covered {
                    s.add_effects(&e.effects);
                }
                !covered
            });
            out.push((key, s));
        }
        let mut states: Vec<State> = out.into_iter().map(|(_, s)| s).collect();
        if states.len() > MAX_STATES {
            self.imprecise = true;
            let rest = states.split_off(MAX_STATES - 1);
            let folded = rest.iter().skip(1).fold(rest[0].clone(), |a, b| merge_past_bound(&a, b));
            states.push(folded);
        }
        states
    }

    fn event(&mut self, mut st: State, event: &Event, out: &mut Vec<State>) {
        match event {
            Event::Lock(e) => {
                let spec = &self.cx.rules.lock_apis[e.api];
                let kind = spec.kind;
                let key = if self.cx.rules.lock_kinds[kind].global {
                    Some(LockKey::Global(kind))
                } else {
                    e.lock.map(LockKey::Path)
                };
                match (spec.op, key) {
                    (LockOp::Acquire, Some(key)) => {
                        if self.transfer(&st).acquire(&mut st, key, kind, e.handle, e.loc) {
                            out.push(st);
                        }
                    }
                    (LockOp::TryAcquire, Some(key)) => self.try_acquire(st, key, kind, e.result, e.loc, out),
                    (LockOp::Release, Some(key)) => {
                        self.transfer(&st).release(&mut st, key, kind, e.loc);
                        out.push(st);
                    }
                    (LockOp::Release, None) => {
                        if let Some(handle) = e.handle {
                            self.transfer(&st).release_handle(&mut st, handle, kind, e.loc);
                        }
                        out.push(st);
                    }
                    _ => out.push(st),
                }
            }
            Event::Forbidden(e) => {
                self.transfer(&st).forbidden(&mut st, e.call, e.loc);
                out.push(st);
            }
            Event::Call(call) if call.targets.is_empty() => {
                // Unresolved: lock-neutral, but for locks the callee takes over.
                for &kind in &call.hands_over {
                    st.held.retain(|h| h.key != LockKey::Global(kind));
                }
                out.push(st);
            }
            Event::Call(call) => {
                let arg_facts: Vec<Fact> = call.args.iter().map(|a| self.conditions.eval(&st.facts, a.value)).collect();
                let args: Vec<_> = call.args.iter().map(|a| a.path).collect();
                let site = CallSite { args: &args, arg_facts, result: call.result, loc: call.loc, top_level: false };
                let mut any = false;
                for &target in &call.targets {
                    match self.summaries.get(target as usize).and_then(|s| s.as_ref()) {
                        Some(summary) => {
                            for (s, _) in self.transfer(&st).apply_summary(st.clone(), target, summary, &site) {
                                out.push(s);
                            }
                            any = true;
                        }
                        // A body-less function (never summarised): lock-neutral.
                        None => {
                            out.push(st.clone());
                            any = true;
                        }
                    }
                }
                if !any {
                    out.push(st);
                }
            }
        }
    }

    /// KeTryToAcquireSpinLockAtDpcLevel: held only when it returns non-zero;
    /// it fails on a lock this path already holds.
    fn try_acquire(
        &mut self,
        st: State,
        key: LockKey,
        kind: usize,
        result: Option<u32>,
        loc: Option<LocId>,
        out: &mut Vec<State>,
    ) {
        let result = result.map(Operand::Value).unwrap_or(Operand::Unknown);
        if !st.holds(key) {
            let mut success = st.clone();
            if self.conditions.constrain(&mut success.facts, result, Fact::not_equal(0)) {
                self.transfer(&success).acquired_by_try(&mut success, key, kind, loc);
                out.push(success);
            }
        }
        let mut failure = st;
        if self.conditions.constrain(&mut failure.facts, result, Fact::exact(0)) {
            out.push(failure);
        }
    }

    // ----- control flow -----

    fn terminate(&mut self, st: State, from: usize, block: &Block) {
        match &block.terminator {
            Terminator::Goto { target, .. } => self.flow(st, from, *target as usize),
            Terminator::Branch { condition, then_block, else_block, loc } => {
                let sides = [(1, *then_block, Taken::True), (0, *else_block, Taken::False)];
                // A branch whose other side can only end the program (a panic
                // after a failed bounds, overflow, alignment or null check, a
                // bug check) says nothing about the path worth a note.
                let noteworthy = self.returns[*then_block as usize] && self.returns[*else_block as usize];
                let decided = match self.conditions.eval(&st.facts, *condition).value() {
                    Some(0) => Some(sides[1]),
                    Some(_) => Some(sides[0]),
                    None => None,
                };
                if let Some((_, target, taken)) = decided {
                    // Decided by what the path knows: still a branch of it
                    // (`if (taken)`), unless both sides go to one place.
                    let mut s = st;
                    if then_block != else_block && noteworthy {
                        self.record_branch(&mut s, *loc, taken, target);
                    }
                    self.flow(s, from, target as usize);
                    return;
                }
                // Undecided because a merge blurred what decides it: the
                // sides may not be feasible; report nothing past here.
                let blurred = self.conditions.reads_any(*condition, &st.blurred);
                for (truth, target, taken) in sides {
                    let mut s = st.clone();
                    if self.conditions.constrain(&mut s.facts, *condition, Fact::exact(truth)) {
                        s.imprecise |= blurred;
                        if noteworthy {
                            self.record_branch(&mut s, *loc, taken, target);
                        }
                        self.flow(s, from, target as usize);
                    }
                }
            }
            Terminator::Switch { value, cases, default, loc } => {
                let known = self.conditions.eval(&st.facts, *value);
                if let Some(v) = known.value() {
                    let (target, taken) = match cases.iter().find(|(c, _)| *c == v) {
                        Some(&(case, target)) => (target, Taken::Case(case)),
                        None => (*default, Taken::Default),
                    };
                    let mut s = st;
                    self.record_branch(&mut s, *loc, taken, target);
                    self.flow(s, from, target as usize);
                    return;
                }
                let blurred = self.conditions.reads_any(*value, &st.blurred);
                for &(case, target) in cases {
                    let mut s = st.clone();
                    s.imprecise |= blurred;
                    if self.conditions.constrain(&mut s.facts, *value, Fact::exact(case)) {
                        self.record_branch(&mut s, *loc, Taken::Case(case), target);
                        self.flow(s, from, target as usize);
                    }
                }
                // The default: none of the cases (as far as a fact can say).
                let mut s = st;
                s.imprecise |= blurred;
                let feasible = cases
                    .iter()
                    .all(|&(case, _)| self.conditions.constrain(&mut s.facts, *value, Fact::not_equal(case)));
                if feasible {
                    self.record_branch(&mut s, *loc, Taken::Default, *default);
                    self.flow(s, from, *default as usize);
                }
            }
            Terminator::Fork { targets } => {
                for &t in targets {
                    self.flow(st.clone(), from, t as usize);
                }
            }
            Terminator::Return { value, loc } => self.outcome(st, *value, *loc),
            // Unwinding out (Rust panics) and unreachable code end the path.
            Terminator::Unwind { .. } | Terminator::Unreachable => {}
        }
    }

    fn record_branch(&self, st: &mut State, loc: Option<LocId>, taken: Taken, target: u32) {
        let to = self.body.blocks[target as usize].loc;
        st.trace = st.trace.push(Step::Branch { func: self.func, loc, taken, to });
    }

    /// Moves a state along an edge: phis take their incoming values, values
    /// the target block (re)defines forget their old facts.
    /// Moves a state along an edge: phis take their incoming values, and the
    /// values the target block recomputes forget what the path knew of them,
    /// unless they are recomputed from the very same inputs (a loop's
    /// `continue` edge that changes neither operand of the loop test).
    fn flow(&mut self, mut st: State, from: usize, to: usize) {
        let block = &self.body.blocks[to];
        let mut changed: Vec<u32> = Vec::new();
        let mut phi_facts: Vec<(u32, Fact)> = Vec::new();
        let mut blurred_phis: Vec<u32> = Vec::new();
        for p in &block.phis {
            let incoming = p.incoming.iter().find(|(b, _)| *b as usize == from).map(|(_, op)| *op);
            if incoming == Some(Operand::Value(p.value)) {
                continue;
            }
            changed.push(p.value);
            if incoming.is_some_and(|op| self.conditions.reads_any(op, &st.blurred)) {
                blurred_phis.push(p.value);
            }
            let counting = self.counters.contains(&(p.value, from as u32));
            let fact = incoming.filter(|_| !counting).map(|op| self.conditions.eval(&st.facts, op));
            phi_facts.push((p.value, fact.unwrap_or(Fact::ANY)));
        }
        loop {
            let before = changed.len();
            for &v in &block.defines {
                if changed.contains(&v) || block.phis.iter().any(|p| p.value == v) {
                    continue;
                }
                if self.recomputed_differently(v, to, &changed) {
                    changed.push(v);
                }
            }
            if changed.len() == before {
                break;
            }
        }
        // Recomputed values are as precise as their inputs now.
        st.blurred.retain(|v| !changed.contains(v));
        for v in changed {
            st.facts.remove(v);
        }
        for (v, f) in phi_facts {
            st.facts.set(v, f);
        }
        if !blurred_phis.is_empty() {
            st.blurred.extend(blurred_phis);
            st.blurred.sort_unstable();
        }
        let liveness = &self.liveness;
        st.facts.retain(|v| liveness.is_live(to, v));
        st.blurred.retain(|&v| liveness.is_live(to, v));
        self.insert(to, st);
    }

    /// Whether value `v`, defined in `block`, may get a different value than
    /// the path last saw: it reads memory or calls, or one of its inputs
    /// changed (`changed`), or an input is defined elsewhere in the same CFG
    /// cycle (it may have been recomputed since).
    fn recomputed_differently(&self, v: u32, block: usize, changed: &[u32]) -> bool {
        let Some(info) = self.body.values.get(v as usize) else { return true };
        let inputs: Vec<Operand> = match &info.def {
            ValueDef::Opaque | ValueDef::CallResult => return true,
            ValueDef::Param(_) | ValueDef::Phi => return false,
            ValueDef::Cmp { lhs, rhs, .. } | ValueDef::And(lhs, rhs) | ValueDef::Or(lhs, rhs) => vec![*lhs, *rhs],
            ValueDef::Not(a)
            | ValueDef::ZExt(a)
            | ValueDef::SExt(a)
            | ValueDef::Trunc(a)
            | ValueDef::Mask(a, _)
            | ValueDef::Offset(a, _) => vec![*a],
            ValueDef::Select { condition, then_value, else_value } => vec![*condition, *then_value, *else_value],
        };
        inputs.into_iter().any(|input| match input {
            Operand::Value(x) => {
                changed.contains(&x)
                    || self.value_block[x as usize]
                        .is_some_and(|b| b as usize != block && self.cycle[b as usize] == self.cycle[block])
            }
            _ => false,
        })
    }

    /// Adds a state to a block: nothing new when a state there covers it
    /// (same lock state, facts no stronger); it replaces the states it
    /// covers; past the bound it folds into the block's imprecise state.
    fn insert(&mut self, block: usize, st: State) {
        if self.position[block] == usize::MAX {
            return;
        }
        let key = st.key();
        let position = self.position[block];
        let slots = &mut self.slots[block];
        if let Some(slot) = slots.iter_mut().find(|s| !s.sink && s.key == key && s.state.facts.covers(&st.facts)) {
            if slot.state.add_effects(&st.effects) {
                slot.dirty = true;
                self.queue.insert(position);
            }
            return;
        }
        let mut st = st;
        slots.retain(|s| {
            let covered = !s.sink && s.key == key && st.facts.covers(&s.state.facts);
            if covered {
                st.add_effects(&s.state.effects);
            }
            !covered
        });
        if slots.iter().filter(|s| !s.sink).count() < MAX_STATES {
            slots.push(Slot { key, state: st, dirty: true, sink: false });
            self.queue.insert(position);
            return;
        }
        // Over the bound: fold into the block's merged state.
        self.imprecise = true;
        match slots.iter_mut().find(|s| s.sink) {
            Some(slot) => {
                let merged = merge_past_bound(&slot.state, &st);
                if merged.key() != slot.key || merged.facts != slot.state.facts || merged.effects != slot.state.effects
                {
                    slot.key = merged.key();
                    slot.state = merged;
                    slot.dirty = true;
                    self.queue.insert(position);
                }
            }
            None => {
                slots.push(Slot { key: st.key(), state: st, dirty: true, sink: true });
                self.queue.insert(position);
            }
        }
    }

    fn outcome(&mut self, st: State, value: Option<Operand>, exit: Option<LocId>) {
        let released = st.released_for_caller();
        let ret = value.map(|v| self.conditions.eval(&st.facts, v)).filter(|f| !f.is_any());
        let requires = self.requires(&st);
        let key: OutcomeKey = (
            st.held.iter().map(|h| (h.key, h.kind, h.handle)).collect(),
            released.clone(),
            ret,
            requires.clone(),
            st.muted,
            st.imprecise,
            exit,
        );
        if let Some(&existing) = self.outcome_keys.get(&key) {
            let effects = &mut self.outcomes[existing].effects;
            effects.extend(st.effects);
            effects.sort_unstable();
            effects.dedup();
            return;
        }
        if self.outcomes.len() >= MAX_OUTCOMES {
            self.imprecise = true;
            return;
        }
        self.outcome_keys.insert(key, self.outcomes.len());
        self.outcomes.push(Outcome {
            held: st.held,
            released,
            ret,
            requires,
            muted: st.muted,
            imprecise: st.imprecise,
            exit,
            effects: st.effects,
            trace: st.trace,
        });
    }
}

/// Folds two states into one past the bound: a lock held the same way on
/// both stays held, a lock held on one only becomes maybe-held (nothing is
/// reported from it), and the values whose facts differ become blurred.
fn merge_past_bound(a: &State, b: &State) -> State {
    use std::cmp::Ordering;
    let mut merged = a.clone();
    // Both lists are sorted by key: merge them in one pass.
    merged.held = Vec::with_capacity(a.held.len().max(b.held.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        let order = match (a.held.get(i), b.held.get(j)) {
            (Some(x), Some(y)) => x.key.cmp(&y.key),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        let mut h = match order {
            Ordering::Less => a.held[i].clone(),
            Ordering::Greater => b.held[j].clone(),
            Ordering::Equal => a.held[i].clone(),
        };
        let same =
            order == Ordering::Equal && a.held[i].count == b.held[j].count && a.held[i].handle == b.held[j].handle;
        if !same {
            h.count = Count::Unknown;
        }
        i += usize::from(order != Ordering::Greater);
        j += usize::from(order != Ordering::Less);
        merged.held.push(h);
    }
    merged.touched = union_sorted(&a.touched, &b.touched);
    merged.touched.dedup_by_key(|(key, _)| *key);
    // Acquired first on both paths only: where one released a caller's
    // lock, the merge may have released it.
    merged.acquired_first.retain(|k| b.acquired_first.binary_search(k).is_ok());
    merged.maybe_released = union_sorted(&a.maybe_released, &b.maybe_released);
    merged.muted &= b.muted;
    merged.imprecise |= b.imprecise;
    merged.add_effects(&b.effects);
    let mut blurred = a.facts.differing(&b.facts);
    blurred.extend(&a.blurred);
    blurred.extend(&b.blurred);
    blurred.sort_unstable();
    blurred.dedup();
    merged.blurred = blurred;
    merged.facts = a.facts.join(&b.facts);
    merged
}

fn union_sorted<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out: Vec<T> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The block defining each tracked value.
/// Per block: whether a `return` is reachable from it.
fn can_return(body: &Body) -> Vec<bool> {
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); body.blocks.len()];
    let mut work = Vec::new();
    for (b, block) in body.blocks.iter().enumerate() {
        for s in block.terminator.successors() {
            predecessors[s as usize].push(b);
        }
        if matches!(block.terminator, Terminator::Return { .. }) {
            work.push(b);
        }
    }
    let mut returns = vec![false; body.blocks.len()];
    while let Some(b) = work.pop() {
        if !std::mem::replace(&mut returns[b], true) {
            work.extend(predecessors[b].iter().copied().filter(|&p| !returns[p]));
        }
    }
    returns
}

fn value_blocks(body: &Body) -> Vec<Option<u32>> {
    let mut out = vec![None; body.values.len()];
    for (b, block) in body.blocks.iter().enumerate() {
        for v in block.defines.iter().copied().chain(block.phis.iter().map(|p| p.value)) {
            if let Some(slot) = out.get_mut(v as usize) {
                *slot = Some(b as u32);
            }
        }
    }
    out
}

/// Blocks reachable from the entry, in reverse postorder (iterative DFS).
fn reverse_postorder(body: &Body) -> Vec<usize> {
    let n = body.blocks.len();
    if n == 0 {
        return Vec::new();
    }
    let successors: Vec<Vec<usize>> = body
        .blocks
        .iter()
        .map(|b| b.terminator.successors().into_iter().map(|s| s as usize).filter(|&s| s < n).collect())
        .collect();
    let mut visited = vec![false; n];
    let mut post = Vec::with_capacity(n);
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    visited[0] = true;
    while let Some(&mut (b, ref mut next)) = stack.last_mut() {
        if let Some(&s) = successors[b].get(*next) {
            *next += 1;
            if !visited[s] {
                visited[s] = true;
                stack.push((s, 0));
            }
        } else {
            post.push(b);
            stack.pop();
        }
    }
    post.reverse();
    post
}
