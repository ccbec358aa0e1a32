/* virtio-mmio transport, modern register layout (version 2, virtio 1.x
 * section 4.2), as driven by Linux's virtio_mmio driver.
 *
 * One transport instance per device: it owns the register file, the
 * device's split virtqueues, one eventfd per queue (KVM_IOEVENTFD on
 * QueueNotify with datamatch = queue index, serviced by the event loop)
 * and one eventfd for the interrupt (KVM_IRQFD).
 *
 * Threads and locking: register accesses arrive on any vCPU thread,
 * queue notifications on the event-loop thread. One recursive mutex per
 * transport protects the register file, the virtqueues and the interrupt
 * status, and is held around every call into the device's ops. Device ops
 * therefore never run concurrently with each other for one device, and may
 * call back into the transport (virtio_mmio_notify_used() and friends take
 * the same lock recursively). A device with state touched from other
 * threads (e.g. the balloon target set by the monitor) should guard it
 * with virtio_mmio_lock()/unlock() rather than a lock of its own, so there
 * is a single lock order.
 *
 * Interrupts: KVM_IRQFD without a resample fd pulses the GSI, so the guest
 * must see the line as edge-triggered (ISA IRQs 5..15 are edge/active-high
 * by default; GSIs >= 16 must be declared edge in the MP table/DTB). Every
 * event pulses the line; the guest's handler reads InterruptStatus, ACKs
 * what it read and then scans the rings, so an event arriving between its
 * read and ACK is not lost (its ring update precedes the pulse). */
#ifndef MEMVM_VIRTIO_MMIO_H
#define MEMVM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/virtq.h"
#include "memory/guest_mem.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/util.h"

/* Register offsets (virtio 1.x, 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC      0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION_2  2u
#define VIRTIO_MMIO_VENDOR     0x4d564d4du /* "MMVM" read little-endian */
#define VIRTIO_MMIO_WINDOW     0x1000u     /* bytes of MMIO per device */
#define VIRTIO_MMIO_CONFIG_MAX (VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG)
#define VIRTIO_MMIO_MAX_QUEUES 64u

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING  1u /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG 2u /* configuration change */

/* Device status bits (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_F_VERSION_1 32
/* Chains a device handles per notify call before it yields (see notify). */
#define VIRTIO_NOTIFY_BUDGET 64
#define VIRTIO_NOTIFY_MORE   2

/* A notify loop's pop: virtq_pop()'s 1 (popped; *count goes up), 0 or
 * -errno, or VIRTIO_NOTIFY_MORE once *count reached the budget. Loop while
 * it returns 1 and return what ended the loop:
 *     unsigned n = 0;
 *     while ((ret = virtio_mmio_pop(q, &elem, &n)) == 1) { ... } */
static inline int virtio_mmio_pop(struct virtq *q, struct virtq_elem *elem, unsigned *count)
{
	if (*count >= VIRTIO_NOTIFY_BUDGET)
		return VIRTIO_NOTIFY_MORE;
	int ret = virtq_pop(q, elem);
	if (ret == 1)
		(*count)++;
	return ret;
}

/* Offered by the transport on top of the device's own features. */
#define VIRTIO_MMIO_TRANSPORT_FEATURES                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_F_EVENT_IDX))

struct virtio_mmio;

/* What the VM provides (vmm/core/vm.c on KVM). Either callback may
 * be NULL. ioeventfd: KVM_IOEVENTFD for a `len`-byte write of `datamatch`
 * at guest-physical `addr`, signalling fd. irqfd: KVM_IRQFD, fd raises
 * `gsi`. Both return 0 or negative errno. */
