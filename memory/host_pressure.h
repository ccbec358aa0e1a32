/* How hard the host is pressed for memory, as the autopilot reads it:
 * memvm's own cgroup (v2) when it or an ancestor has a memory limit
 * (memory.high or memory.max: usage memory.current, stall time from that
 * cgroup's memory.pressure), otherwise the whole machine (MemAvailable
 * and MemTotal from /proc/meminfo, stall time from /proc/pressure/memory).
 * For hugetlbfs-backed RAM also the pool of that page size.
 *
 * Every file is opened by host_pressure_open(), before the sandbox, and
 * read with pread() afterwards, so sampling needs no open() and follows
 * a limit the operator changes at run time. Missing files (no PSI, no
 * cgroup v2) make the figures unknown, never an error. */
#ifndef MEMVM_HOST_PRESSURE_H
#define MEMVM_HOST_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/lib/util.h"

struct host_pressure;

struct host_pressure_sample {
	bool psi;           /* stall_us is known */
	uint64_t stall_us;  /* PSI "some" total: time some task waited for memory */
	bool limited;       /* usage and limit are known */
	uint64_t usage;     /* bytes in use (cgroup memory.current, or MemTotal - MemAvailable) */
	uint64_t limit;     /* the limit usage is held against (memory.high/max, or MemTotal) */
	bool huge;          /* the huge page figures are known */
	uint64_t huge_free; /* free, unreserved pages of the RAM's huge page size */
};

/* huge_page_size: the RAM's huge page size, or 0. Opens what it finds;
 * 0 or -ENOMEM. */
int host_pressure_open(uint64_t huge_page_size, struct host_pressure **out) WUR;
void host_pressure_free(struct host_pressure *hp);

/* Reads the figures now: 0, or -EIO when nothing could be read. */
int host_pressure_read(struct host_pressure *hp, struct host_pressure_sample *out) WUR;

/* A PSI trigger on the same pressure file (100 ms of stall in 1 s), for
 * epoll's EPOLLPRI, or -1 when the kernel refused one. Owned by hp. */
int host_pressure_trigger_fd(const struct host_pressure *hp);

/* "cgroup /sys/fs/cgroup/..." or "system". */
const char *host_pressure_source(const struct host_pressure *hp);

#endif
