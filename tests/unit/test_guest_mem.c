/* Unit tests for memory/guest_mem.c: the gpa -> hva region registry. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "tests/unit/unit_util.h"

/* add/ptr/find never dereference hva, so fake addresses are fine there. */
#define FAKE(x) ((void *)(uintptr_t)(x))

static struct guest_mem *gm;

static void setup(void)
{
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
}

static void teardown(void)
{
	guest_mem_free(gm);
	gm = NULL;
}

static void region_add(uint64_t gpa, uint64_t size, void *hva)
{
	int r = guest_mem_add(gm, gpa, size, hva, NULL);
	ck_assert_msg(r == 0, "add [%#llx, +%#llx) = %d", (unsigned long long)gpa,
		      (unsigned long long)size, r);
}

START_TEST(empty_map)
{
	ck_assert_uint_eq(guest_mem_count(gm), 0);
	ck_assert_uint_eq(guest_mem_total(gm), 0);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0, 0));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0, 1));
	ck_assert_ptr_null(guest_mem_find(gm, 0));
	ck_assert_ptr_null(guest_mem_region(gm, 0));
	uint8_t b = 0x5a;
	ck_assert_int_eq(guest_mem_read(gm, 0, &b, 1), -EFAULT);
	ck_assert_int_eq(guest_mem_write(gm, 0, &b, 1), -EFAULT);
	ck_assert_uint_eq(b, 0x5a);
	/* NULL map is tolerated by the accessors that say so. */
	ck_assert_uint_eq(guest_mem_count(NULL), 0);
	ck_assert_ptr_null(guest_mem_region(NULL, 0));
	ck_assert_ptr_null(guest_mem_find(NULL, 0));
	ck_assert_uint_eq(guest_mem_total(NULL), 0);
}
END_TEST

START_TEST(lookup_at_edges)
{
	uint8_t *h = FAKE(0x7f0000000000);
	region_add(0x100000, 0x2000, h);

	/* First byte, last byte, one past the end, one before the start. */
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x100000, 1), h);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x101fff, 1), h + 0x1fff);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x102000, 1));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x0fffff, 1));
	/* The whole region in one lookup, and one byte more. */
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x100000, 0x2000), h);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x100000, 0x2001));
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x101000, 0x1000), h + 0x1000);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x101000, 0x1001));
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x101ffc, 4), h + 0x1ffc);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x101ffd, 4));
	/* Starting before the region is not rescued by ending inside it. */
	ck_assert_ptr_null(guest_mem_ptr(gm, 0xffffc, 8));

	const struct guest_region *r = guest_mem_find(gm, 0x101fff);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->gpa, 0x100000);
	ck_assert_uint_eq(r->size, 0x2000);
	ck_assert_ptr_eq(r->hva, h);
	ck_assert_ptr_eq(guest_mem_find(gm, 0x100000), r);
	ck_assert_ptr_null(guest_mem_find(gm, 0x102000));
	ck_assert_ptr_null(guest_mem_find(gm, 0xfffff));
}
END_TEST

START_TEST(len_zero)
{
	uint8_t *h = FAKE(0x10000000);
	region_add(0x1000, 0x1000, h);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x1000, 0), h);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x1fff, 0), h + 0xfff);
	/* len 0 still needs gpa inside a region. */
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x2000, 0));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0xfff, 0));
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX, 0));
}
END_TEST

START_TEST(never_crosses_regions)
{
	uint8_t *a = FAKE(0x10000000), *b = FAKE(0x20000000);
	/* Adjacent in guest space, unrelated on the host. */
	region_add(0x0, 0x1000, a);
	region_add(0x1000, 0x1000, b);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0xfff, 1), a + 0xfff);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x1000, 1), b);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0xfff, 2));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x0, 0x2000));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x800, 0x1000));
	ck_assert_ptr_eq(guest_mem_ptr(gm, 0x1800, 0x800), b + 0x800);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x1800, 0x801));
}
END_TEST