struct virtio_platform {
	void *opaque;
	int (*ioeventfd)(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
	int (*irqfd)(void *opaque, uint32_t gsi, int fd);
};

/* A device type: one static const table per type. Every op runs with the
 * transport lock held (see above). */
struct virtio_device_ops {
	const char *name;        /* for log lines */
	uint32_t device_id;      /* virtio device id, != 0 (4: rng, 5: balloon) */
	uint32_t num_queues;     /* 1 .. VIRTIO_MMIO_MAX_QUEUES */
	uint32_t max_queue_size; /* QueueNumMax: power of two <= 32768 */
	uint64_t features;       /* device-specific feature bits */
	uint32_t config_size;    /* bytes of config space, <= VIRTIO_MMIO_CONFIG_MAX */
	/* Config space access; the transport guarantees off + len <= config_size.
	 * config_read may be NULL (reads 0); config_write may be NULL (ignored). */
	void (*config_read)(void *dev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const void *data, uint32_t len);
	/* The driver kicked queue `queue` (only called when the driver is
	 * DRIVER_OK, the queue is ready and the device is not NEEDS_RESET).
	 * Pop with virtq_pop(virtio_mmio_queue(t, queue), ...), push, then
	 * virtio_mmio_notify_used(). At most VIRTIO_NOTIFY_BUDGET chains per
	 * call: with more waiting, return VIRTIO_NOTIFY_MORE and the
	 * transport calls again once the event loop has served everything
	 * else, so a guest that keeps its ring full cannot starve the monitor
	 * or signals. A negative errno marks the device NEEDS_RESET (e.g.
	 * from a malformed chain); 0 when the ring is drained. */
	int (*notify)(void *dev, struct virtio_mmio *t, uint32_t queue);
	/* Optional: the driver reset the device (Status = 0): drop held
	 * elements and return to the initial state. Queues are already reset. */
	void (*reset)(void *dev);
	/* Optional: the driver set DRIVER_OK (queues are usable). After it the
	 * transport calls notify once for every ready queue, so buffers the
	 * driver queued before DRIVER_OK are picked up. */
	void (*driver_ok)(void *dev, struct virtio_mmio *t);
	/* Optional: the driver disabled queue `queue` (QueueReady 0) without a
	 * device reset: drop any element held from it, whose head means
	 * nothing on the ring the driver sets up next. */
	void (*queue_reset)(void *dev, uint32_t queue);
};

/* A device instance as the transport sees it. */
struct virtio_device {
	const struct virtio_device_ops *ops;
	void *dev;
	/* Device features this instance does not offer (options turned off),
	 * so the ops table can stay one static const per type. */
	uint64_t features_off;
};

struct virtio_mmio_config {
	uint64_t base; /* guest-physical base of the 4 KiB window */
	uint32_t irq;  /* GSI */
	const struct guest_mem *gm;
	struct evloop *loop; /* NULL: no eventfds, QueueNotify calls notify directly */
	const struct virtio_platform *platform; /* NULL in unit tests */
	struct virtio_device device;
};

/* Creates a transport. -EINVAL for an invalid device ops table or a base
 * that is not 4 KiB aligned; irqfd failure is an error (the device would
 * have no interrupt); an ioeventfd failure only logs and falls back to the
 * QueueNotify exit path. Returns 0 and sets *out, or negative errno. */
int virtio_mmio_new(const struct virtio_mmio_config *cfg, struct virtio_mmio **out) WUR;
/* Call with vCPUs and the event loop stopped. */
void virtio_mmio_free(struct virtio_mmio *t);

/* Device reset from the host side (guest reboot): every queue and the
 * device return to their initial state, as if the driver wrote Status 0. */
void virtio_mmio_reset(struct virtio_mmio *t);

/* Registers the 4 KiB register window on the MMIO bus. */
int virtio_mmio_register(struct bus *bus, struct virtio_mmio *t) WUR;

/* Queue i's virtqueue (NULL if out of range), for the device's ops. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *t, uint32_t queue);
/* Features both sides agreed on (0 until FEATURES_OK was accepted). */
uint64_t virtio_mmio_features(struct virtio_mmio *t);
uint32_t virtio_mmio_status(struct virtio_mmio *t);

/* After pushing to `queue`: raises a used-buffer interrupt unless the
 * driver suppressed it (virtq_should_notify()). */
void virtio_mmio_notify_used(struct virtio_mmio *t, uint32_t queue);
/* The device changed its config: bumps ConfigGeneration and, once the
 * driver is DRIVER_OK, raises a config-change interrupt. Any thread. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* The device hit an unrecoverable error (`why`, `err` are logged,
 * rate-limited): sets NEEDS_RESET and raises a config-change interrupt
 * if DRIVER_OK. The device stops receiving notify calls until reset. */
void virtio_mmio_needs_reset(struct virtio_mmio *t, int err, const char *why);

/* The transport lock, for device state shared with other threads. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);

/* Machine description helpers (command line, DTB). */
uint64_t virtio_mmio_base(const struct virtio_mmio *t);
uint64_t virtio_mmio_size(const struct virtio_mmio *t);
uint32_t virtio_mmio_irq(const struct virtio_mmio *t);
uint32_t virtio_mmio_device_id(const struct virtio_mmio *t);
/* Formats "virtio_mmio.device=4K@0xd0000000:5" into buf: the length, or
 * -ENOSPC if it does not fit (buf is then an empty string if size > 0). */
int virtio_mmio_cmdline(const struct virtio_mmio *t, char *buf, size_t size) WUR;
/* The same for a transport at base with irq, before it exists. */
int virtio_mmio_cmdline_at(uint64_t base, uint32_t irq, char *buf, size_t size) WUR;

#endif
