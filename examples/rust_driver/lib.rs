//! rust_driver: a small WDM driver in Rust that keeps a ring of pending
//! read requests behind a spin lock, taken through a RAII guard.
//!
//! It has one real spin-lock bug for lockcheck to find: `complete_all`
//! completes requests while its guard is still alive (IoCompleteRequest at
//! DISPATCH_LEVEL with the queue lock held). Everything else is correct,
//! including the early returns through `?`, where the guard's Drop releases
//! the lock.
//!
//!   lockcheck check examples/rust_driver/lib.rs
#![no_std]
#![allow(non_snake_case, clippy::missing_safety_doc)]

mod wdm;

use wdm::*;

/// A spin lock that is released when its guard is dropped.
pub struct SpinLock {
    raw: KSPIN_LOCK,
}

pub struct SpinLockGuard<'a> {
    lock: &'a SpinLock,
    old_irql: KIRQL,
}

impl SpinLock {
    pub fn lock(&self) -> SpinLockGuard<'_> {
        let old_irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.as_ptr()) };
        SpinLockGuard { lock: self, old_irql }
    }

    fn as_ptr(&self) -> *mut KSPIN_LOCK {
        &self.raw as *const KSPIN_LOCK as *mut KSPIN_LOCK
    }
}

impl Drop for SpinLockGuard<'_> {
    fn drop(&mut self) {
        unsafe { KeReleaseSpinLock(self.lock.as_ptr(), self.old_irql) };
    }
}

pub mod queue {
    use super::SpinLock;
    use crate::wdm::*;

    pub const CAPACITY: usize = 16;

    pub struct ReadQueue {
        pub lock: SpinLock,
        pub pending: [*mut IRP; CAPACITY],
        pub len: usize,
    }

    impl ReadQueue {
        /// Queues a read; fails when the ring is full.
        pub fn push(&mut self, irp: *mut IRP) -> Result<(), NTSTATUS> {
            let _guard = self.lock.lock();
            let slot = self.pending.get_mut(self.len).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
            *slot = irp;
            self.len += 1;
            Ok(())
        }

        /// Completes every queued read (on cleanup).
        pub fn complete_all(&mut self, status: NTSTATUS) {
            let _guard = self.lock.lock();
            while self.len > 0 {
                self.len -= 1;
                let irp = self.pending[self.len];
                unsafe {
                    (*irp).IoStatus.Status = status;
                    // BUG: completes the request at DISPATCH_LEVEL with the
                    // queue lock held; take the IRPs out first, then drop
                    // the guard, then complete them.
                    IofCompleteRequest(irp, IO_NO_INCREMENT);
                }
            }
        }
    }
}

use queue::ReadQueue;

fn extension(device: *mut DEVICE_OBJECT) -> &'static mut ReadQueue {
    unsafe { &mut *((*device).DeviceExtension as *mut ReadQueue) }
}

unsafe extern "system" fn dispatch_read(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    match extension(device).push(irp) {
        Ok(()) => STATUS_PENDING,
        Err(status) => {
            unsafe {
                (*irp).IoStatus.Status = status;
                IofCompleteRequest(irp, IO_NO_INCREMENT);
            }
            status
        }
    }
}

unsafe extern "system" fn dispatch_cleanup(device: *mut DEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    extension(device).complete_all(STATUS_CANCELLED);
    unsafe {
        (*irp).IoStatus.Status = STATUS_SUCCESS;
        IofCompleteRequest(irp, IO_NO_INCREMENT);
    }
    STATUS_SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "system" fn DriverEntry(driver: *mut DRIVER_OBJECT, _registry_path: PVOID) -> NTSTATUS {
    unsafe {
        (*driver).MajorFunction[IRP_MJ_READ] = Some(dispatch_read);
        (*driver).MajorFunction[IRP_MJ_CLEANUP] = Some(dispatch_cleanup);
    }
    STATUS_SUCCESS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
