//! Function summaries: a function's effect on lock state in terms its callers
//! can map through their arguments.
//!
//! A summary is computed once per function, assuming nothing about what the
//! caller holds, and then applied at every call site (and, for a driver
//! routine, once at its entry with the state the OS calls it in):
//!
//! - **outcomes**: one per way of returning that differs in lock state: the
//!   locks the function leaves held, the caller-nameable locks it leaves
//!   free, what it returns, what it required of its parameters;
//! - **effects**: events whose verdict depends on the caller (an acquire that
//!   is a double acquire if the caller holds the lock, a release that is fine
//!   only if the caller holds it, a forbidden call that is a defect if the
//!   caller holds any lock the function did not release first);
//! - **defects**: violations found whatever the caller holds.

use std::hash::{Hash, Hasher};

use super::conditions::Fact;
use super::state::{Held, LockKey, Trace};
use crate::checks::Check;
use crate::facts::{FuncId, LocId};
use crate::rules::{KindId, RuleId};

/// A violation of a rule at one source location.
#[derive(Debug, Clone)]
pub struct Violation {
    pub rule: RuleId,
    pub check: Check,
    pub kind: KindId,
    /// The lock involved, in the terms of the function that found it.
    pub lock: Option<LockKey>,
    /// The function containing `site`.
    pub func: FuncId,
    /// The offending call (or, for held-at-exit, the return).
    pub site: Option<LocId>,
    /// The path from the analysed function's entry to `site`.
    pub trace: Trace,
    /// Acquisitions of the locks involved, for notes.
    pub related: Vec<Trace>,
    /// The effects earlier on its path (indices into the summary's): a
    /// caller for which one of them is a defect already reported, or a
    /// deadlock, does not report this one.
    pub effects: Vec<u32>,
}

/// Conditions on parameters an outcome or effect was found under.
pub type Requires = Vec<(u32, Fact)>;

#[derive(Debug, Clone)]
pub enum EffectKind {
    /// Acquires `lock`: a double acquire if the caller holds it, or if the
    /// caller names it like one of `while_holding` (locks this function
    /// holds at that point, with where it acquired them).
    Acquire { lock: LockKey, while_holding: Vec<(LockKey, Option<LocId>)> },
    /// Releases `lock`: a release of a lock not held unless the caller holds it.
    Release { lock: LockKey },
    /// Makes forbidden call `call`: a defect if the caller holds any lock
    /// other than `excluded` (locks this function released or re-acquired
    /// before the call).
    ForbiddenCall { call: usize, excluded: Vec<LockKey> },
}

#[derive(Debug, Clone)]
pub struct Effect {
    pub effect: EffectKind,
    pub kind: KindId,
    pub func: FuncId,
    pub site: Option<LocId>,
    pub trace: Trace,
    pub requires: Requires,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    /// Locks held at the return, in the function's terms.
    pub held: Vec<Held>,
    /// Caller-nameable locks the function left free (it released them, or
    /// acquired and released them), with their kinds.
    pub released: Vec<(LockKey, KindId)>,
    pub ret: Option<Fact>,
    pub requires: Requires,
    pub muted: u64,
    pub imprecise: bool,
    /// The `return` statement.
    pub exit: Option<LocId>,
    /// The effects (indices into `Summary::effects`) on the way to it.
    pub effects: Vec<u32>,
    pub trace: Trace,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
    pub effects: Vec<Effect>,
    pub violations: Vec<Violation>,
    /// Some state was merged past the bound while computing this summary.
    pub imprecise: bool,
}

impl Summary {
    /// A hash of everything but the traces: equal fingerprints mean a
    /// recursive summary has stopped changing.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for o in &self.outcomes {
            for held in &o.held {
                (held.key, held.kind, held.handle).hash(&mut h);
            }
            o.released.hash(&mut h);
            o.ret.hash(&mut h);
            o.requires.hash(&mut h);
            (o.muted, o.imprecise, o.exit).hash(&mut h);
        }
        for e in &self.effects {
            effect_key(e).hash(&mut h);
        }
        for v in &self.violations {
            (v.rule, v.func, v.site).hash(&mut h);
        }
        self.imprecise.hash(&mut h);
        h.finish()
    }
}

/// What makes two effects the same effect.
pub type EffectKey = (u8, Vec<LockKey>, usize, FuncId, Option<LocId>, Requires);

pub fn effect_key(e: &Effect) -> EffectKey {
    match &e.effect {
        EffectKind::Acquire { lock, while_holding } => {
            let mut keys = vec![*lock];
            keys.extend(while_holding.iter().map(|(k, _)| *k));
            (0, keys, 0, e.func, e.site, e.requires.clone())
        }
        EffectKind::Release { lock } => (1, vec![*lock], 0, e.func, e.site, e.requires.clone()),
        EffectKind::ForbiddenCall { call, excluded } => {
            (2, excluded.clone(), *call, e.func, e.site, e.requires.clone())
        }
    }
}
