//! `held_at_exit`: a driver routine returns while a lock is held.
//!
//! ## What it finds
//! A path through a driver routine (DriverEntry, a dispatch routine, StartIo,
//! a cancel routine, a DPC, a KMDF callback, a function named with --entry)
//! that reaches a `return` with a lock still held, whether the routine or a
//! helper it called acquired it. Reported at the `return` statement the path
//! takes. A cancel routine is entered holding the cancel spin lock, so one
//! that never releases it is reported too. Helpers are never reported for
//! returning with a lock held: their callers may release it.
//!
//! ## Why it matters
//! The operating system calls the next routine assuming IRQL is back where it
//! was and the lock is free. The processor stays at DISPATCH_LEVEL (the next
//! pageable access bug-checks, 0xA) and the next acquire of the lock, on any
//! processor, spins forever.
//!
//! ## Example
//! ```c
//! NTSTATUS DispatchRead(PDEVICE_OBJECT Dev, PIRP Irp) {
//!     KeAcquireSpinLock(&ext->Lock, &irql);
//!     if (!ext->Ready)
//!         return STATUS_DEVICE_NOT_READY;   // returns holding &ext->Lock
//!     KeReleaseSpinLock(&ext->Lock, irql);
//!     ...
//! }
//! ```

use crate::dataflow::Held;

pub const SUMMARY: &str = "a driver routine returns while a lock is held";

/// The locks a routine's path still holds at its return: each is a defect.
pub fn check(held_at_return: &[Held]) -> impl Iterator<Item = &Held> {
    held_at_return.iter()
}
