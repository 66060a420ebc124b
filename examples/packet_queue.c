/*
 * packet_queue: a small WDM driver that queues write requests and hands them
 * to readers, with statistics behind a second lock.
 *
 * It has one real spin-lock bug for lockcheck to find: the statistics IOCTL
 * returns early with StatsLock held when the caller's buffer is too small.
 * Everything else is correct, including the nesting of two distinct locks in
 * DispatchWrite (the pattern Static Driver Verifier reports falsely) and the
 * cancel routine, which the I/O manager enters holding the cancel spin lock.
 *
 *   lockcheck check examples/packet_queue.c
 */
#include <ntddk.h>

#define IOCTL_PACKET_GET_STATS CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900, METHOD_BUFFERED, FILE_READ_ACCESS)
#define IOCTL_PACKET_RESET     CTL_CODE(FILE_DEVICE_UNKNOWN, 0x901, METHOD_BUFFERED, FILE_WRITE_ACCESS)

typedef struct _PACKET_STATS {
    ULONG Queued;
    ULONG Delivered;
    ULONG Dropped;
} PACKET_STATS, *PPACKET_STATS;

typedef struct _DEVICE_EXTENSION {
    KSPIN_LOCK QueueLock;      /* protects Queue and Depth */
    KSPIN_LOCK StatsLock;      /* protects Stats */
    LIST_ENTRY Queue;
    ULONG Depth;
    ULONG MaxDepth;
    PACKET_STATS Stats;
} DEVICE_EXTENSION, *PDEVICE_EXTENSION;

static PDEVICE_OBJECT g_Device;

static NTSTATUS CompleteIrp(PIRP Irp, NTSTATUS Status, ULONG_PTR Information)
{
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return Status;
}

NTSTATUS DispatchCreateClose(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    UNREFERENCED_PARAMETER(DeviceObject);
    return CompleteIrp(Irp, STATUS_SUCCESS, 0);
}

/* Cancel routine: entered with the cancel spin lock held. */
VOID CancelQueuedWrite(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KLOCK_QUEUE_HANDLE queue;

    IoReleaseCancelSpinLock(Irp->CancelIrql);

    KeAcquireInStackQueuedSpinLock(&ext->QueueLock, &queue);
    RemoveEntryList(&Irp->Tail.Overlay.ListEntry);
    ext->Depth--;
    KeReleaseInStackQueuedSpinLock(&queue);

    CompleteIrp(Irp, STATUS_CANCELLED, 0);
}

NTSTATUS DispatchWrite(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KIRQL irql;

    KeAcquireSpinLock(&ext->QueueLock, &irql);
    if (ext->Depth >= ext->MaxDepth) {
        KeAcquireSpinLockAtDpcLevel(&ext->StatsLock);
        ext->Stats.Dropped++;
        KeReleaseSpinLockFromDpcLevel(&ext->StatsLock);
        KeReleaseSpinLock(&ext->QueueLock, irql);
        return CompleteIrp(Irp, STATUS_DEVICE_BUSY, 0);
    }
    IoSetCancelRoutine(Irp, CancelQueuedWrite);
    IoMarkIrpPending(Irp);
    InsertTailList(&ext->Queue, &Irp->Tail.Overlay.ListEntry);
    ext->Depth++;
    KeAcquireSpinLockAtDpcLevel(&ext->StatsLock);
    ext->Stats.Queued++;
    KeReleaseSpinLockFromDpcLevel(&ext->StatsLock);
    KeReleaseSpinLock(&ext->QueueLock, irql);
    return STATUS_PENDING;
}

NTSTATUS DispatchRead(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    KLOCK_QUEUE_HANDLE queue;
    PIRP write = NULL;

    KeAcquireInStackQueuedSpinLock(&ext->QueueLock, &queue);
    if (!IsListEmpty(&ext->Queue)) {
        PLIST_ENTRY entry = RemoveHeadList(&ext->Queue);
        write = CONTAINING_RECORD(entry, IRP, Tail.Overlay.ListEntry);
        ext->Depth--;
    }
    KeReleaseInStackQueuedSpinLock(&queue);

    if (write == NULL) {
        return CompleteIrp(Irp, STATUS_NO_MORE_ENTRIES, 0);
    }
    if (IoSetCancelRoutine(write, NULL) == NULL) {
        /* The cancel routine owns it now. */
        return CompleteIrp(Irp, STATUS_RETRY, 0);
    }
    CompleteIrp(write, STATUS_SUCCESS, 0);
    return CompleteIrp(Irp, STATUS_SUCCESS, 0);
}

NTSTATUS DispatchDeviceControl(PDEVICE_OBJECT DeviceObject, PIRP Irp)
{
    PDEVICE_EXTENSION ext = (PDEVICE_EXTENSION)DeviceObject->DeviceExtension;
    PIO_STACK_LOCATION stack = IoGetCurrentIrpStackLocation(Irp);
    ULONG outputLength = stack->Parameters.DeviceIoControl.OutputBufferLength;
    KIRQL irql;

    switch (stack->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_PACKET_GET_STATS:
        KeAcquireSpinLock(&ext->StatsLock, &irql);
        if (outputLength < sizeof(PACKET_STATS)) {
            Irp->IoStatus.Status = STATUS_BUFFER_TOO_SMALL;
            return STATUS_BUFFER_TOO_SMALL;   /* BUG: StatsLock still held */
        }
        RtlCopyMemory(Irp->AssociatedIrp.SystemBuffer, &ext->Stats, sizeof(PACKET_STATS));
        KeReleaseSpinLock(&ext->StatsLock, irql);
        return CompleteIrp(Irp, STATUS_SUCCESS, sizeof(PACKET_STATS));

    case IOCTL_PACKET_RESET:
        KeAcquireSpinLock(&ext->StatsLock, &irql);
        RtlZeroMemory(&ext->Stats, sizeof(PACKET_STATS));
        KeReleaseSpinLock(&ext->StatsLock, irql);
        return CompleteIrp(Irp, STATUS_SUCCESS, 0);

    default:
        return CompleteIrp(Irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}

VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    if (g_Device != NULL) {
        IoDeleteDevice(g_Device);
    }
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNICODE_STRING name;
    PDEVICE_EXTENSION ext;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    RtlInitUnicodeString(&name, L"\\Device\\PacketQueue");
    status = IoCreateDevice(DriverObject, sizeof(DEVICE_EXTENSION), &name, FILE_DEVICE_UNKNOWN, 0, FALSE, &g_Device);
    if (!NT_SUCCESS(status)) {
        return status;
    }
    ext = (PDEVICE_EXTENSION)g_Device->DeviceExtension;
    KeInitializeSpinLock(&ext->QueueLock);
    KeInitializeSpinLock(&ext->StatsLock);
    InitializeListHead(&ext->Queue);
    ext->Depth = 0;
    ext->MaxDepth = 64;
    RtlZeroMemory(&ext->Stats, sizeof(PACKET_STATS));

    DriverObject->MajorFunction[IRP_MJ_CREATE] = DispatchCreateClose;
    DriverObject->MajorFunction[IRP_MJ_CLOSE] = DispatchCreateClose;
    DriverObject->MajorFunction[IRP_MJ_READ] = DispatchRead;
    DriverObject->MajorFunction[IRP_MJ_WRITE] = DispatchWrite;
    DriverObject->MajorFunction[IRP_MJ_DEVICE_CONTROL] = DispatchDeviceControl;
    DriverObject->DriverUnload = DriverUnload;
    return STATUS_SUCCESS;
}
