//! Lock state along one (set of) path(s), and the trace that witnesses it.

use std::rc::Rc;

use super::conditions::Facts;
use crate::facts::{FuncId, LocId, PathId, ValueId};
use crate::rules::KindId;

/// The identity of a lock in one function's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockKey {
    /// A lock object, by the access path of its address.
    Path(PathId),
    /// The one lock of a global kind (the cancel spin lock).
    Global(KindId),
    /// A lock known only by the handle it was acquired with (an in-stack
    /// queued lock released through a handle a caller filled in).
    Handle(PathId),
    /// A lock a callee acquired through a pointer the caller cannot name.
    Opaque(u32),
}

/// A lock the path holds.
#[derive(Debug, Clone)]
pub struct Held {
    pub key: LockKey,
    pub kind: KindId,
    /// The handle it was acquired with (in-stack queued and Storport locks).
    pub handle: Option<PathId>,
    /// The path to the acquisition (its last step is the acquire).
    pub acquired: Trace,
    /// How many times it is held: always one, except for a lock that may be
    /// several (`Locks[i]`), where each element taken counts.
    pub count: Count,
}

/// How many times a lock is held. A single lock is held once or maybe
/// (`Unknown`: held on only some of the paths a merge folded together). A
/// lock that may be several locks (an array element picked by a variable
/// index) counts acquisitions exactly up to a few, then only knows "at least
/// one", and after releasing from there, unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Count {
    Exact(u8),
    /// At least one.
    Many,
    /// Maybe none: nothing may be reported from it.
    Unknown,
}

impl Count {
    const COUNTED: u8 = 4;

    pub fn one() -> Count {
        Count::Exact(1)
    }

    /// After acquiring a lock held this many times: a single lock (only
    /// maybe held, or a double acquire would have ended the path) is held
    /// once; an array of locks holds one more element.
    pub fn acquired_again(self, several: bool) -> Count {
        match self {
            _ if !several => Count::one(),
            Count::Exact(n) if n < Count::COUNTED => Count::Exact(n + 1),
            _ => Count::Many,
        }
    }

    /// After one release: `None` when nothing is held any more (always, for
    /// a single lock).
    pub fn released_once(self, several: bool) -> Option<Count> {
        match self {
            _ if !several => None,
            Count::Exact(n) if n > 1 => Some(Count::Exact(n - 1)),
            Count::Exact(_) => None,
            Count::Many | Count::Unknown => Some(Count::Unknown),
        }
    }

    /// Held for sure (reportable at a routine's exit).
    pub fn certainly_held(self) -> bool {
        !matches!(self, Count::Unknown)
    }
}

/// One step of a witness path, for the notes of a report.
#[derive(Debug, Clone)]
pub enum Step {
    Acquire {
        func: FuncId,
        loc: Option<LocId>,
        lock: LockKey,
        kind: KindId,
    },
    Release {
        func: FuncId,
        loc: Option<LocId>,
        lock: LockKey,
        kind: KindId,
    },
    /// A branch decided by assumption (both sides were possible); `to` is
    /// where the path goes.
    Branch {
        func: FuncId,
        loc: Option<LocId>,
        taken: Taken,
        to: Option<LocId>,
    },
    /// A call; `inner` is the path inside the callee that matters.
    /// `returned`: the path went on after the call (else the event the
    /// trace leads to is inside it).
    Call {
        func: FuncId,
        loc: Option<LocId>,
        callee: FuncId,
        inner: Trace,
        returned: bool,
    },
    /// Entry of a routine that starts holding a lock (a cancel routine).
    EntryHolding {
        func: FuncId,
        kind: KindId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    True,
    False,
    Case(i64),
    Default,
}

/// A persistent list of steps, newest last; sharing makes extending O(1).
#[derive(Debug, Clone, Default)]
pub struct Trace(Option<Rc<TraceNode>>);

#[derive(Debug)]
struct TraceNode {
    step: Step,
    prev: Trace,
    len: u32,
}

/// Steps kept per trace (at least; up to twice as many): enough for any note
/// a user reads; older steps of very long paths are dropped (the newest
/// matter most).
const MAX_TRACE: u32 = 256;

impl Trace {
    pub fn push(&self, step: Step) -> Trace {
        let len = self.len() + 1;
        if len > 2 * MAX_TRACE {
            // Keep the newest steps: rebuild from the last MAX_TRACE (once
            // every MAX_TRACE pushes, so pushing stays cheap).
            let mut steps = self.steps();
            steps.drain(..steps.len() + 1 - MAX_TRACE as usize);
            steps.push(step);
            return Trace::from_steps(steps);
        }
        Trace(Some(Rc::new(TraceNode { step, prev: self.clone(), len })))
    }

    fn from_steps(steps: Vec<Step>) -> Trace {
        steps
            .into_iter()
            .fold(Trace::default(), |t, s| Trace(Some(Rc::new(TraceNode { len: t.len() + 1, step: s, prev: t }))))
    }

