#include "memory/discard_map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define PART 4096ull

struct discard_map {
	uint64_t page_size;
	uint64_t words_per_page; /* huge pages hold 64 parts or more: whole words each */
	uint64_t bits[];         /* one per 4 KiB part, set: discarded */
};

int discard_map_new(uint64_t size, uint64_t page_size, struct discard_map **out)
{
	uint64_t words, bytes;

	*out = NULL;
	if (!page_size || page_size % (64 * PART) || size % page_size)
		return -EINVAL;
	words = size / PART / 64;
	if (!mul_ok(words, sizeof(uint64_t), &bytes) ||
	    !add_ok(bytes, sizeof(struct discard_map), &bytes) || bytes > SIZE_MAX)
		return -ENOMEM;
	struct discard_map *m = calloc(1, (size_t)bytes);
	if (!m)
		return -ENOMEM;
	m->page_size = page_size;
	m->words_per_page = page_size / PART / 64;
	*out = m;
	return 0;
}

void discard_map_free(struct discard_map *m)
{
	free(m);
}

/* Parts [from, to) on or off, a word at a time where possible. */
static void bits_set(uint64_t *map, uint64_t from, uint64_t to, bool on)
{
	for (uint64_t b = from; b < to; b++) {
		if ((b & 63) == 0 && to - b >= 64) {
			map[b / 64] = on ? ~0ull : 0;
			b += 63;
			continue;
		}
		if (on)
			map[b / 64] |= 1ull << (b & 63);
		else
			map[b / 64] &= ~(1ull << (b & 63));
	}
}

static bool page_complete(const struct discard_map *m, uint64_t page)
{
	const uint64_t *w = m->bits + page * m->words_per_page;
	for (uint64_t i = 0; i < m->words_per_page; i++)
		if (w[i] != ~0ull)
			return false;
	return true;
}

/* A release failed: clearing the pages' bits makes a later discard retry
 * them instead of believing they are gone (forgetting is the safe way). */
static void forget_pages(struct discard_map *m, uint64_t first, uint64_t n)
{
	uint64_t per = m->page_size / PART;
	bits_set(m->bits, first * per, (first + n) * per, false);
}

int discard_map_mark(struct discard_map *m, uint64_t off, uint64_t len,
		     discard_map_release_fn *release, void *opaque)
{
	uint64_t ps = m->page_size, end = off + len;
	uint64_t run_first = 0, run_n = 0;
	int ret = 0;

	for (uint64_t pg = off / ps; pg * ps < end; pg++) {
		uint64_t lo = MAX(off, pg * ps), hi = MIN(end, (pg + 1) * ps);
		bool was_complete = page_complete(m, pg);
		bits_set(m->bits, lo / PART, hi / PART, true);
		if (was_complete || !page_complete(m, pg))
			continue; /* already released, or still partly in use */
		if (run_n && run_first + run_n == pg) {
			run_n++;
			continue;
		}
		if (run_n && (ret = release(opaque, run_first, run_n))) {
			forget_pages(m, pg, 1);
			break;
		}
		run_first = pg;
		run_n = 1;
	}
	if (!ret && run_n)
		ret = release(opaque, run_first, run_n);
	if (ret && run_n)
		forget_pages(m, run_first, run_n);
	return ret;
}

void discard_map_clear(struct discard_map *m, uint64_t off, uint64_t len)
{
	bits_set(m->bits, off / PART, (off + len) / PART, false);
}
