/* The guest's RAM as the guest sees it: one RAM block (memory/ram.h) laid
 * out in guest-physical regions, registered in a struct guest_mem, with
 * every way of giving memory back addressed by guest-physical range:
 * balloon inflate and deflate, free page reporting, and clearing for a
 * reboot. The board, the balloon (through struct guest_ram_ops) and the
 * benchmark all reach RAM through here.
 *
 * Every range is checked before use, overflow-safe: gpa and len must be
 * multiples of 4 KiB (-EINVAL) and [gpa, gpa+len) must lie inside one
 * region (-EFAULT: outside RAM, across a region boundary or wrapping).
 * len 0 is a no-op when gpa is inside (or at the end of) a region. The
 * region table is read-only after guest_ram_new(), so, as ram.h, every
 * call is thread-safe. */
#ifndef MEMVM_GUEST_RAM_H
#define MEMVM_GUEST_RAM_H

#include <stddef.h>
#include <stdint.h>

#include "memory/guest_mem.h"
#include "memory/ram.h"
#include "vmm/lib/util.h"

/* Where part of the RAM block appears in the guest. */
struct guest_ram_region {
	uint64_t gpa;
	uint64_t len;
	uint64_t offset; /* in the RAM block */
};

/* A guest-physical range (a balloon run). */
struct guest_ram_run {
	uint64_t gpa;
	uint64_t len;
};

struct guest_ram;

/* Maps RAM per cfg (ram_map(), so with cfg->prealloc it is populated) and
 * registers the n regions in gm, in order (that is the memslot order).
 * Regions: non-empty, 4 KiB aligned, sorted by gpa without overlap or
 * wrapping, inside the block, and in the block in the same order without
 * sharing a byte (so sorted gpa ranges stay sorted offsets). Returns 0, or
 * a negative errno with one line in err: ram_map()'s errors, -EINVAL for
 * a bad region list, guest_mem_add()'s -EEXIST (a region overlaps one
 * already in gm) or -ENOSPC. On error nothing is left mapped and gm is
 * unchanged. regions is copied. */
int guest_ram_new(const struct ram_config *cfg, const struct guest_ram_region *regions, size_t n,
		  struct guest_mem *gm, struct guest_ram **out, char *err, size_t errlen) WUR;

/* Where every byte of guest RAM is, host-side: the first seven parts add
 * up to size exactly (each 4 KiB page counted once: resident, else swapped,
 * else given back by the balloon, else by free page reporting, else never
 * touched or released otherwise); ksm_merged and stranded are within them;
 * vmm_overhead is beside them. One mincore pass and one smaps read. */
struct guest_ram_ledger {
	uint64_t size;
	uint64_t resident_4k;      /* resident in 4 KiB pages (KSM-merged ones too) */
	uint64_t resident_thp;     /* resident in transparent huge pages */
	uint64_t resident_hugetlb; /* resident in hugetlb pages */
	uint64_t swapped;
	uint64_t ballooned;   /* given back by the balloon, not in use again */
	uint64_t reported;    /* returned by free page reporting, not in use again */
	uint64_t untouched;   /* never touched, or released another way */
	int64_t ksm_merged;   /* of resident_4k, merged by KSM; -1 unknown */
	uint64_t stranded;    /* of resident_hugetlb: parts the balloon has, in huge
			      * pages still held for their other parts */
	int64_t vmm_overhead; /* memvm's own RSS beside guest RAM; -1 unknown */
};
int guest_ram_ledger(struct guest_ram *gr, struct guest_ram_ledger *out) WUR;

/* Unmaps RAM. Its regions stay in gm, pointing at nothing: free gm as
 * well, or stop using it. NULL is a no-op. */
void guest_ram_free(struct guest_ram *gr);

/* The RAM block, for ram_summary() and the other ram.h accessors; NULL
 * for a NULL gr. */
struct ram *guest_ram_block(const struct guest_ram *gr);

/* ram_discard() of [gpa, gpa+len) (balloon inflate). *freed (may be NULL)
 * gets the bytes that really left the process. */
int guest_ram_discard(struct guest_ram *gr, uint64_t gpa, uint64_t len, uint64_t *freed) WUR;

/* A whole inflate buffer at once: runs sorted by gpa without overlap,
 * each inside one region (ram_discard_ranges(), one residency pass per up
 * to 256 runs). All runs are checked first (-EINVAL unsorted or
 * overlapping, and the rules above): on error nothing is discarded.
 * Stops at the first range the backing fails on; *freed gets the total. */
int guest_ram_discard_runs(struct guest_ram *gr, const struct guest_ram_run *runs, size_t n,
			   uint64_t *freed) WUR;

/* ram_discard_reported() (free page reporting: nothing is remembered). */
int guest_ram_discard_reported(struct guest_ram *gr, uint64_t gpa, uint64_t len,
			       uint64_t *freed) WUR;

/* ram_reclaim() (balloon deflate: the guest uses the range again). */
int guest_ram_reclaim(struct guest_ram *gr, uint64_t gpa, uint64_t len) WUR;

/* Reboot. RAM memvm owns (anonymous, memfd, its temporary file in a
 * -mem-path directory) reads as zero again: preallocated RAM is zeroed in
 * place and stays populated (the user paid for that up front), otherwise
 * everything is given back, the fastest clear and the smallest footprint.
 * A file the user named with -mem-path is data and is left as it is,
 * shared or private, as QEMU leaves RAM on reset: the next boot sees what
 * the last one left. Either way no huge page stays counted as partly
 * ballooned by the previous guest. 0 or -errno. */
int guest_ram_clear(struct guest_ram *gr) WUR;

/* How a device gives guest RAM back to the host, by guest-physical range
 * (4 KiB aligned, inside one region; the device has checked that against
 * the guest_mem it got, the implementation checks again). `opaque` is the
 * implementation's; every op returns 0 or a negative errno, and *freed
 * gets the bytes that really left the process. The balloon takes these;
 * unit tests pass fakes that record the calls. */
struct guest_ram_ops {
	int (*discard)(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed);
	/* Optional: the runs of one inflate buffer at once (sorted, each
	 * inside one region), so the backing can batch its work; NULL:
	 * `discard` per run. */
	int (*discard_runs)(void *opaque, const struct guest_ram_run *runs, size_t n,
			    uint64_t *freed);
	/* Optional: free page reporting; the guest may reuse the range later
	 * without telling, so nothing may be remembered. NULL: `discard`,
	 * which is only right for 4 KiB backings. */
	int (*discard_reported)(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed);
	/* Optional: deflate; the guest takes [gpa, gpa+len) back, so no huge
	 * page may be released while that part is in use. Called before the
	 * deflate buffer is returned, so with MUST_TELL_HOST it always
	 * precedes the guest's reuse of those pages. */
	int (*reclaim)(void *opaque, uint64_t gpa, uint64_t len);
};

/* The ops on a struct guest_ram (opaque = the struct guest_ram *). */
extern const struct guest_ram_ops guest_ram_ops;

#endif
