//! The WDM declarations the driver uses (what wdk-sys generates from the
//! WDK headers): exported kernel functions and x64 struct layouts.
#![allow(non_camel_case_types, dead_code)]

pub type KSPIN_LOCK = usize;
pub type KIRQL = u8;
pub type NTSTATUS = i32;
pub type PVOID = *mut core::ffi::c_void;

pub const STATUS_SUCCESS: NTSTATUS = 0;
pub const STATUS_PENDING: NTSTATUS = 0x0000_0103;
pub const STATUS_CANCELLED: NTSTATUS = 0xC000_0120_u32 as i32;
pub const STATUS_INSUFFICIENT_RESOURCES: NTSTATUS = 0xC000_009A_u32 as i32;
pub const IO_NO_INCREMENT: i8 = 0;
pub const IRP_MJ_READ: usize = 3;
pub const IRP_MJ_CLEANUP: usize = 18;

#[repr(C)]
pub struct IO_STATUS_BLOCK {
    pub Status: NTSTATUS,
    pub Information: usize,
}

#[repr(C)]
pub struct IRP {
    pub Type: i16,
    pub Size: u16,
    pub MdlAddress: PVOID,
    pub Flags: u32,
    pub AssociatedIrp: PVOID,
    pub ThreadListEntry: [PVOID; 2],
    pub IoStatus: IO_STATUS_BLOCK,
}

#[repr(C)]
pub struct DEVICE_OBJECT {
    pub _Header: [u8; 64],
    pub DeviceExtension: PVOID,
}

pub type DRIVER_DISPATCH = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP) -> NTSTATUS;

#[repr(C)]
pub struct DRIVER_OBJECT {
    pub _Header: [u8; 112],
    pub MajorFunction: [Option<DRIVER_DISPATCH>; 28],
}

unsafe extern "system" {
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: *mut KSPIN_LOCK) -> KIRQL;
    pub fn KeReleaseSpinLock(SpinLock: *mut KSPIN_LOCK, NewIrql: KIRQL);
    pub fn IofCompleteRequest(Irp: *mut IRP, PriorityBoost: i8);
}
