/* What the host can give guest RAM (private to memory/): the huge page
 * pool, MemAvailable and MemTotal from /proc/meminfo, and KSM's state, with
 * the one-line explanations ram.c puts in its errors and warnings when the
 * host falls short. Unknown values (a file missing or unreadable) never
 * count as too little. */
#ifndef MEMVM_HOST_MEM_H
#define MEMVM_HOST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

/* The hugetlbfs-backed guest RAM a huge page message is about. */
struct host_mem_huge {
	const char *mem_path; /* -mem-path as given; NULL: a hugetlb memfd */
	int fd;               /* the file on hugetlbfs (its mount's size= limit) */
	uint64_t page_size;   /* the mount's huge page size */
	uint64_t ram_size;
};

/* True when the pool of page_size pages has `pages` free for us (free less
 * reserved, plus the overcommit headroom), or cannot be read. */
bool host_mem_huge_fits(uint64_t page_size, uint64_t pages);

/* Why `pages` huge pages are not there, with the fix: the pool (and the
 * knob to raise), the mount's size=, or else a hugetlb cgroup limit. */
void host_mem_huge_why(const struct host_mem_huge *h, uint64_t pages, char *why, size_t n);

/* Preallocating `need` of `ram_size` bytes of guest RAM: true when it fits
 * in MemAvailable; false with the -mem-prealloc error line in why. */
bool host_mem_fits_available(uint64_t ram_size, uint64_t need, char *why, size_t n);

/* True when ram_size fits in MemTotal; false with a warning line in why. */
bool host_mem_fits_total(uint64_t ram_size, char *why, size_t n);

/* /sys/kernel/mm/ksm/run (0 stopped, 1 running, 2 unmerging), -1 unknown. */
int host_mem_ksm_run(void);
/* This process's KSM-merged pages, -1 unknown. */
int64_t host_mem_ksm_merging_pages(void);

/* What /proc/self/smaps says of the mappings inside [start, start+len). */
struct host_mem_vma {
	uint64_t rss;     /* resident bytes (hugetlb pages not included) */
	uint64_t thp;     /* of rss, in transparent huge pages */
	uint64_t swap;    /* swapped out */
	uint64_t hugetlb; /* resident in hugetlb pages */
};
int host_mem_smaps(uintptr_t start, uint64_t len, struct host_mem_vma *out) WUR;
/* This process's VmRSS in bytes, -1 unknown. */
int64_t host_mem_self_rss(void);

#endif
