/* memory/guest_ram.c on anonymous RAM (no /dev/kvm): region registration,
 * gpa-based discard, batch discard, reporting, reclaim and clearing, and
 * the checks every guest-physical range goes through.
 *
 * The fake layout has the shape of the board's (RAM below the hole, the
 * rest above it), scaled down: 16 MiB of RAM, region 0 [0, 8M) at offset
 * 0 and region 1 [64M, 72M) at offset 8M. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "memory/ram.h"
#include "tests/unit/check_main.h"

#define KiB      1024ull
#define MiB      (1024ull * KiB)
#define PG       (4 * KiB)
#define RAM_SIZE (16 * MiB)
#define R1_GPA   (64 * MiB)
#define R1_END   (72 * MiB)

static const struct guest_ram_region layout[2] = {
	{ .gpa = 0, .len = 8 * MiB, .offset = 0 },
	{ .gpa = R1_GPA, .len = 8 * MiB, .offset = 8 * MiB },
};

static struct guest_mem *gm;
static struct guest_ram *gr;
static uint8_t *base;

static void ram_cfg(struct ram_config *c, uint64_t size)
{
	ram_config_init(c, size);
	c->progress = false;
	c->merge = false;
	c->thp = false; /* 4 KiB pages: residency is exact */
}

/* A guest_ram on gm with the given regions, RAM filled with 0x5a. */
static struct guest_ram *make(struct guest_mem *m, const struct guest_ram_region *r, size_t n,
			      uint64_t size, bool prealloc)
{
	struct ram_config c;
	struct guest_ram *g;
	char err[256] = "";
	ram_cfg(&c, size);
	c.prealloc = prealloc;
	c.prealloc_threads = 1;
	int ret = guest_ram_new(&c, r, n, m, &g, err, sizeof(err));
	ck_assert_msg(ret == 0, "guest_ram_new: %d: %s", ret, err);
	uint8_t *b = ram_base(guest_ram_block(g));
	madvise(b, size, MADV_NOHUGEPAGE); /* also under THP=always */
	memset(b, 0x5a, size);
	return g;
}

static void setup(void)
{
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
	gr = make(gm, layout, 2, RAM_SIZE, false);
	base = ram_base(guest_ram_block(gr));
}

static void teardown(void)
{
	guest_ram_free(gr);
	guest_mem_free(gm);
	gr = NULL;
	gm = NULL;
}

/* Resident bytes of [p, p+len) (mincore). */
static uint64_t resident(const void *p, uint64_t len)
{
	static unsigned char vec[RAM_SIZE / PG];
	uint64_t n = 0;
	ck_assert_uint_le(len / PG, sizeof(vec));
	ck_assert_int_eq(mincore((void *)p, len, vec), 0);
	for (uint64_t i = 0; i < len / PG; i++)
		n += vec[i] & 1;
	return n * PG;
}

static uint64_t discarded(void)
{
	struct ram_summary s;
	ram_summary(guest_ram_block(gr), &s);
	return s.discarded_bytes;
}

/* ---- creation ---- */

START_TEST(t_regions_registered)
{
	ck_assert_uint_eq(guest_mem_count(gm), 2);
	ck_assert_uint_eq(guest_mem_total(gm), RAM_SIZE);
	const struct guest_region *r0 = guest_mem_region(gm, 0), *r1 = guest_mem_region(gm, 1);
	ck_assert_uint_eq(r0->gpa, 0);
	ck_assert_uint_eq(r0->size, 8 * MiB);
	ck_assert_ptr_eq(r0->hva, base);
	ck_assert_uint_eq(r0->slot, 0);
	ck_assert_uint_eq(r1->gpa, R1_GPA);
	ck_assert_uint_eq(r1->size, 8 * MiB);
	ck_assert_ptr_eq(r1->hva, base + 8 * MiB);
	ck_assert_uint_eq(r1->slot, 1);

	/* The guest's view and the block agree. */
	uint32_t v = 0x12345678, w = 0;
	ck_assert_int_eq(guest_mem_write(gm, R1_GPA + PG + 4, &v, 4), 0);
	memcpy(&w, base + 8 * MiB + PG + 4, 4);
	ck_assert_uint_eq(w, v);
	ck_assert_ptr_null(guest_mem_ptr(gm, 8 * MiB, 1)); /* the hole */
	ck_assert_ptr_eq(guest_mem_ptr(gm, R1_END - 1, 1), base + RAM_SIZE - 1);

	struct ram *ram = guest_ram_block(gr);
	ck_assert_ptr_nonnull(ram);
	ck_assert_uint_eq(ram_size(ram), RAM_SIZE);
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_ANON);
	ck_assert(!ram_preallocated(ram));
	ck_assert_ptr_null(guest_ram_block(NULL));
	guest_ram_free(NULL);
}
END_TEST