START_TEST(overlap_rejected)
{
	uint32_t slot = 77;
	region_add(0x10000, 0x10000, FAKE(0x1000)); /* [0x10000, 0x20000) */
	static const struct {
		uint64_t gpa, size;
	} bad[] = {
		{ 0x10000, 0x10000 }, /* exact */
		{ 0x8000, 0x8001 },   /* overlaps the first byte */
		{ 0x1ffff, 0x10 },    /* overlaps the last byte */
		{ 0x18000, 0x10000 }, /* tail */
		{ 0x0, 0x100000 },    /* contains it */
		{ 0x14000, 0x1000 },  /* contained */
		{ 0x10000, 1 },       /* first byte alone */
		{ 0x1ffff, 1 },       /* last byte alone */
		{ 0x0, UINT64_MAX },  /* everything */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = guest_mem_add(gm, bad[i].gpa, bad[i].size, FAKE(0x2000), &slot);
		ck_assert_msg(r == -EEXIST, "[%#llx,+%#llx) gave %d",
			      (unsigned long long)bad[i].gpa, (unsigned long long)bad[i].size, r);
	}
	/* Failed adds change nothing and consume no slot number. */
	ck_assert_uint_eq(slot, 77);
	ck_assert_uint_eq(guest_mem_count(gm), 1);
	ck_assert_uint_eq(guest_mem_total(gm), 0x10000);
	ck_assert_int_eq(guest_mem_add(gm, 0x20000, 0x1000, FAKE(0x3000), &slot), 0);
	ck_assert_uint_eq(slot, 1);
}
END_TEST

START_TEST(overlap_with_neighbours)
{
	/* Overlap detection must look at both neighbours of the insertion point. */
	region_add(0x10000, 0x1000, FAKE(1));
	region_add(0x30000, 0x1000, FAKE(2));
	region_add(0x50000, 0x1000, FAKE(3));
	ck_assert_int_eq(guest_mem_add(gm, 0x30fff, 0x2, FAKE(4), NULL), -EEXIST);
	ck_assert_int_eq(guest_mem_add(gm, 0x2f000, 0x1001, FAKE(4), NULL), -EEXIST);
	ck_assert_int_eq(guest_mem_add(gm, 0x20000, 0x40000, FAKE(4), NULL), -EEXIST);
	ck_assert_int_eq(guest_mem_add(gm, 0x11000, 0x1f000, FAKE(4), NULL), 0);
	ck_assert_int_eq(guest_mem_add(gm, 0x31000, 0x1f000, FAKE(4), NULL), 0);
	ck_assert_uint_eq(guest_mem_count(gm), 5);
}
END_TEST

START_TEST(adjacent_accepted)
{
	region_add(0x2000, 0x1000, FAKE(0x2000));
	region_add(0x1000, 0x1000, FAKE(0x1000)); /* ends right where the first starts */
	region_add(0x3000, 0x1000, FAKE(0x3000)); /* starts right after */
	ck_assert_uint_eq(guest_mem_count(gm), 3);
	ck_assert_uint_eq(guest_mem_total(gm), 0x3000);
	for (uint64_t g = 0x1000; g < 0x4000; g += 0x800)
		ck_assert_ptr_eq(guest_mem_ptr(gm, g, 0x800), FAKE(g));
}
END_TEST

START_TEST(sorted_regardless_of_order)
{
	/* Insert 0..63 in a scrambled order (17 is coprime to 64). */
	for (unsigned i = 0; i < GUEST_MEM_MAX_REGIONS; i++) {
		unsigned k = (i * 17 + 5) % GUEST_MEM_MAX_REGIONS;
		uint32_t slot = 999;
		ck_assert_int_eq(guest_mem_add(gm, (uint64_t)k << 20, 0x1000 * (k + 1),
					       FAKE(0x1000000 + k), &slot),
				 0);
		ck_assert_uint_eq(slot, i); /* slots follow insertion order */
	}
	ck_assert_uint_eq(guest_mem_count(gm), GUEST_MEM_MAX_REGIONS);
	for (unsigned k = 0; k < GUEST_MEM_MAX_REGIONS; k++) {
		const struct guest_region *r = guest_mem_region(gm, k);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->gpa, (uint64_t)k << 20);
		ck_assert_uint_eq(r->size, 0x1000 * (k + 1));
		ck_assert_ptr_eq(r->hva, FAKE(0x1000000 + k));
		/* Inverse of k = i*17+5 mod 64: i = (k-5)*17^-1; 17*49 = 833 = 13*64+1. */
		ck_assert_uint_eq(r->slot, ((k + 64 - 5) * 49) % 64);
		/* Every region is found through the binary search. */
		ck_assert_ptr_eq(guest_mem_find(gm, r->gpa + r->size - 1), r);
		ck_assert_ptr_null(guest_mem_find(gm, r->gpa + r->size));
	}
	ck_assert_ptr_null(guest_mem_region(gm, GUEST_MEM_MAX_REGIONS));
	/* Sum of 0x1000 * (1 + 2 + ... + 64). */
	ck_assert_uint_eq(guest_mem_total(gm), 0x1000ull * 64 * 65 / 2);
}
END_TEST

