//! `double_acquire`: a lock acquired while the path already holds it.
//!
//! ## What it finds
//! KeAcquireSpinLock, KeAcquireInStackQueuedSpinLock, IoAcquireCancelSpinLock,
//! WdfSpinLockAcquire, ... on a lock that the same path holds: the same lock
//! object (must-equal access paths, never a may-alias guess), or the one
//! global cancel spin lock. Acquiring it in a helper while the caller holds it
//! counts too. A lock picked from an array by a variable index may be a
//! different element each time, so it is never reported here.
//!
//! ## Why it matters
//! Spin locks are not recursive. The second acquire spins on a lock its own
//! processor holds, forever, at DISPATCH_LEVEL: the machine hangs or bug-checks
//! with DPC_WATCHDOG_VIOLATION (0x133). The path ends there: lockcheck reports
//! nothing after it.
//!
//! ## Example
//! ```c
//! KeAcquireSpinLock(&ext->Lock, &irql);
//! if (ext->Busy)
//!     KeAcquireSpinLock(&ext->Lock, &irql2);   // double acquire
//! ```

use super::Verdict;
use crate::dataflow::{Held, LockKey};

pub const SUMMARY: &str = "a lock is acquired while the path already holds it";

/// `held`: the locks the path holds. `several`: the lock is an array element
/// chosen by a variable index. `caller_may_hold`: the lock is nameable by
/// callers and its state at entry is still unknown on this path.
pub fn check(held: &[Held], lock: LockKey, several: bool, caller_may_hold: bool) -> Verdict {
    if let Some(h) = held.iter().find(|h| h.key == lock) {
        // Elements of an array may differ; a maybe-held lock may be free.
        if several || !h.count.certainly_held() {
            return Verdict::Fine;
        }
        return Verdict::Defect { kind: h.kind, related: Some(h.acquired.clone()) };
    }
    if caller_may_hold && !several { Verdict::DependsOnCaller } else { Verdict::Fine }
}
