/* The board's device manager: the one list of devices. It registers their
 * port and MMIO ranges, hands out the virtio-mmio windows and GSIs, runs
 * their reset hooks on a guest reboot, and says what the kernel is told
 * about them (command-line announcements, the boot description's device
 * list). Works on plain buses and guest memory: unit-tested without KVM. */
#ifndef MEMVM_DEVICES_H
#define MEMVM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"
#include "vmm/lib/util.h"

struct boot_mmio_dev;
struct bus;
struct bus_ops;
struct devmgr;
struct evloop;
struct guest_mem;

struct devmgr_env {
	struct bus *pio;
	struct bus *mmio;
	const struct guest_mem *gm;
	struct evloop *loop;             /* NULL: virtio queue notifies run on the vCPU */
	struct virtio_platform platform; /* callbacks may be NULL (tests) */
};

/* The longest announcement: "virtio_mmio.device=4K@0xd0000000:5". */
#define DEVMGR_ANNOUNCE_MAX 64

int devmgr_new(const struct devmgr_env *env, struct devmgr **out) WUR;
/* Frees the virtio transports; the devices behind them stay their
 * creators'. Call with vCPUs and the event loop stopped. NULL is a no-op. */
void devmgr_free(struct devmgr *dm);

/* A legacy device answering [base, base + len) on the port bus. -EEXIST
 * when the range overlaps another device's. */
int devmgr_add_pio(struct devmgr *dm, uint16_t base, uint16_t len, const struct bus_ops *ops,
		   void *dev) WUR;
/* fn(dev) runs on every guest reboot, with vCPUs stopped, in the order
 * added. Virtio transports get theirs from devmgr_add_virtio. */
int devmgr_add_reset(struct devmgr *dm, void (*fn)(void *dev), void *dev) WUR;
/* A virtio-mmio device in the next free window with the next free GSI
 * (devmgr_virtio_slot of the count so far).
 * 0 or -errno with one line in err (-ENOSPC: all windows taken). */
int devmgr_add_virtio(struct devmgr *dm, struct virtio_device dev, struct virtio_mmio **out,
		      char *err, size_t errlen) WUR;

/* Runs every reset hook (guest reboot). */
void devmgr_reset(struct devmgr *dm);

unsigned devmgr_virtio_count(const struct devmgr *dm);
/* The virtio devices as the boot description lists them: the count
 * written (at most max). */
size_t devmgr_boot_devices(const struct devmgr *dm, struct boot_mmio_dev *out, size_t max);
/* Where the i-th virtio-mmio device goes: its window and GSI. The one
 * placement rule, also for describing a configuration's devices before
 * any exists (preflight). -ENOSPC past the last window. */
int devmgr_virtio_slot(unsigned i, struct boot_mmio_dev *out) WUR;
/* A device's announcement on the kernel command line
 * ("virtio_mmio.device=..."), for kernels that read no device tree: the
 * length, or -ENOSPC. */
int devmgr_announce(const struct boot_mmio_dev *d, char *buf, size_t size) WUR;

#endif