START_TEST(slots_in_insertion_order)
{
	uint32_t s0 = 99, s1 = 99, s2 = 99;
	ck_assert_int_eq(guest_mem_add(gm, 0x300000, 0x1000, FAKE(3), &s0), 0);
	ck_assert_int_eq(guest_mem_add(gm, 0x100000, 0x1000, FAKE(1), &s1), 0);
	ck_assert_int_eq(guest_mem_add(gm, 0x200000, 0x1000, FAKE(2), NULL), 0);
	ck_assert_int_eq(guest_mem_add(gm, 0x000000, 0x1000, FAKE(4), &s2), 0);
	ck_assert_uint_eq(s0, 0);
	ck_assert_uint_eq(s1, 1);
	ck_assert_uint_eq(s2, 3);
	ck_assert_uint_eq(guest_mem_region(gm, 0)->slot, 3);
	ck_assert_uint_eq(guest_mem_region(gm, 1)->slot, 1);
	ck_assert_uint_eq(guest_mem_region(gm, 2)->slot, 2);
	ck_assert_uint_eq(guest_mem_region(gm, 3)->slot, 0);
}
END_TEST

START_TEST(invalid_adds)
{
	uint32_t slot = 5;
	ck_assert_int_eq(guest_mem_add(gm, 0x1000, 0, FAKE(1), &slot), -EINVAL);
	ck_assert_int_eq(guest_mem_add(gm, 0x1000, 0x1000, NULL, &slot), -EINVAL);
	ck_assert_int_eq(guest_mem_add(NULL, 0x1000, 0x1000, FAKE(1), &slot), -EINVAL);
	/* Ranges that wrap past 2^64. */
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX, 2, FAKE(1), &slot), -EINVAL);
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX - 0xfff, 0x1001, FAKE(1), &slot), -EINVAL);
	ck_assert_int_eq(guest_mem_add(gm, 2, UINT64_MAX, FAKE(1), &slot), -EINVAL);
	ck_assert_int_eq(
		guest_mem_add(gm, 0x8000000000000000ull, 0x8000000000000001ull, FAKE(1), &slot),
		-EINVAL);
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX, UINT64_MAX, FAKE(1), &slot), -EINVAL);
	ck_assert_uint_eq(slot, 5);
	ck_assert_uint_eq(guest_mem_count(gm), 0);
}
END_TEST

START_TEST(region_at_top_of_space)
{
	uint8_t *h = FAKE(0x40000000);
	uint32_t slot = 9;
	/* [2^64 - 0x1000, 2^64): last byte is UINT64_MAX. */
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX - 0xfff, 0x1000, h, &slot), 0);
	ck_assert_uint_eq(slot, 0);
	ck_assert_ptr_eq(guest_mem_ptr(gm, UINT64_MAX, 1), h + 0xfff);
	ck_assert_ptr_eq(guest_mem_ptr(gm, UINT64_MAX, 0), h + 0xfff);
	ck_assert_ptr_eq(guest_mem_ptr(gm, UINT64_MAX - 0xfff, 0x1000), h);
	/* gpa + len overflows: must be NULL, not a wrapped-around success. */
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX, 2));
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX - 0xfff, 0x1001));
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX - 0x10, UINT64_MAX));
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX, UINT64_MAX));
	/* A single byte at the very top. */
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX, 1, h, NULL), -EEXIST);
	ck_assert_uint_eq(guest_mem_count(gm), 1);

	/* Also with a region of one byte at UINT64_MAX on its own. */
	teardown();
	setup();
	ck_assert_int_eq(guest_mem_add(gm, UINT64_MAX, 1, h, NULL), 0);
	ck_assert_ptr_eq(guest_mem_ptr(gm, UINT64_MAX, 1), h);
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX, 2));
	ck_assert_ptr_null(guest_mem_ptr(gm, UINT64_MAX - 1, 1));
	/* The largest possible region: [1, 2^64). Only small offsets go through
	 * guest_mem_ptr: hva + 2^63 or more is pointer overflow to UBSan. */
	teardown();
	setup();
	ck_assert_int_eq(guest_mem_add(gm, 1, UINT64_MAX, FAKE(1), NULL), 0);
	const struct guest_region *r = guest_mem_find(gm, UINT64_MAX);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->gpa, 1);
	ck_assert_uint_eq(r->size, UINT64_MAX);
	ck_assert_ptr_null(guest_mem_find(gm, 0));
	ck_assert_uint_eq((uintptr_t)guest_mem_ptr(gm, 0x1234, 1), 0x1234);
	ck_assert_ptr_eq(guest_mem_ptr(gm, 1, UINT64_MAX), FAKE(1));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0, 1));
	ck_assert_ptr_null(guest_mem_ptr(gm, 2, UINT64_MAX));
	ck_assert_uint_eq(guest_mem_total(gm), UINT64_MAX);
}
END_TEST

