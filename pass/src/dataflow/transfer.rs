//! Transfer functions: what a lock event or a call does to a state.
//!
//! Used for a function's own events while computing its summary (`Mode::Summary`:
//! what the caller holds is unknown, so caller-dependent verdicts become
//! effects), and for applying a summary at a call site or at a routine's
//! entry (`Mode::Routine`: the entry state is known, every verdict is final).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::conditions::Fact;
use super::state::{Count, Held, LockKey, State, Step, Trace};
use super::summary::{Effect, EffectKey, EffectKind, Outcome, Requires, Summary, Violation, effect_key};
use crate::alias::may_alias;
use crate::checks::{Check, Verdict, call_while_held, double_acquire, release_not_held};
use crate::facts::{FuncId, LocId, PathId, Paths, Root, ValueId};
use crate::rules::{KindId, ModelId, RuleId, RulePack};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Computing a summary: the caller's locks are unknown.
    Summary,
    /// At a routine's entry: the state is exactly what the OS provides.
    Routine,
}

/// Effects and violations found so far, each kept once.
#[derive(Default)]
pub struct Collected {
    pub effects: Vec<Effect>,
    effect_keys: HashMap<EffectKey, u32>,
    pub violations: Vec<Violation>,
    violation_keys: HashSet<(RuleId, FuncId, Option<LocId>)>,
}

impl Collected {
    /// Adds an effect once; returns its index.
    fn add_effect(&mut self, effect: Effect) -> u32 {
        let key = effect_key(&effect);
        if let Some(&index) = self.effect_keys.get(&key) {
            return index;
        }
        let index = self.effects.len() as u32;
        self.effect_keys.insert(key, index);
        self.effects.push(effect);
        index
    }

    fn add_violation(&mut self, v: Violation) {
        if self.violation_keys.insert((v.rule, v.func, v.site)) {
            self.violations.push(v);
        }
    }
}

/// Ids for locks a caller cannot name, stable per (callee, lock) so that
/// states holding the same such lock still merge. The origin of each is kept
/// to name it in reports.
#[derive(Default)]
pub struct OpaqueLocks {
    ids: HashMap<(FuncId, LockKey), u32>,
    pub origins: Vec<(FuncId, LockKey)>,
}

impl OpaqueLocks {
    fn id(&mut self, callee: FuncId, key: LockKey) -> LockKey {
        let next = self.origins.len() as u32;
        let id = *self.ids.entry((callee, key)).or_insert(next);
        if id == next {
            self.origins.push((callee, key));
        }
        LockKey::Opaque(id)
    }
}

/// What a callee's effect means for the caller's paths through it.
enum Consequence {
    /// Reported here: the rule says nothing more on those paths.
    Mute(RuleId),
    /// A double acquire: those paths spin forever.
    Deadlock,
    /// Decided by this function's callers: it is this function's effect.
    Effect(u32),
}

/// A call as the caller sees it.
pub struct CallSite<'c> {
    pub args: &'c [Option<PathId>],
    /// What the caller knows of each integer argument.
    pub arg_facts: Vec<Fact>,
    pub result: Option<ValueId>,
    pub loc: Option<LocId>,
    /// Applying a routine's own summary at its entry: no call step in traces.
    pub top_level: bool,
}

pub struct Transfer<'a> {
    pub rules: &'a RulePack,
    pub model: ModelId,
    pub paths: &'a mut Paths,
    pub opaque: &'a mut OpaqueLocks,
    /// The function whose state is transformed.
    pub func: FuncId,
    pub mode: Mode,
    pub collected: &'a mut Collected,
    /// Conditions on the function's parameters on the current path.
    pub requires: Requires,
}

/// Where the last acquire of a trace happened (through calls).
fn acquire_site(trace: &Trace) -> Option<LocId> {
    let mut step = trace.last().cloned();
    while let Some(Step::Call { inner, .. }) = step {
        step = inner.last().cloned();
    }
    match step {
        Some(Step::Acquire { loc, .. }) => loc,
        _ => None,
    }
}

