//! `release_not_held`: a lock released while the path does not hold it.
//!
//! ## What it finds
//! KeReleaseSpinLock, KeReleaseInStackQueuedSpinLock (by handle),
//! IoReleaseCancelSpinLock, WdfSpinLockRelease, ... when the path holds no
//! lock the release can mean: not the same lock, and not one it may alias (a
//! release through a pointer that may point to a held lock is taken to
//! release it, so two parameters that may alias never cause a report). A
//! second release of the cancel spin lock in a cancel routine is one too.
//!
//! ## Why it matters
//! The release restores an IRQL saved by an acquire that never happened (or
//! was already undone): the processor drops to a stale IRQL while another
//! processor may own the lock, which corrupts it. Driver Verifier bug-checks
//! with 0xC4 (DRIVER_VERIFIER_DETECTED_VIOLATION).
//!
//! ## Example
//! ```c
//! VOID CancelRoutine(PDEVICE_OBJECT Dev, PIRP Irp) {
//!     IoReleaseCancelSpinLock(Irp->CancelIrql);
//!     ...
//!     IoReleaseCancelSpinLock(Irp->CancelIrql);   // released twice
//! }
//! ```

use super::Verdict;
use crate::dataflow::{Held, LockKey};
use crate::rules::KindId;

pub const SUMMARY: &str = "a lock is released while the path does not hold it";

/// Which held lock a release releases, if any.
pub enum Released {
    /// The held lock at this index: the same lock.
    Held(usize),
    /// The held lock at this index, which the released pointer may point to:
    /// taken to be released, but not for certain.
    MaybeHeld(usize),
    Not(Verdict),
}

/// `matches(h)`: whether held lock `h` is the released one (same lock, or a
/// may-alias of it: the release is taken to release it).
pub fn check(
    held: &[Held],
    lock: LockKey,
    kind: KindId,
    may_alias: impl Fn(&Held) -> bool,
    caller_may_hold: bool,
) -> Released {
    if let Some(i) = held.iter().rposition(|h| h.key == lock) {
        return Released::Held(i);
    }
    if let Some(i) = held.iter().rposition(|h| h.kind == kind && may_alias(h)) {
        return Released::MaybeHeld(i);
    }
    if caller_may_hold {
        return Released::Not(Verdict::DependsOnCaller);
    }
    Released::Not(Verdict::Defect { kind, related: None })
}
