/* Port-I/O and MMIO buses: non-overlapping address ranges sorted by base,
 * O(log n) lookup. Devices register during set-up; the bus is read-only
 * while vCPUs run, so dispatch takes no lock (devices lock themselves). */
#ifndef MEMVM_BUS_H
#define MEMVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/lib/util.h"

/* A device's access handlers; every device type has one static const
 * table. `offset` is relative to the registered base; len is 1, 2, 4 or 8. */
struct bus_ops {
	const char *name;
	void (*read)(void *dev, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *dev, uint64_t offset, const void *data, uint32_t len);
};

struct bus;

/* What a device may ask of the machine (reset line, power-off port, debug
 * exit). Called from vCPU threads; the VM acts on it asynchronously. */
enum run_request {
	RUN_REQ_POWEROFF,
	RUN_REQ_RESET,
	RUN_REQ_DEBUG_EXIT, /* status = process exit status */
	RUN_REQ_QUIT,       /* monitor quit, signal, Ctrl-A x: status = exit status */
};
struct run_link {
	void (*request)(void *opaque, enum run_request req, int status);
	void *opaque;
};

struct bus *bus_new(const char *name) WUR;
void bus_free(struct bus *bus);

/* -EINVAL for len 0 or a wrapping range, -EEXIST on overlap, -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *dev) WUR;

/* Dispatches an access. -ENOENT when no device covers [addr, addr+len)
 * entirely (reads then see all-ones, as on real hardware). */
int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len);
int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len);

/* Number of registered ranges (for tests and diagnostics). */
unsigned bus_count(const struct bus *bus);

#endif