impl Transfer<'_> {
    // ----- identities -----

    /// Whether the lock's state at the function's entry is unknown on this
    /// path, i.e. a caller could hold it.
    fn caller_may_hold(&self, st: &State, key: LockKey) -> bool {
        self.mode == Mode::Summary && !st.imprecise && self.nameable(key) && !st.is_touched(key)
    }

    /// Locks a caller can refer to: through a parameter or a global, or an
    /// unknown pointer (which may point anywhere).
    fn nameable(&self, key: LockKey) -> bool {
        match key {
            LockKey::Path(p) | LockKey::Handle(p) => !matches!(self.paths.get(p).root, Root::Local(..)),
            LockKey::Global(_) | LockKey::Opaque(_) => true,
        }
    }

    fn several(&self, key: LockKey) -> bool {
        matches!(key, LockKey::Path(p) if self.paths.is_several(p))
    }

    /// Maps a callee's lock into the caller's terms.
    fn map_key(&mut self, callee: FuncId, key: LockKey, call: &CallSite) -> Option<LockKey> {
        if call.top_level {
            // A routine's own summary at its entry: its terms are the caller's.
            return Some(key);
        }
        let args = call.args;
        match key {
            LockKey::Path(p) => match self.paths.substitute(p, args) {
                Some(mapped) => Some(LockKey::Path(mapped)),
                None if matches!(self.paths.get(p).root, Root::Local(..)) => None,
                None => Some(self.opaque.id(callee, key)),
            },
            LockKey::Handle(h) => self.paths.substitute(h, args).map(LockKey::Handle),
            LockKey::Global(_) | LockKey::Opaque(_) => Some(key),
        }
    }

    // ----- reports -----

    /// Records a violation unless the path already reported under its rule,
    /// and mutes the rule on the path. Returns the rule when it counted (the
    /// rule exists for this model and the path is precise).
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        st: &mut State,
        check: Check,
        kind: KindId,
        lock: Option<LockKey>,
        func: FuncId,
        site: Option<LocId>,
        trace: Trace,
        related: Vec<Trace>,
    ) -> Option<RuleId> {
        let rule = self.rules.owner(check, kind, self.model)?;
        if st.imprecise || st.is_muted(rule) {
            return None;
        }
        st.mute(rule);
        let effects = st.effects.clone();
        self.collected.add_violation(Violation { rule, check, kind, lock, func, site, trace, related, effects });
        Some(rule)
    }

    /// Records a verdict the caller decides; returns its index (for the
    /// paths through it to remember).
    fn effect(
        &mut self,
        st: &State,
        effect: EffectKind,
        kind: KindId,
        func: FuncId,
        site: Option<LocId>,
        trace: Trace,
    ) -> Option<u32> {
        if st.imprecise || self.mode != Mode::Summary {
            return None;
        }
        let check = match effect {
            EffectKind::Acquire { .. } => Some(Check::DoubleAcquire),
            EffectKind::Release { .. } => Some(Check::ReleaseNotHeld),
            EffectKind::ForbiddenCall { .. } => None,
        };
        if let Some(check) = check {
            match self.rules.owner(check, kind, self.model) {
                Some(rule) if !st.is_muted(rule) => {}
                _ => return None,
            }
        }
        let requires = self.requires.clone();
        Some(self.collected.add_effect(Effect { effect, kind, func, site, trace, requires }))
    }

    /// An effect of the function's own events, on the current paths.
    fn own_effect(&mut self, st: &mut State, effect: EffectKind, kind: KindId, loc: Option<LocId>, trace: Trace) {
        if let Some(index) = self.effect(st, effect, kind, self.func, loc, trace) {
            st.add_effects(&[index]);
        }
    }

    // ----- the function's own events -----

    /// Acquire `key`. Returns false when the path ends (it deadlocked).
    pub fn acquire(
        &mut self,
        st: &mut State,
        key: LockKey,
        kind: KindId,
        handle: Option<PathId>,
        loc: Option<LocId>,
    ) -> bool {
        let step = Step::Acquire { func: self.func, loc, lock: key, kind };
        let trace = st.trace.push(step);
        match double_acquire::check(&st.held, key, self.several(key), self.caller_may_hold(st, key)) {
            Verdict::Defect { kind, related } => {
                let related = related.into_iter().collect();
                self.report(st, Check::DoubleAcquire, kind, Some(key), self.func, loc, trace, related);
                // The path spins forever here.
                return false;
            }
            Verdict::DependsOnCaller => {
                // What this function already holds that a caller could also
                // name: passing the same lock twice makes this acquire a
                // double acquire at that call.
                let while_holding = st
                    .held
                    .iter()
                    .filter(|h| h.key != key && h.count.certainly_held() && self.nameable(h.key))
                    .map(|h| (h.key, acquire_site(&h.acquired)))
                    .collect();
                self.own_effect(st, EffectKind::Acquire { lock: key, while_holding }, kind, loc, trace.clone());
            }
            Verdict::Fine => {}
        }
        if self.nameable(key) {
            st.touch_acquired(key, kind);
        }
        st.trace = trace.clone();
        let several = self.several(key);
        if let Some(h) = st.held.iter_mut().find(|h| h.key == key) {
            h.count = h.count.acquired_again(several);
            return true;
        }
        st.add_held(Held { key, kind, handle, acquired: trace, count: Count::one() });
        true
    }

    /// A successful try-acquire: the lock was free (a held one makes it fail).
    pub fn acquired_by_try(&mut self, st: &mut State, key: LockKey, kind: KindId, loc: Option<LocId>) {
        let trace = st.trace.push(Step::Acquire { func: self.func, loc, lock: key, kind });
        if self.nameable(key) {
            st.touch_acquired(key, kind);
        }
        st.trace = trace.clone();
        st.held.retain(|h| h.key != key);
        st.add_held(Held { key, kind, handle: None, acquired: trace, count: Count::one() });
    }

    pub fn release(&mut self, st: &mut State, key: LockKey, kind: KindId, loc: Option<LocId>) {
        let caller_may_hold = self.caller_may_hold(st, key);
        let paths = &*self.paths;
        let verdict = release_not_held::check(&st.held, key, kind, |h| may_alias(paths, h.key, key), caller_may_hold);
        self.apply_release(st, verdict, key, kind, loc);
    }

    /// Release through a lock handle (in-stack queued and Storport locks).
    pub fn release_handle(&mut self, st: &mut State, handle: PathId, kind: KindId, loc: Option<LocId>) {
        let key = LockKey::Handle(handle);
        let verdict = match st.held.iter().rposition(|h| h.handle == Some(handle)) {
            Some(i) => release_not_held::Released::Held(i),
            None if self.caller_may_hold(st, key) => release_not_held::Released::Not(Verdict::DependsOnCaller),
            None => release_not_held::Released::Not(Verdict::Defect { kind, related: None }),
        };
        self.apply_release(st, verdict, key, kind, loc);
    }

    fn apply_release(
        &mut self,
        st: &mut State,
        verdict: release_not_held::Released,
        key: LockKey,
        kind: KindId,
        loc: Option<LocId>,
    ) {
        match verdict {
            release_not_held::Released::Held(i) => {
                match st.held[i].count.released_once(self.several(st.held[i].key)) {
                    Some(count) => st.held[i].count = count,
                    None => {
                        st.held.remove(i);
                    }
                }
                st.trace = st.trace.push(Step::Release { func: self.func, loc, lock: key, kind });
            }
            release_not_held::Released::MaybeHeld(i) => {
                let released = st.held.remove(i);
                st.maybe_release(released.key);
                st.trace = st.trace.push(Step::Release { func: self.func, loc, lock: key, kind });
            }
            release_not_held::Released::Not(Verdict::Defect { .. }) if st.take_maybe_released(key) => {
                // A release through a may-alias pointer may have been this one's.
            }
            release_not_held::Released::Not(Verdict::DependsOnCaller) => {
                let trace = st.trace.push(Step::Release { func: self.func, loc, lock: key, kind });
                self.own_effect(st, EffectKind::Release { lock: key }, kind, loc, trace);
                st.touch(key, kind);
            }
            release_not_held::Released::Not(Verdict::Defect { kind, .. }) => {
                let trace = st.trace.push(Step::Release { func: self.func, loc, lock: key, kind });
                self.report(st, Check::ReleaseNotHeld, kind, Some(key), self.func, loc, trace, Vec::new());
            }
            release_not_held::Released::Not(Verdict::Fine) => {}
        }
        if self.nameable(key) && !st.is_touched(key) {
            st.touch(key, kind);
        }
    }

    pub fn forbidden(&mut self, st: &mut State, call: usize, loc: Option<LocId>) {
        let held: Vec<&Held> = st.held.iter().filter(|h| h.count.certainly_held()).collect();
        let verdict = call_while_held::check(&held, self.mode == Mode::Summary && !st.imprecise);
        match verdict {
            Verdict::Defect { kind, related } => {
                let lock = held.last().map(|h| h.key);
                let trace = st.trace.clone();
                self.report(st, Check::CallWhileHeld, kind, lock, self.func, loc, trace, related.into_iter().collect());
            }
            Verdict::DependsOnCaller => {
                let excluded = st.touched.iter().map(|(k, _)| *k).collect();
                let trace = st.trace.clone();
                self.own_effect(st, EffectKind::ForbiddenCall { call, excluded }, 0, loc, trace);
            }
            Verdict::Fine => {}
        }
    }

    // ----- calls -----

    /// `st`'s trace followed by the callee's `inner` trace: inside the call,
    /// or, when `returned`, through it.
    fn wrap(&self, st: &State, callee: FuncId, call: &CallSite, inner: &Trace, returned: bool) -> Trace {
        if call.top_level {
            return inner.steps().into_iter().fold(st.trace.clone(), |t, s| t.push(s));
        }
        st.trace.push(Step::Call { func: self.func, loc: call.loc, callee, inner: inner.clone(), returned })
    }

    fn compatible(requires: &Requires, call: &CallSite) -> bool {
        requires.iter().all(|(n, fact)| match call.arg_facts.get(*n as usize) {
            Some(known) => known.meet(*fact).is_some(),
            None => true,
        })
    }

    /// Applies `summary` of `callee` to the state before the call; returns
    /// the states after it, each with the index of the outcome it took.
    ///
    /// An effect the caller's state decides concerns only the callee's paths
    /// through it: a report mutes its rule, a deadlock ends the path, and an
    /// effect passed on to this function's callers is remembered, each on
    /// just the outcomes reached through that effect.
    pub fn apply_summary(
        &mut self,
        st: State,
        callee: FuncId,
        summary: &Summary,
        call: &CallSite,
    ) -> Vec<(State, usize)> {
        let mut consequences: Vec<(u32, Consequence)> = Vec::new();
        for (index, e) in summary.effects.iter().enumerate() {
            if !Self::compatible(&e.requires, call) {
                continue;
            }
            for consequence in self.apply_effect(&st, callee, e, call) {
                consequences.push((index as u32, consequence));
            }
        }
        for v in &summary.violations {
            if st.is_muted(v.rule) || st.imprecise {
                continue;
            }
            let through: Vec<&Consequence> =
                consequences.iter().filter(|(i, _)| v.effects.binary_search(i).is_ok()).map(|(_, c)| c).collect();
            if through
                .iter()
                .any(|c| matches!(c, Consequence::Deadlock) || matches!(c, Consequence::Mute(r) if *r == v.rule))
            {
                continue;
            }
            let mut v = v.clone();
            let mut effects = st.effects.clone();
            for c in through {
                if let Consequence::Effect(own) = c {
                    effects.push(*own);
                }
            }
            effects.sort_unstable();
            effects.dedup();
            v.effects = effects;
            v.trace = self.wrap(&st, callee, call, &v.trace, false);
            v.related = v.related.iter().map(|r| self.wrap(&st, callee, call, r, false)).collect();
            if let Some(lock) = v.lock {
                v.lock = self.map_key(callee, lock, call).or(Some(lock));
            }
            self.collected.add_violation(v);
        }
        let mut out = Vec::new();
        for (index, o) in summary.outcomes.iter().enumerate() {
            if !Self::compatible(&o.requires, call) {
                continue;
            }
            let through = |c: &&(u32, Consequence)| o.effects.binary_search(&c.0).is_ok();
            if consequences.iter().filter(through).any(|(_, c)| matches!(c, Consequence::Deadlock)) {
                continue;
            }
            let mut after = self.after_outcome(&st, callee, o, call);
            for (_, c) in consequences.iter().filter(through) {
                match c {
                    Consequence::Mute(rule) => after.mute(*rule),
                    Consequence::Effect(own) => {
                        after.add_effects(&[*own]);
                    }
                    Consequence::Deadlock => {}
                }
            }
            out.push((after, index));
        }
        out
    }

    /// What one of the callee's effects means at this call.
    fn apply_effect(&mut self, st: &State, callee: FuncId, e: &Effect, call: &CallSite) -> Vec<Consequence> {
        let mut out = Vec::new();
        let trace = self.wrap(st, callee, call, &e.trace, false);
        // Reports are made on a copy: the rule is muted only on the paths
        // through the effect (see `apply_summary`).
        let mut scratch = st.clone();
        match &e.effect {
            EffectKind::Acquire { lock, while_holding } => {
                let Some(m) = self.map_key(callee, *lock, call) else {
                    return out;
                };
                // Two of the callee's locks that are one lock here.
                let twice = while_holding.iter().find(|(other, _)| self.map_key(callee, *other, call) == Some(m));
                if let Some((_, first)) = twice
                    && !self.several(m)
                {
                    let first =
                        Trace::default().push(Step::Acquire { func: e.func, loc: *first, lock: m, kind: e.kind });
                    let related = vec![self.wrap(st, callee, call, &first, false)];
                    let check = Check::DoubleAcquire;
                    out.extend(
                        self.report(&mut scratch, check, e.kind, Some(*lock), e.func, e.site, trace, related)
                            .map(Consequence::Mute),
                    );
                    out.push(Consequence::Deadlock);
                    return out;
                }
                match double_acquire::check(&st.held, m, self.several(m), self.caller_may_hold(st, m)) {
                    Verdict::Defect { kind, related } => {
                        let related = related.into_iter().collect();
                        let check = Check::DoubleAcquire;
                        out.extend(
                            self.report(&mut scratch, check, kind, Some(*lock), e.func, e.site, trace, related)
                                .map(Consequence::Mute),
                        );
                        out.push(Consequence::Deadlock);
                    }
                    Verdict::DependsOnCaller => {
                        let while_holding = while_holding
                            .iter()
                            .filter_map(|(other, at)| self.map_key(callee, *other, call).map(|o| (o, *at)))
                            .collect();
                        let effect = EffectKind::Acquire { lock: m, while_holding };
                        out.extend(self.effect(st, effect, e.kind, e.func, e.site, trace).map(Consequence::Effect));
                    }
                    Verdict::Fine => {}
                }
            }
            EffectKind::Release { lock } => {
                let Some(m) = self.map_key(callee, *lock, call) else {
                    return out;
                };
                let caller_may_hold = self.caller_may_hold(st, m);
                let paths = &*self.paths;
                let held_match = match m {
                    LockKey::Handle(h) => st.held.iter().any(|x| x.handle == Some(h)),
                    _ => st.held.iter().any(|x| x.key == m || (x.kind == e.kind && may_alias(paths, x.key, m))),
                };
                if held_match || st.maybe_released.contains(&m) {
                    // Held here (or maybe released already through an alias).
                } else if caller_may_hold {
                    let effect = EffectKind::Release { lock: m };
                    out.extend(self.effect(st, effect, e.kind, e.func, e.site, trace).map(Consequence::Effect));
                } else {
                    let check = Check::ReleaseNotHeld;
                    out.extend(
                        self.report(&mut scratch, check, e.kind, Some(*lock), e.func, e.site, trace, Vec::new())
                            .map(Consequence::Mute),
                    );
                }
            }
            EffectKind::ForbiddenCall { call: forbidden, excluded } => {
                let excluded: Vec<LockKey> = excluded.iter().filter_map(|k| self.map_key(callee, *k, call)).collect();
                let held: Vec<&Held> = st
                    .held
                    .iter()
                    .filter(|h| {
                        h.count.certainly_held()
                            && !excluded
                                .iter()
                                .any(|x| *x == h.key || matches!(x, LockKey::Handle(p) if h.handle == Some(*p)))
                    })
                    .collect();
                match call_while_held::check(&held, self.mode == Mode::Summary && !st.imprecise) {
                    Verdict::Defect { kind, related } => {
                        let lock = held.last().map(|h| h.key);
                        let related = related.into_iter().collect();
                        let check = Check::CallWhileHeld;
                        out.extend(
                            self.report(&mut scratch, check, kind, lock, e.func, e.site, trace, related)
                                .map(Consequence::Mute),
                        );
                    }
                    Verdict::DependsOnCaller => {
                        let mut all = excluded;
                        all.extend(st.touched.iter().map(|(k, _)| *k));
                        all.sort();
                        all.dedup();
                        let effect = EffectKind::ForbiddenCall { call: *forbidden, excluded: all };
                        out.extend(self.effect(st, effect, e.kind, e.func, e.site, trace).map(Consequence::Effect));
                    }
                    Verdict::Fine => {}
                }
            }
        }
        out
    }

    fn after_outcome(&mut self, before: &State, callee: FuncId, o: &Outcome, call: &CallSite) -> State {
        let mut s = before.clone();
        for &(key, kind) in &o.released {
            let Some(m) = self.map_key(callee, key, call) else {
                continue;
            };
            let paths = &*self.paths;
            let same = match m {
                LockKey::Handle(h) => s.held.iter().rposition(|x| x.handle == Some(h)),
                _ => s.held.iter().rposition(|x| x.key == m),
            };
            let aliased = || s.held.iter().rposition(|x| x.kind == kind && may_alias(paths, x.key, m));
            let several = self.several(m);
            match (same, same.is_none().then(aliased).flatten()) {
                (Some(i), _) => match s.held[i].count.released_once(several) {
                    Some(count) => s.held[i].count = count,
                    None => {
                        s.held.remove(i);
                    }
                },
                (None, Some(i)) => {
                    let released = s.held.remove(i);
                    s.maybe_release(released.key);
                }
                (None, None) if self.caller_may_hold(&s, m) => s.touch(m, kind),
                (None, None) => {}
            }
        }
        for h in &o.held {
            let key = self.map_key(callee, h.key, call).unwrap_or_else(|| self.opaque.id(callee, h.key));
            let handle =
                if call.top_level { h.handle } else { h.handle.and_then(|p| self.paths.substitute(p, call.args)) };
            if s.holds(key) {
                continue;
            }
            if self.nameable(key) {
                s.touch_acquired(key, h.kind);
            }
            let acquired = self.wrap(before, callee, call, &h.acquired, true);
            s.add_held(Held { key, kind: h.kind, handle, acquired, count: h.count });
        }
        s.muted |= o.muted;
        s.imprecise |= o.imprecise;
        if let (Some(result), Some(ret)) = (call.result, o.ret) {
            s.facts.set(result, ret);
        }
        s.trace = self.wrap(before, callee, call, &o.trace, true);
        s
    }
}
