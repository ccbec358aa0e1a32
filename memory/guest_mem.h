/* Guest-physical memory map: a sorted, non-overlapping registry of regions
 * (KVM memslots) with overflow-safe gpa -> hva translation.
 *
 * This is the only interface the virtqueue and device code use to reach
 * guest memory, so unit tests can back it with plain malloc'd buffers.
 * The map is built during set-up and read-only while vCPUs run, so lookups
 * take no lock. */
#ifndef MEMVM_GUEST_MEM_H
#define MEMVM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

#define GUEST_MEM_MAX_REGIONS 64

struct guest_region {
	uint64_t gpa;  /* first guest-physical byte */
	uint64_t size; /* bytes, > 0 */
	void *hva;     /* host mapping of gpa */
	uint32_t slot; /* KVM memslot id, assigned in insertion order */
	/* Nonzero: a page fault here can fail (hugetlbfs, tmpfs, a file) and
	 * would raise SIGBUS, so host accesses populate the covering pages of
	 * this size first and fail cleanly instead (guest_mem_set_populate). */
	uint64_t populate_page;
};

struct guest_mem;

/* Returns NULL on allocation failure. */
struct guest_mem *guest_mem_new(void) WUR;
void guest_mem_free(struct guest_mem *gm);

/* Adds [gpa, gpa+size) backed by hva. -EINVAL for size 0, a range that
 * wraps 64 bits or a NULL hva; -EEXIST if it overlaps a region; -ENOSPC
 * when the table is full. On success *slot_out (if non-NULL) gets the slot. */
int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *hva,
		  uint32_t *slot_out) WUR;

/* Marks the region starting at gpa as backed by memory whose faults can
 * fail; page_size (a power of two >= 4 KiB) is its backing page size.
 * -ENOENT when no region starts at gpa, -EINVAL for a bad page size. */
int guest_mem_set_populate(struct guest_mem *gm, uint64_t gpa, uint64_t page_size) WUR;

/* Host pointer for [gpa, gpa+len) in *hva, ready to be read and written:
 * 0, -EFAULT when the range is not inside one region (overflow-safe), or
 * -ENOMEM when the host cannot back it (an empty huge page pool, a full
 * tmpfs), where touching it would have raised SIGBUS. len 0 is valid
 * (checks gpa alone, populates nothing). */
int guest_mem_access(const struct guest_mem *gm, uint64_t gpa, uint64_t len, void **hva) WUR;

/* guest_mem_access() without the reason: NULL on either error. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Region containing gpa, or NULL. */
const struct guest_region *guest_mem_find(const struct guest_mem *gm, uint64_t gpa);

/* Copy helpers: 0, -EFAULT when any byte falls outside guest RAM, or
 * -ENOMEM when the host cannot back it (see guest_mem_access). */
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len) WUR;
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len) WUR;

/* The fix for -ENOMEM from the functions above, for one-line errors. */
#define GUEST_MEM_NOBACK_FIX                                                           \
	"the huge page pool or the memory filesystem behind guest RAM ran out; raise " \
	"/proc/sys/vm/nr_hugepages or free space, and use -mem-prealloc to check at start"

size_t guest_mem_count(const struct guest_mem *gm);
/* i-th region in gpa order (i < guest_mem_count()). */
const struct guest_region *guest_mem_region(const struct guest_mem *gm, size_t i);
/* Sum of all region sizes. */
uint64_t guest_mem_total(const struct guest_mem *gm);

#endif