/* new() with a bad region list: the error with a line, nothing registered. */
static void rejected(const struct guest_ram_region *r, size_t n, int want)
{
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g = (struct guest_ram *)&g;
	struct ram_config c;
	char err[256] = "";
	ck_assert_ptr_nonnull(m);
	ram_cfg(&c, RAM_SIZE);
	ck_assert_int_eq(guest_ram_new(&c, r, n, m, &g, err, sizeof(err)), want);
	ck_assert_ptr_null(g);
	ck_assert_uint_eq(guest_mem_count(m), 0);
	ck_assert_msg(err[0] && !strchr(err, '\n'), "message: \"%s\"", err);
	guest_mem_free(m);
}

static void rejected1(uint64_t gpa, uint64_t len, uint64_t offset)
{
	const struct guest_ram_region r = { gpa, len, offset };
	rejected(&r, 1, -EINVAL);
}

static void rejected2(struct guest_ram_region a, struct guest_ram_region b)
{
	const struct guest_ram_region r[2] = { a, b };
	rejected(r, 2, -EINVAL);
}

START_TEST(t_new_rejects_bad_regions)
{
	const uint64_t top = UINT64_MAX & ~(PG - 1); /* the last page of the address space */
	rejected(layout, 0, -EINVAL);
	rejected(NULL, 1, -EINVAL);
	rejected1(0, 0, 0);         /* empty */
	rejected1(100, 8 * MiB, 0); /* unaligned */
	rejected1(0, 8 * MiB, 100);
	rejected1(0, 8 * MiB - 100, 0);
	rejected1(0, 8 * MiB, 12 * MiB); /* past the block */
	rejected1(0, 32 * MiB, 0);
	rejected1(0, 8 * MiB, top); /* offset wraps */
	rejected1(top, 2 * PG, 0);  /* gpa wraps */
	/* Out of gpa order, overlapping in gpa, overlapping or out of order in
	 * the block. */
	rejected2(layout[1], layout[0]);
	rejected2(layout[0], (struct guest_ram_region){ 0, 8 * MiB, 8 * MiB });
	rejected2(layout[0], (struct guest_ram_region){ 4 * MiB, 8 * MiB, 8 * MiB });
	rejected2(layout[0], (struct guest_ram_region){ R1_GPA, 8 * MiB, 4 * MiB });
	rejected2((struct guest_ram_region){ 0, 4 * MiB, 8 * MiB },
		  (struct guest_ram_region){ R1_GPA, 4 * MiB, 0 });

	/* ram_map()'s own errors come through with its message. */
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g;
	struct ram_config c;
	char err[256] = "";
	ram_cfg(&c, 0);
	ck_assert_int_eq(guest_ram_new(&c, layout, 2, m, &g, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "-m 0"));
	ck_assert_uint_eq(guest_mem_count(m), 0);
	ram_cfg(&c, RAM_SIZE);
	ck_assert_int_eq(guest_ram_new(&c, layout, 2, NULL, &g, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(guest_ram_new(NULL, layout, 2, m, &g, err, sizeof(err)), -EINVAL);
	guest_mem_free(m);
}
END_TEST

/* A region colliding with one already in gm, or too many regions for gm:
 * guest_mem's errors, and gm keeps exactly what it had. */
START_TEST(t_new_leaves_gm_alone)
{
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g;
	struct ram_config c;
	char err[256] = "";
	static uint8_t other[PG];
	ram_cfg(&c, RAM_SIZE);

	ck_assert_int_eq(guest_mem_add(m, R1_GPA + 4 * MiB, PG, other, NULL), 0);
	ck_assert_int_eq(guest_ram_new(&c, layout, 2, m, &g, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "registering guest RAM"));
	ck_assert_uint_eq(guest_mem_count(m), 1);
	ck_assert_ptr_eq(guest_mem_region(m, 0)->hva, other);

	/* One slot left, two regions. */
	for (uint64_t i = 1; i < GUEST_MEM_MAX_REGIONS - 1; i++)
		ck_assert_int_eq(guest_mem_add(m, (1ull << 40) + i * PG, PG, other, NULL), 0);
	ck_assert_int_eq(guest_ram_new(&c, layout, 2, m, &g, err, sizeof(err)), -ENOSPC);
	ck_assert_uint_eq(guest_mem_count(m), GUEST_MEM_MAX_REGIONS - 1);
	/* One region fits. */
	ck_assert_int_eq(guest_ram_new(&c, layout, 1, m, &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(guest_mem_count(m), GUEST_MEM_MAX_REGIONS);
	ck_assert_ptr_eq(guest_mem_find(m, 0)->hva, ram_base(guest_ram_block(g)));
	guest_ram_free(g);
	guest_mem_free(m);
}
END_TEST

/* ---- discard ---- */

START_TEST(t_discard_frees)
{
	uint64_t freed = 7;
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE);

	/* [65M, 67M) is [9M, 11M) of the block. */
	ck_assert_int_eq(guest_ram_discard(gr, R1_GPA + MiB, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 2 * MiB);
	ck_assert_uint_eq(resident(base + 9 * MiB, 2 * MiB), 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE - 2 * MiB);
	ck_assert_int_eq(base[9 * MiB - 1], 0x5a);
	ck_assert_int_eq(base[11 * MiB], 0x5a);
	ck_assert_int_eq(base[MiB], 0x5a); /* the same offsets in region 0: kept */
	ck_assert_int_eq(base[9 * MiB], 0);
	ck_assert_int_eq(base[11 * MiB - 1], 0);

	/* Region 0, its first and last page. */
	ck_assert_int_eq(guest_ram_discard(gr, 0, PG, &freed), 0);
	ck_assert_uint_eq(freed, PG);
	ck_assert_int_eq(guest_ram_discard(gr, 8 * MiB - PG, PG, NULL), 0);
	ck_assert_uint_eq(resident(base, 8 * MiB), 8 * MiB - 2 * PG);
	ck_assert_int_eq(base[PG], 0x5a);
	ck_assert_int_eq(base[8 * MiB - PG - 1], 0x5a);
	ck_assert_uint_eq(discarded(), 2 * MiB + 2 * PG);

	/* Through the ops table, as the balloon calls it. */
	ck_assert_int_eq(guest_ram_ops.discard(gr, R1_END - PG, PG, &freed), 0);
	ck_assert_uint_eq(freed, PG);
	ck_assert_uint_eq(resident(base + RAM_SIZE - PG, PG), 0);
}
END_TEST

static void ledger_sums(const struct guest_ram_ledger *l)
{
	ck_assert_uint_eq(l->resident_4k + l->resident_thp + l->resident_hugetlb + l->swapped +
				  l->ballooned + l->reported + l->untouched,
			  l->size);
}

/* The ledger: every byte once, each in the part its history says. */
START_TEST(t_ledger)
{
	struct guest_ram_ledger l;
	ck_assert_int_eq(guest_ram_ledger(gr, &l), 0);
	ledger_sums(&l);
	ck_assert_uint_eq(l.size, RAM_SIZE);
	ck_assert_uint_eq(l.resident_4k, RAM_SIZE); /* make() wrote every byte */
	ck_assert_uint_eq(l.ballooned + l.reported + l.untouched + l.resident_hugetlb, 0);
	ck_assert_int_ge(l.vmm_overhead, 0);
	/* 2 MiB to the balloon (one run of them through the runs call), 1 MiB
	 * to free page reporting, 1 MiB released otherwise. */
	ck_assert_int_eq(guest_ram_discard(gr, R1_GPA + MiB, MiB, NULL), 0);
	const struct guest_ram_run run = { 0, MiB };
	ck_assert_int_eq(guest_ram_discard_runs(gr, &run, 1, NULL), 0);
	ck_assert_int_eq(guest_ram_discard_reported(gr, 4 * MiB, MiB, NULL), 0);
	ck_assert_int_eq(madvise(base + 6 * MiB, MiB, MADV_DONTNEED), 0);
	ck_assert_int_eq(guest_ram_ledger(gr, &l), 0);
	ledger_sums(&l);
	ck_assert_uint_eq(l.ballooned, 2 * MiB);
	ck_assert_uint_eq(l.reported, MiB);
	ck_assert_uint_eq(l.untouched + l.swapped, MiB);
	ck_assert_uint_eq(l.resident_4k, RAM_SIZE - 4 * MiB);
	/* The guest uses half of the reported range again, and deflates the
	 * first ballooned megabyte: resident again, out of their parts. */
	memset(base + 4 * MiB, 1, MiB / 2);
	ck_assert_int_eq(guest_ram_reclaim(gr, 0, MiB), 0);
	ck_assert_int_eq(guest_ram_ledger(gr, &l), 0);
	ledger_sums(&l);
	ck_assert_uint_eq(l.reported, MiB / 2);
	ck_assert_uint_eq(l.ballooned, MiB);
	ck_assert_uint_eq(l.untouched + l.swapped, MiB + MiB); /* deflated, not touched yet */
	/* A reboot's clear forgets the balloon's and the reports' marks. */
	ck_assert_int_eq(guest_ram_clear(gr), 0);
	ck_assert_int_eq(guest_ram_ledger(gr, &l), 0);
	ledger_sums(&l);
	ck_assert_uint_eq(l.ballooned + l.reported, 0);
}
END_TEST

/* gpa, len refused by every op with `want`, nothing given back. */
static void refused(uint64_t gpa, uint64_t len, int want)
{
	const struct guest_ram_run run = { gpa, len };
	uint64_t freed = 7;
	ck_assert_msg(guest_ram_discard(gr, gpa, len, &freed) == want, "discard [%#llx, +%#llx)",
		      (unsigned long long)gpa, (unsigned long long)len);
	ck_assert_uint_eq(freed, 0);
	freed = 7;
	ck_assert_int_eq(guest_ram_discard_reported(gr, gpa, len, &freed), want);
	ck_assert_uint_eq(freed, 0);
	freed = 7;
	ck_assert_int_eq(guest_ram_discard_runs(gr, &run, 1, &freed), want);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(guest_ram_reclaim(gr, gpa, len), want);
	ck_assert_int_eq(guest_ram_ops.discard(gr, gpa, len, &freed), want);
	ck_assert_int_eq(guest_ram_ops.discard_runs(gr, &run, 1, &freed), want);
	ck_assert_int_eq(guest_ram_ops.discard_reported(gr, gpa, len, &freed), want);
	ck_assert_int_eq(guest_ram_ops.reclaim(gr, gpa, len), want);
}

START_TEST(t_ranges_checked)
{
	const uint64_t top = UINT64_MAX & ~(PG - 1);
	refused(R1_GPA + 100, PG, -EINVAL); /* unaligned */
	refused(R1_GPA, 100, -EINVAL);
	refused(8 * MiB - PG, 2 * PG, -EFAULT); /* off the end of region 0 */
	refused(8 * MiB, PG, -EFAULT);          /* in the hole */
	refused(32 * MiB, PG, -EFAULT);
	refused(R1_GPA - PG, 2 * PG, -EFAULT); /* from the hole into region 1 */
	refused(0, R1_END, -EFAULT);           /* across the hole */
	refused(R1_END - PG, 2 * PG, -EFAULT); /* off the end of RAM */
	refused(R1_END, PG, -EFAULT);
	refused(1ull << 40, PG, -EFAULT);
	refused(top, 2 * PG, -EFAULT); /* wrapping */
	refused(top, PG, -EFAULT);
	refused(R1_GPA, top, -EFAULT);
	refused(PG, top, -EFAULT);
	refused(8 * MiB + PG, 0, -EFAULT);                           /* empty, but in the hole */
	ck_assert_int_eq(guest_ram_discard(gr, R1_END, 0, NULL), 0); /* empty, at region 1's end */
	ck_assert_int_eq(guest_ram_discard(gr, 0, 0, NULL), 0);

	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE);
	ck_assert_uint_eq(discarded(), 0);
	ck_assert_int_eq(guest_ram_discard(NULL, 0, PG, NULL), -EINVAL);
	ck_assert_int_eq(guest_ram_clear(NULL), -EINVAL);
}
END_TEST

/* Regions back to back in gpa and in the block: a range across the seam
 * would be one contiguous range of the block, and is still refused. */
START_TEST(t_adjacent_regions)
{
	static const struct guest_ram_region adj[2] = {
		{ .gpa = 0, .len = 4 * MiB, .offset = 0 },
		{ .gpa = 4 * MiB, .len = 4 * MiB, .offset = 4 * MiB },
	};
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g = make(m, adj, 2, 8 * MiB, false);
	uint8_t *b = ram_base(guest_ram_block(g));
	const struct guest_ram_run runs[] = { { 4 * MiB - PG, PG }, { 4 * MiB, PG } };
	const struct guest_ram_run across = { 4 * MiB - PG, 2 * PG };
	uint64_t freed;

	ck_assert_uint_eq(guest_mem_count(m), 2);
	ck_assert_int_eq(guest_ram_discard(g, 4 * MiB - PG, 2 * PG, &freed), -EFAULT);
	ck_assert_int_eq(guest_ram_discard_runs(g, &across, 1, &freed), -EFAULT);
	ck_assert_uint_eq(resident(b, 8 * MiB), 8 * MiB);
	/* The same pages as one run per region: fine. */
	ck_assert_int_eq(guest_ram_discard_runs(g, runs, 2, &freed), 0);
	ck_assert_uint_eq(freed, 2 * PG);
	ck_assert_uint_eq(resident(b, 8 * MiB), 8 * MiB - 2 * PG);
	guest_ram_free(g);
	guest_mem_free(m);
}
END_TEST

/* A region that ends at the top of the address space: the checks do not
 * wrap there. */
START_TEST(t_region_at_the_top)
{
	const uint64_t gpa = 0 - 4 * MiB;
	const struct guest_ram_region top[1] = { { .gpa = gpa, .len = 4 * MiB, .offset = 0 } };
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g = make(m, top, 1, 4 * MiB, false);
	uint8_t *b = ram_base(guest_ram_block(g));
	uint64_t freed;

	ck_assert_int_eq(guest_ram_discard(g, UINT64_MAX - PG + 1, PG, &freed), 0);
	ck_assert_uint_eq(freed, PG);
	ck_assert_uint_eq(resident(b + 4 * MiB - PG, PG), 0);
	ck_assert_int_eq(guest_ram_discard(g, gpa, 4 * MiB + PG, &freed), -EFAULT);
	ck_assert_int_eq(guest_ram_discard(g, UINT64_MAX - PG + 1, 2 * PG, &freed), -EFAULT);
	ck_assert_int_eq(guest_ram_discard(g, gpa - PG, PG, &freed), -EFAULT);
	ck_assert_uint_eq(resident(b, 4 * MiB), 4 * MiB - PG);
	guest_ram_free(g);
	guest_mem_free(m);
}
END_TEST

START_TEST(t_discard_runs)
{
	const struct guest_ram_run runs[] = {
		{ PG, PG },
		{ 3 * PG, 2 * PG }, /* region 0 */
		{ R1_GPA, 64 * KiB },
		{ R1_END - PG, PG }, /* region 1 */
	};
	uint64_t freed = 7;
	ck_assert_int_eq(guest_ram_discard_runs(gr, runs, 4, &freed), 0);
	ck_assert_uint_eq(freed, 4 * PG + 64 * KiB);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE - 4 * PG - 64 * KiB);
	ck_assert_uint_eq(resident(base + PG, PG), 0);
	ck_assert_int_eq(base[2 * PG], 0x5a); /* between two runs */
	ck_assert_uint_eq(resident(base + 3 * PG, 2 * PG), 0);
	ck_assert_uint_eq(resident(base + 8 * MiB, 64 * KiB), 0);
	ck_assert_uint_eq(resident(base + RAM_SIZE - PG, PG), 0);
	ck_assert_int_eq(base[8 * MiB + 64 * KiB], 0x5a);
	ck_assert_int_eq(guest_ram_discard_runs(gr, runs, 0, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	uint64_t before = resident(base, RAM_SIZE);

	/* Every run is checked before any is discarded. */
	const struct guest_ram_run bad_last[] = { { 6 * MiB, PG }, { 8 * MiB - PG, 2 * PG } };
	ck_assert_int_eq(guest_ram_discard_runs(gr, bad_last, 2, &freed), -EFAULT);
	const struct guest_ram_run unsorted[] = { { R1_GPA + MiB, PG }, { 6 * MiB, PG } };
	ck_assert_int_eq(guest_ram_discard_runs(gr, unsorted, 2, &freed), -EINVAL);
	const struct guest_ram_run overlap[] = { { 6 * MiB, 2 * PG }, { 6 * MiB + PG, PG } };
	ck_assert_int_eq(guest_ram_discard_runs(gr, overlap, 2, &freed), -EINVAL);
	const struct guest_ram_run odd[] = { { 6 * MiB, PG }, { 6 * MiB + 2 * PG, 100 } };
	ck_assert_int_eq(guest_ram_discard_runs(gr, odd, 2, &freed), -EINVAL);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(guest_ram_discard_runs(gr, NULL, 1, &freed), -EINVAL);
	ck_assert_uint_eq(resident(base, RAM_SIZE), before);
	ck_assert_int_eq(base[6 * MiB], 0x5a);
}
END_TEST

/* More runs than one ram_discard_ranges() call takes: every one counted. */
START_TEST(t_discard_runs_large_batch)
{
	enum { N = 1000 };
	static struct guest_ram_run runs[N];
	uint64_t freed = 7;
	for (int i = 0; i < N; i++)
		runs[i] = (struct guest_ram_run){ R1_GPA + 2ull * PG * i, PG };
	/* Out of order only across calls: still refused, nothing done. */
	struct guest_ram_run last = runs[N - 1];
	runs[N - 1] = (struct guest_ram_run){ PG, PG };
	ck_assert_int_eq(guest_ram_discard_runs(gr, runs, N, &freed), -EINVAL);
	ck_assert_uint_eq(freed, 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE);
	runs[N - 1] = last;

	ck_assert_int_eq(guest_ram_ops.discard_runs(gr, runs, N, &freed), 0);
	ck_assert_uint_eq(freed, N * PG);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE - N * PG);
	for (int i = 0; i < N; i++) {
		uint8_t *p = base + 8 * MiB + 2ull * PG * i;
		ck_assert_uint_eq(resident(p, PG), 0);
		ck_assert_int_eq(p[PG], 0x5a);
	}
	ck_assert_uint_eq(discarded(), N * PG);
}
END_TEST

START_TEST(t_discard_reported)
{
	uint64_t freed = 7;
	ck_assert_int_eq(guest_ram_discard_reported(gr, R1_GPA + 2 * MiB, MiB, &freed), 0);
	ck_assert_uint_eq(freed, MiB);
	ck_assert_uint_eq(resident(base + 10 * MiB, MiB), 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE - MiB);
	ck_assert_int_eq(guest_ram_ops.discard_reported(gr, 0, 2 * PG, &freed), 0);
	ck_assert_uint_eq(freed, 2 * PG);
	ck_assert_int_eq(base[2 * PG], 0x5a);
	ck_assert_int_eq(base[0], 0);
}
END_TEST

/* Deflate gives nothing back and keeps the contents (on 4 KiB pages it only
 * checks the range; huge page bookkeeping is test_ram's and
 * test_discard_map's). */
START_TEST(t_reclaim)
{
	ck_assert_int_eq(guest_ram_reclaim(gr, R1_GPA, 8 * MiB), 0);
	ck_assert_int_eq(guest_ram_ops.reclaim(gr, 0, 8 * MiB), 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE);
	ck_assert_int_eq(base[8 * MiB], 0x5a);
	ck_assert_uint_eq(discarded(), 0);
	/* A discarded range reclaimed reads as zero and is there on touch. */
	ck_assert_int_eq(guest_ram_discard(gr, R1_GPA, PG, NULL), 0);
	ck_assert_int_eq(guest_ram_reclaim(gr, R1_GPA, PG), 0);
	ck_assert_int_eq(base[8 * MiB], 0);
	base[8 * MiB] = 1;
	ck_assert_uint_eq(resident(base + 8 * MiB, PG), PG);
}
END_TEST

/* ---- reboot ---- */

static bool all_zero(const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		if (v)
			return false;
	}
	return true;
}

/* Not preallocated: everything given back, all zero. */
START_TEST(t_clear)
{
	uint32_t v = 0;
	ck_assert_int_eq(guest_ram_discard(gr, R1_GPA, MiB, NULL), 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), RAM_SIZE - MiB);
	ck_assert_int_eq(guest_ram_clear(gr), 0);
	ck_assert_uint_eq(resident(base, RAM_SIZE), 0);
	ck_assert(all_zero(base, RAM_SIZE));
	ck_assert_int_eq(guest_mem_read(gm, R1_END - 4, &v, 4), 0);
	ck_assert_uint_eq(v, 0);
	/* Usable again. */
	memset(base, 1, RAM_SIZE);
	ck_assert_int_eq(guest_ram_clear(gr), 0);
	ck_assert(all_zero(base, RAM_SIZE));
}
END_TEST

/* Preallocated: zeroed in place, still all resident. */
START_TEST(t_clear_prealloc)
{
	struct guest_mem *m = guest_mem_new();
	struct guest_ram *g = make(m, layout, 2, RAM_SIZE, true);
	uint8_t *b = ram_base(guest_ram_block(g));
	ck_assert(ram_preallocated(guest_ram_block(g)));
	ck_assert_uint_eq(resident(b, RAM_SIZE), RAM_SIZE);
	memset(b, 0x5a, RAM_SIZE); /* what the old guest left */
	ck_assert_int_eq(guest_ram_clear(g), 0);
	ck_assert_uint_eq(resident(b, RAM_SIZE), RAM_SIZE);
	ck_assert(all_zero(b, RAM_SIZE));
	guest_ram_free(g);
	guest_mem_free(m);
}
END_TEST

/* A user's -mem-path file is data: a reboot leaves it alone, shared or
 * private, prealloc or not. */
START_TEST(t_clear_keeps_user_file)
{
	for (int shared = 0; shared <= 1; shared++) {
		for (int prealloc = 0; prealloc <= 1; prealloc++) {
			char path[] = "/tmp/memvm-test-ram-XXXXXX";
			int fd = mkstemp(path);
			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(ftruncate(fd, RAM_SIZE), 0);
			close(fd);
			struct guest_mem *m = guest_mem_new();
			struct ram_config c;
			struct guest_ram *g;
			char err[256] = "";
			ram_cfg(&c, RAM_SIZE);
			c.mem_path = path;
			c.shared = shared;
			c.prealloc = prealloc;
			c.prealloc_threads = 1;
			ck_assert_msg(guest_ram_new(&c, layout, 2, m, &g, err, sizeof(err)) == 0,
				      "%s", err);
			ck_assert(ram_user_file(guest_ram_block(g)));
			uint8_t *b = ram_base(guest_ram_block(g));
			memset(b, 0x5a, RAM_SIZE);
			ck_assert_int_eq(guest_ram_clear(g), 0);
			for (uint64_t off = 0; off < RAM_SIZE; off += 4096)
				ck_assert_msg(b[off] == 0x5a,
					      "shared=%d prealloc=%d: byte %llu is %u", shared,
					      prealloc, (unsigned long long)off, b[off]);
			guest_ram_free(g);
			guest_mem_free(m);
			unlink(path);
		}
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("guest_ram");
	TCase *tc = tcase_create("anon");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_regions_registered);
	tcase_add_test(tc, t_new_rejects_bad_regions);
	tcase_add_test(tc, t_new_leaves_gm_alone);
	tcase_add_test(tc, t_discard_frees);
	tcase_add_test(tc, t_ledger);
	tcase_add_test(tc, t_ranges_checked);
	tcase_add_test(tc, t_adjacent_regions);
	tcase_add_test(tc, t_region_at_the_top);
	tcase_add_test(tc, t_discard_runs);
	tcase_add_test(tc, t_discard_runs_large_batch);
	tcase_add_test(tc, t_discard_reported);
	tcase_add_test(tc, t_reclaim);
	tcase_add_test(tc, t_clear);
	tcase_add_test(tc, t_clear_prealloc);
	tcase_add_test(tc, t_clear_keeps_user_file);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