    pub fn len(&self) -> u32 {
        self.0.as_ref().map(|n| n.len).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The steps, oldest first.
    pub fn steps(&self) -> Vec<Step> {
        self.step_refs().into_iter().cloned().collect()
    }

    /// The steps, newest first, borrowed from the trace.
    pub fn newest_first(&self) -> impl Iterator<Item = &Step> {
        std::iter::successors(self.0.as_deref(), |node| node.prev.0.as_deref()).map(|node| &node.step)
    }

    /// The steps, oldest first, borrowed from the trace.
    pub fn step_refs(&self) -> Vec<&Step> {
        let mut out = Vec::with_capacity(self.len() as usize);
        let mut current = self.0.as_ref();
        while let Some(node) = current {
            out.push(&node.step);
            current = node.prev.0.as_ref();
        }
        out.reverse();
        out
    }

    pub fn last(&self) -> Option<&Step> {
        self.0.as_ref().map(|n| &n.step)
    }
}

/// The abstract state of a set of paths that agree on the lock state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Locks held, sorted by key.
    pub held: Vec<Held>,
    /// Locks a caller could name whose state this path has determined (by
    /// acquiring or releasing them), with their kinds: their state at entry
    /// no longer matters. Sorted.
    pub touched: Vec<(LockKey, KindId)>,
    /// The touched locks this path acquired before releasing them, sorted:
    /// not held at the exit, they were not released for a caller (a
    /// balanced acquire and release leaves the caller's locks alone).
    pub acquired_first: Vec<LockKey>,
    /// Facts about tracked values along these paths.
    pub facts: Facts,
    /// Locks a release through a may-alias pointer was taken to release: a
    /// later release of them is not reported (it would rest on a guess).
    pub maybe_released: Vec<LockKey>,
    /// Rules that already reported on these paths (no follow-on reports).
    pub muted: u64,
    /// The path went where merged facts could not tell (a branch on a
    /// blurred value): nothing is reported from it.
    pub imprecise: bool,
    /// Values whose facts a merge past the per-point bound weakened, sorted.
    /// Locks held on some of the merged paths only are kept as maybe-held
    /// (`Count::Unknown`); a branch that reads a blurred value and is not
    /// decided makes the paths after it imprecise.
    pub blurred: Vec<ValueId>,
    /// The function's effects (indices into its summary's) these paths went
    /// through, sorted: a caller that reports one mutes the rule for them.
    pub effects: Vec<u32>,
    /// One witness path.
    pub trace: Trace,
}

/// The part of a state that keeps paths apart: states with equal keys merge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey {
    held: Vec<(LockKey, KindId, Option<PathId>, Count)>,
    touched: Vec<(LockKey, KindId)>,
    acquired_first: Vec<LockKey>,
    maybe_released: Vec<LockKey>,
    muted: u64,
    imprecise: bool,
    blurred: Vec<ValueId>,
}

impl State {
    pub fn key(&self) -> StateKey {
        StateKey {
            held: self.held.iter().map(|h| (h.key, h.kind, h.handle, h.count)).collect(),
            touched: self.touched.clone(),
            acquired_first: self.acquired_first.clone(),
            maybe_released: self.maybe_released.clone(),
            muted: self.muted,
            imprecise: self.imprecise,
            blurred: self.blurred.clone(),
        }
    }

    pub fn holds(&self, key: LockKey) -> bool {
        self.held.iter().any(|h| h.key == key)
    }

    pub fn add_held(&mut self, held: Held) {
        if self.holds(held.key) {
            return;
        }
        let at = self.held.partition_point(|h| h.key < held.key);
        self.held.insert(at, held);
    }

    pub fn touch(&mut self, key: LockKey, kind: KindId) {
        if let Err(at) = self.touched.binary_search_by_key(&key, |(k, _)| *k) {
            self.touched.insert(at, (key, kind));
        }
    }

    /// Touches a lock by acquiring it: when it is the path's first touch,
    /// the lock's state at entry is not what its release later changes.
    pub fn touch_acquired(&mut self, key: LockKey, kind: KindId) {
        if self.is_touched(key) {
            return;
        }
        self.touch(key, kind);
        if let Err(at) = self.acquired_first.binary_search(&key) {
            self.acquired_first.insert(at, key);
        }
    }

    /// Locks the path released that it did not acquire first (held at
    /// entry, or by a caller), with their kinds.
    pub fn released_for_caller(&self) -> Vec<(LockKey, KindId)> {
        self.touched
            .iter()
            .filter(|(k, _)| !self.holds(*k) && self.acquired_first.binary_search(k).is_err())
            .copied()
            .collect()
    }

    /// A held lock was removed by a release that may not have been its.
    pub fn maybe_release(&mut self, key: LockKey) {
        if let Err(at) = self.maybe_released.binary_search(&key) {
            self.maybe_released.insert(at, key);
        }
    }

    /// Whether a lock may already have been released (and so a release of it
    /// must not be reported); forgets it.
    pub fn take_maybe_released(&mut self, key: LockKey) -> bool {
        match self.maybe_released.binary_search(&key) {
            Ok(at) => {
                self.maybe_released.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn is_touched(&self, key: LockKey) -> bool {
        self.touched.binary_search_by_key(&key, |(k, _)| *k).is_ok()
    }

    /// Adds effects these paths went through; returns whether any was new.
    pub fn add_effects(&mut self, effects: &[u32]) -> bool {
        let mut changed = false;
        for &e in effects {
            if let Err(at) = self.effects.binary_search(&e) {
                self.effects.insert(at, e);
                changed = true;
            }
        }
        changed
    }

    pub fn is_muted(&self, rule: usize) -> bool {
        rule < 64 && self.muted & (1 << rule) != 0
    }

    pub fn mute(&mut self, rule: usize) {
        if rule < 64 {
            self.muted |= 1 << rule;
        }
    }
}
