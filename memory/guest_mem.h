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

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one
 * region, else NULL. len 0 is valid (checks gpa alone). Overflow-safe. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Region containing gpa, or NULL. */
const struct guest_region *guest_mem_find(const struct guest_mem *gm, uint64_t gpa);

/* Copy helpers: 0 or -EFAULT when any byte falls outside guest RAM. */
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len) WUR;
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len) WUR;

size_t guest_mem_count(const struct guest_mem *gm);
/* i-th region in gpa order (i < guest_mem_count()). */
const struct guest_region *guest_mem_region(const struct guest_mem *gm, size_t i);
/* Sum of all region sizes. */
uint64_t guest_mem_total(const struct guest_mem *gm);

#endif