START_TEST(ptr_len_overflow_low_region)
{
	uint8_t *h = FAKE(0x40000000);
	region_add(0x1000, 0x1000, h);
	/* gpa + len wraps to a small number that would look "in range". */
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x1800, UINT64_MAX));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x1800, UINT64_MAX - 0x17ff));
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x1000, (uint64_t)1 << 63));
}
END_TEST

START_TEST(read_write_copy)
{
	uint8_t *a = malloc(0x1000), *b = malloc(0x1000);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	memset(a, 0xaa, 0x1000);
	memset(b, 0xbb, 0x1000);
	region_add(0x10000, 0x1000, a);
	region_add(0x11000, 0x1000, b);

	uint8_t src[16], dst[16];
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(guest_mem_write(gm, 0x10ff0, src, sizeof(src)), 0);
	ck_assert_mem_eq(a + 0xff0, src, sizeof(src));
	ck_assert_uint_eq(a[0xfef], 0xaa);
	ck_assert_uint_eq(b[0], 0xbb);
	memset(dst, 0, sizeof(dst));
	ck_assert_int_eq(guest_mem_read(gm, 0x10ff0, dst, sizeof(dst)), 0);
	ck_assert_mem_eq(dst, src, sizeof(src));

	/* Second region, offset inside. */
	ck_assert_int_eq(guest_mem_write(gm, 0x11123, src, 3), 0);
	ck_assert_mem_eq(b + 0x123, src, 3);
	ck_assert_uint_eq(b[0x122], 0xbb);
	ck_assert_uint_eq(b[0x126], 0xbb);

	/* Straddling the two regions: -EFAULT, nothing written on either side. */
	memset(a, 0xaa, 0x1000);
	memset(b, 0xbb, 0x1000);
	ck_assert_int_eq(guest_mem_write(gm, 0x10ff8, src, sizeof(src)), -EFAULT);
	for (unsigned i = 0; i < 0x1000; i++) {
		ck_assert_uint_eq(a[i], 0xaa);
		ck_assert_uint_eq(b[i], 0xbb);
	}
	/* ... and nothing read into dst either. */
	memset(dst, 0x55, sizeof(dst));
	ck_assert_int_eq(guest_mem_read(gm, 0x10ff8, dst, sizeof(dst)), -EFAULT);
	for (unsigned i = 0; i < sizeof(dst); i++)
		ck_assert_uint_eq(dst[i], 0x55);
	/* Past the end of the map, and before it. */
	ck_assert_int_eq(guest_mem_write(gm, 0x11ffc, src, 8), -EFAULT);
	ck_assert_uint_eq(b[0xffc], 0xbb);
	ck_assert_int_eq(guest_mem_read(gm, 0x12000, dst, 1), -EFAULT);
	ck_assert_int_eq(guest_mem_write(gm, 0xfffc, src, 8), -EFAULT);
	ck_assert_uint_eq(a[0], 0xaa);
	/* Exactly the last bytes of the map. */
	ck_assert_int_eq(guest_mem_write(gm, 0x11ff8, src, 8), 0);
	ck_assert_mem_eq(b + 0xff8, src, 8);
	/* A whole region at once. */
	ck_assert_int_eq(guest_mem_read(gm, 0x10000, b, 0x1000), 0);
	ck_assert_uint_eq(b[0], 0xaa);
	ck_assert_uint_eq(b[0xfff], 0xaa);
	/* len 0 inside a region succeeds and copies nothing. */
	ck_assert_int_eq(guest_mem_write(gm, 0x10000, src, 0), 0);
	ck_assert_uint_eq(a[0], 0xaa);
	ck_assert_int_eq(guest_mem_read(gm, 0x12000, dst, 0), -EFAULT);

	free(a);
	free(b);
}
END_TEST

/* A region whose faults can fail: two pages of a memfd holding one. The
 * second page lies past the end of the file, where a touch is SIGBUS;
 * with populate set, accesses there fail with -ENOMEM instead. */
