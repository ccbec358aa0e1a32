/* Balloon bookkeeping for huge-page backings (private to memory/): which
 * 4 KiB parts of each huge page the guest has given back, so that a huge
 * page is released once all of its parts are and never while one of them
 * is still in use.
 *
 * Offsets are bytes in the RAM block, 4 KiB aligned, and inside the map;
 * the caller (ram.c) checks them. Not thread-safe: the caller locks. */
#ifndef MEMVM_DISCARD_MAP_H
#define MEMVM_DISCARD_MAP_H

#include <stdint.h>

#include "vmm/lib/util.h"

struct discard_map;

/* One bit per 4 KiB part of `size` bytes of huge pages of `page_size`.
 * 0, -EINVAL (page_size not a multiple of 256 KiB, size not a multiple of
 * page_size) or -ENOMEM. */
int discard_map_new(uint64_t size, uint64_t page_size, struct discard_map **out) WUR;
void discard_map_free(struct discard_map *m);

/* Releases huge pages [first, first+n): 0 or -errno. */
typedef int discard_map_release_fn(void *opaque, uint64_t first, uint64_t n);

/* Marks [off, off+len) discarded and calls release() for each run of
 * consecutive huge pages that this call completed (pages already complete
 * before are not released again). When release() fails, the parts of the
 * pages it was given are forgotten, so a later discard retries them, and
 * marking stops there; its error is returned. */
int discard_map_mark(struct discard_map *m, uint64_t off, uint64_t len,
		     discard_map_release_fn *release, void *opaque) WUR;

/* Deflate: the guest uses [off, off+len) again. */
void discard_map_clear(struct discard_map *m, uint64_t off, uint64_t len);

#endif
