//! `call_while_held`: a forbidden call (IoCompleteRequest, IoStartNextPacket,
//! WdfRequestComplete, ...) made while any spin lock is held.
//!
//! ## What it finds
//! A call listed under `forbidden_calls` in rules.yaml while the path holds a
//! spin lock, an in-stack queued spin lock, a WDF spin lock or the cancel
//! spin lock: in the routine itself, or in a helper it calls with the lock
//! held ("may complete the IRP" is followed through every call level).
//!
//! ## Why it matters
//! IoCompleteRequest runs the completion routines of the drivers above at the
//! current IRQL; IoStartNextPacket runs StartIo. With a spin lock held they
//! run at DISPATCH_LEVEL and may take the same lock (deadlock), wait, or touch
//! paged memory (bug check 0xA IRQL_NOT_LESS_OR_EQUAL).
//!
//! ## Example
//! ```c
//! KeAcquireSpinLock(&ext->QueueLock, &irql);
//! IoCompleteRequest(irp, IO_NO_INCREMENT);   // completed under the lock
//! KeReleaseSpinLock(&ext->QueueLock, irql);
//! ```

use super::Verdict;
use crate::dataflow::Held;

pub const SUMMARY: &str = "a call that must not run under a spin lock is made while one is held";

/// `held`: the locks the path holds that the call is made under.
/// `caller_may_hold`: the caller may hold locks this path knows nothing of.
pub fn check(held: &[&Held], caller_may_hold: bool) -> Verdict {
    if let Some(h) = held.last() {
        return Verdict::Defect { kind: h.kind, related: Some(h.acquired.clone()) };
    }
    if caller_may_hold { Verdict::DependsOnCaller } else { Verdict::Fine }
}