START_TEST(populate_turns_sigbus_into_enomem)
{
	uint8_t *p = unit_map_half_backed();
	ck_assert_int_eq(guest_mem_add(gm, 0x100000, 8192, p, NULL), 0);
	ck_assert_int_eq(guest_mem_set_populate(gm, 0x100000, 4096), 0);

	uint8_t buf[16] = { 1, 2, 3 };
	void *hva;
	ck_assert_int_eq(guest_mem_access(gm, 0x100ff0, 16, &hva), 0);
	ck_assert_ptr_eq(hva, p + 0xff0);
	ck_assert_int_eq(guest_mem_write(gm, 0x100000, buf, sizeof(buf)), 0);
	ck_assert_int_eq(p[2], 3);
	/* Straddling into the missing page fails as a whole. */
	ck_assert_int_eq(guest_mem_access(gm, 0x100ff8, 16, &hva), -ENOMEM);
	ck_assert_ptr_null(hva);
	ck_assert_int_eq(guest_mem_write(gm, 0x101000, buf, sizeof(buf)), -ENOMEM);
	ck_assert_int_eq(guest_mem_read(gm, 0x101800, buf, sizeof(buf)), -ENOMEM);
	ck_assert_ptr_null(guest_mem_ptr(gm, 0x101000, 1));
	/* Outside RAM stays -EFAULT; len 0 checks the address only. */
	ck_assert_int_eq(guest_mem_access(gm, 0x102000, 1, &hva), -EFAULT);
	ck_assert_int_eq(guest_mem_access(gm, 0x101000, 0, &hva), 0);

	munmap(p, 8192);
}
END_TEST

START_TEST(set_populate_checks)
{
	static uint8_t ram[8192];
	ck_assert_int_eq(guest_mem_add(gm, 0x1000, sizeof(ram), ram, NULL), 0);
	ck_assert_int_eq(guest_mem_set_populate(gm, 0x2000, 4096), -ENOENT);
	ck_assert_int_eq(guest_mem_set_populate(gm, 0x1000, 3000), -EINVAL);
	ck_assert_int_eq(guest_mem_set_populate(gm, 0x1000, 2048), -EINVAL);
	ck_assert_int_eq(guest_mem_set_populate(NULL, 0x1000, 4096), -EINVAL);
	ck_assert_int_eq(guest_mem_set_populate(gm, 0x1000, 4096), 0);
	ck_assert_uint_eq(guest_mem_find(gm, 0x1000)->populate_page, 4096);
}
END_TEST

START_TEST(table_full)
{
	for (unsigned i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
		region_add((uint64_t)i * 0x2000, 0x1000, FAKE(0x1000 + i));
	uint32_t slot = 1234;
	ck_assert_int_eq(guest_mem_add(gm, 0x10000000, 0x1000, FAKE(1), &slot), -ENOSPC);
	ck_assert_int_eq(guest_mem_add(gm, 0x1000, 0x1000, FAKE(1), &slot), -ENOSPC);
	ck_assert_uint_eq(slot, 1234);
	ck_assert_uint_eq(guest_mem_count(gm), GUEST_MEM_MAX_REGIONS);
	ck_assert_uint_eq(guest_mem_total(gm), GUEST_MEM_MAX_REGIONS * 0x1000ull);
	/* The last region is still intact and found. */
	uint64_t last = (GUEST_MEM_MAX_REGIONS - 1) * 0x2000ull;
	ck_assert_ptr_eq(guest_mem_ptr(gm, last + 0xfff, 1),
			 (uint8_t *)FAKE(0x1000 + GUEST_MEM_MAX_REGIONS - 1) + 0xfff);
}
END_TEST

START_TEST(total_sums_sizes)
{
	region_add(0x0, 0xa0000, FAKE(1));
	ck_assert_uint_eq(guest_mem_total(gm), 0xa0000);
	region_add(0x100000, 0x7ff00000, FAKE(2));
	ck_assert_uint_eq(guest_mem_total(gm), 0xa0000 + 0x7ff00000ull);
	region_add(0x100000000ull, 0x180000000ull, FAKE(3));
	ck_assert_uint_eq(guest_mem_total(gm), 0xa0000 + 0x7ff00000ull + 0x180000000ull);
	ck_assert_uint_eq(guest_mem_count(gm), 3);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("guest_mem");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, empty_map);
	tcase_add_test(tc, lookup_at_edges);
	tcase_add_test(tc, len_zero);
	tcase_add_test(tc, never_crosses_regions);
	tcase_add_test(tc, overlap_rejected);
	tcase_add_test(tc, overlap_with_neighbours);
	tcase_add_test(tc, adjacent_accepted);
	tcase_add_test(tc, sorted_regardless_of_order);
	tcase_add_test(tc, slots_in_insertion_order);
	tcase_add_test(tc, invalid_adds);
	tcase_add_test(tc, region_at_top_of_space);
	tcase_add_test(tc, ptr_len_overflow_low_region);
	tcase_add_test(tc, read_write_copy);
	tcase_add_test(tc, table_full);
	tcase_add_test(tc, populate_turns_sigbus_into_enomem);
	tcase_add_test(tc, set_populate_checks);
	tcase_add_test(tc, total_sums_sizes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
