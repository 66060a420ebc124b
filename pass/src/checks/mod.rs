//! The checks: the defects lockcheck knows how to find, one module each.
//!
//! A check is pure semantics: given the locks a path holds at an event, it
//! says whether the event is a defect, fine, or a defect only if the caller
//! holds (or does not hold) some lock, in which case the decision moves to
//! each call site (see `dataflow::summary`). Which rule reports a defect is
//! decided by the rule pack (`RulePack::owner`), not here.

pub mod call_while_held;
pub mod double_acquire;
pub mod held_at_exit;
pub mod release_not_held;

use serde::{Deserialize, Serialize};

use crate::dataflow::Trace;
use crate::rules::KindId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    DoubleAcquire,
    ReleaseNotHeld,
    HeldAtExit,
    CallWhileHeld,
    /// Not a defect: a `lockcheck-ignore` comment that silenced nothing
    /// (`suppress`). No rule of a rule pack can name it.
    #[serde(skip_deserializing)]
    UnusedIgnore,
}

impl Check {
    pub const ALL: [Check; 4] = [Check::DoubleAcquire, Check::ReleaseNotHeld, Check::HeldAtExit, Check::CallWhileHeld];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::DoubleAcquire => "double_acquire",
            Check::ReleaseNotHeld => "release_not_held",
            Check::HeldAtExit => "held_at_exit",
            Check::CallWhileHeld => "call_while_held",
            Check::UnusedIgnore => "unused_ignore",
        }
    }

    /// One line for `lockcheck rules`: what the check finds.
    pub fn summary(self) -> &'static str {
        match self {
            Check::DoubleAcquire => double_acquire::SUMMARY,
            Check::ReleaseNotHeld => release_not_held::SUMMARY,
            Check::HeldAtExit => held_at_exit::SUMMARY,
            Check::CallWhileHeld => call_while_held::SUMMARY,
            Check::UnusedIgnore => "a lockcheck-ignore comment that silenced nothing",
        }
    }
}

/// What a check says about one event on one path.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Not a defect.
    Fine,
    /// A defect, whatever the caller holds. `related` is the acquisition of
    /// the lock involved, for the note.
    Defect { kind: KindId, related: Option<Trace> },
    /// A defect only in some calling contexts: the caller decides.
    DependsOnCaller,
}
