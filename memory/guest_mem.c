#include "memory/guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct guest_mem {
	struct guest_region r[GUEST_MEM_MAX_REGIONS]; /* sorted by gpa */
	size_t n;
	uint32_t next_slot;
};

struct guest_mem *guest_mem_new(void)
{
	return calloc(1, sizeof(struct guest_mem));
}

void guest_mem_free(struct guest_mem *gm)
{
	free(gm);
}

/* Last byte of a non-empty range; callers have checked it does not wrap. */
static uint64_t last_byte(uint64_t gpa, uint64_t size)
{
	return gpa + (size - 1);
}

int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *hva, uint32_t *slot_out)
{
	if (!gm || !hva || size == 0 || size - 1 > UINT64_MAX - gpa)
		return -EINVAL;
	if (gm->n == GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;

	uint64_t end = last_byte(gpa, size);
	size_t pos = 0;
	while (pos < gm->n && gm->r[pos].gpa < gpa)
		pos++;
	if (pos > 0 && last_byte(gm->r[pos - 1].gpa, gm->r[pos - 1].size) >= gpa)
		return -EEXIST;
	if (pos < gm->n && gm->r[pos].gpa <= end)
		return -EEXIST;

	memmove(&gm->r[pos + 1], &gm->r[pos], (gm->n - pos) * sizeof(gm->r[0]));
	gm->r[pos] = (struct guest_region){
		.gpa = gpa,
		.size = size,
		.hva = hva,
		.slot = gm->next_slot,
	};
	gm->n++;
	if (slot_out)
		*slot_out = gm->next_slot;
	gm->next_slot++;
	return 0;
}

const struct guest_region *guest_mem_find(const struct guest_mem *gm, uint64_t gpa)
{
	size_t lo = 0, hi = gm ? gm->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct guest_region *r = &gm->r[mid];
		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int guest_mem_set_populate(struct guest_mem *gm, uint64_t gpa, uint64_t page_size)
{
	if (!gm || page_size < 4096 || (page_size & (page_size - 1)))
		return -EINVAL;
	for (size_t i = 0; i < gm->n; i++) {
		if (gm->r[i].gpa == gpa) {
			gm->r[i].populate_page = page_size;
			return 0;
		}
	}
	return -ENOENT;
}

/* Faults in the pages covering [p, p+len) for writing. The kernel reports
 * a page it cannot supply as an error here instead of SIGBUS on touch. */
static int populate(const struct guest_region *r, uint8_t *p, uint64_t len)
{
	uintptr_t start = (uintptr_t)p & ~(uintptr_t)(r->populate_page - 1);
	uintptr_t end = ((uintptr_t)p + len + r->populate_page - 1) &
			~(uintptr_t)(r->populate_page - 1);
	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) == 0)
		return 0;
	/* EINVAL: a kernel before 5.14 without the advice; nothing to check
	 * with, so the access goes ahead as before. */
	return errno == EINVAL ? 0 : -ENOMEM;
}

int guest_mem_access(const struct guest_mem *gm, uint64_t gpa, uint64_t len, void **hva)
{
	const struct guest_region *r = guest_mem_find(gm, gpa);
	*hva = NULL;
	if (!r)
		return -EFAULT;
	uint64_t off = gpa - r->gpa;
	/* off < size holds, so size - off cannot underflow. */
	if (len > r->size - off)
		return -EFAULT;
	uint8_t *p = (uint8_t *)r->hva + off;
	if (r->populate_page && len) {
		int ret = populate(r, p, len);
		if (ret)
			return ret;
	}
	*hva = p;
	return 0;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	void *p;
	return guest_mem_access(gm, gpa, len, &p) ? NULL : p;
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
{
	void *p;
	int ret = guest_mem_access(gm, gpa, len, &p);
	if (ret)
		return ret;
	memcpy(dst, p, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *p;
	int ret = guest_mem_access(gm, gpa, len, &p);
	if (ret)
		return ret;
	memcpy(p, src, len);
	return 0;
}

size_t guest_mem_count(const struct guest_mem *gm)
{
	return gm ? gm->n : 0;
}

const struct guest_region *guest_mem_region(const struct guest_mem *gm, size_t i)
{
	return (gm && i < gm->n) ? &gm->r[i] : NULL;
}

uint64_t guest_mem_total(const struct guest_mem *gm)
{
	uint64_t t = 0;
	for (size_t i = 0; i < guest_mem_count(gm); i++)
		t += gm->r[i].size;
	return t;
}
