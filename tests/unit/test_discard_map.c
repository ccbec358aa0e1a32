/* memory/discard_map.c: which huge pages a run of balloon discards
 * completes, deflate, and what a failed release leaves behind (no huge
 * pages needed: the map only does the bookkeeping). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "memory/discard_map.h"
#include "tests/unit/check_main.h"

#define KiB  1024ull
#define MiB  (1024ull * KiB)
#define HUGE (2 * MiB)

/* ---- a release callback that records its calls ---- */

struct call {
	uint64_t first, n;
};
static struct call calls[16];
static int ncalls;
static int fail_calls; /* the next this many calls fail with -EIO */

static int record(void *opaque, uint64_t first, uint64_t n)
{
	ck_assert_ptr_eq(opaque, calls);
	ck_assert_int_lt(ncalls, 16);
	calls[ncalls++] = (struct call){ first, n };
	if (fail_calls) {
		fail_calls--;
		return -EIO;
	}
	return 0;
}

static struct discard_map *m;

static void setup(void)
{
	ncalls = 0;
	fail_calls = 0;
	ck_assert_int_eq(discard_map_new(3 * HUGE, HUGE, &m), 0);
	ck_assert_ptr_nonnull(m);
}

static void teardown(void)
{
	discard_map_free(m);
	m = NULL;
}

static int mark(uint64_t off, uint64_t len)
{
	ncalls = 0;
	return discard_map_mark(m, off, len, record, calls);
}

static void assert_call(int i, uint64_t first, uint64_t n)
{
	ck_assert_int_gt(ncalls, i);
	ck_assert_uint_eq(calls[i].first, first);
	ck_assert_uint_eq(calls[i].n, n);
}

START_TEST(t_new_validates)
{
	struct discard_map *x = (struct discard_map *)&x;
	ck_assert_int_eq(discard_map_new(HUGE, 4 * KiB, &x), -EINVAL); /* less than 64 parts */
	ck_assert_ptr_null(x);
	ck_assert_int_eq(discard_map_new(HUGE, 0, &x), -EINVAL);
	ck_assert_int_eq(discard_map_new(3 * MiB, HUGE, &x), -EINVAL); /* not whole pages */
	ck_assert_int_eq(discard_map_new(0, HUGE, &x), 0);             /* empty but valid */
	discard_map_free(x);
	discard_map_free(NULL);
}
END_TEST

/* A page goes once all of its parts have, in any number of pieces, and
 * only once. */
START_TEST(t_page_released_when_complete)
{
	ck_assert_int_eq(mark(0, MiB), 0);
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(mark(MiB, MiB - 4 * KiB), 0);
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(mark(HUGE - 4 * KiB, 4 * KiB), 0);
	ck_assert_int_eq(ncalls, 1);
	assert_call(0, 0, 1);
	ck_assert_int_eq(mark(0, HUGE), 0); /* already released */
	ck_assert_int_eq(ncalls, 0);
	/* Pages 1 and 2 in one call: one run. */
	ck_assert_int_eq(mark(HUGE, 2 * HUGE), 0);
	ck_assert_int_eq(ncalls, 1);
	assert_call(0, 1, 2);
	ck_assert_int_eq(mark(4 * KiB, 4 * KiB), 0); /* repeats and len 0: nothing */
	ck_assert_int_eq(mark(0, 0), 0);
	ck_assert_int_eq(ncalls, 0);
}
END_TEST

/* A page complete before the call splits the run around it. */
START_TEST(t_runs_split_around_released_page)
{
	ck_assert_int_eq(mark(HUGE, HUGE), 0);
	assert_call(0, 1, 1);
	ck_assert_int_eq(mark(0, 3 * HUGE), 0);
	ck_assert_int_eq(ncalls, 2);
	assert_call(0, 0, 1);
	assert_call(1, 2, 1);
}
END_TEST

/* Deflate: a reclaimed part keeps its page until it is discarded again. */
START_TEST(t_clear_keeps_page)
{
	ck_assert_int_eq(mark(0, HUGE - 4 * KiB), 0);
	discard_map_clear(m, 4 * KiB, 4 * KiB);
	ck_assert_int_eq(mark(HUGE - 4 * KiB, 4 * KiB), 0);
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(mark(4 * KiB, 4 * KiB), 0);
	ck_assert_int_eq(ncalls, 1);
	assert_call(0, 0, 1);
	/* Clearing a released page makes it releasable again (reboot). */
	discard_map_clear(m, 0, 3 * HUGE);
	ck_assert_int_eq(mark(0, HUGE), 0);
	assert_call(0, 0, 1);
}
END_TEST

/* A failed release forgets the pages it was given, so the next discard
 * retries them instead of believing they are gone. */
START_TEST(t_failed_release_forgets)
{
	fail_calls = 1;
	ck_assert_int_eq(mark(0, HUGE), -EIO);
	assert_call(0, 0, 1);
	ck_assert_int_eq(mark(0, 4 * KiB), 0); /* only this part is known now */
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(mark(0, HUGE), 0);
	assert_call(0, 0, 1);
}
END_TEST

/* Failing on the first of two runs: marking stops at the page that
 * started the second run, which is forgotten too; page 1 (released
 * before) is not touched. */
START_TEST(t_failed_release_stops)
{
	ck_assert_int_eq(mark(HUGE, HUGE), 0);
	fail_calls = 1;
	ck_assert_int_eq(mark(0, 3 * HUGE), -EIO);
	ck_assert_int_eq(ncalls, 1);
	assert_call(0, 0, 1);
	ck_assert_int_eq(mark(HUGE, HUGE), 0);
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(mark(2 * HUGE + 4 * KiB, HUGE - 4 * KiB), 0);
	ck_assert_int_eq(ncalls, 0); /* page 2's first part was forgotten */
	ck_assert_int_eq(mark(0, 3 * HUGE), 0);
	ck_assert_int_eq(ncalls, 2);
	assert_call(0, 0, 1);
	assert_call(1, 2, 1);
}
END_TEST

START_TEST(t_gigantic_pages)
{
	struct discard_map *g;
	ck_assert_int_eq(discard_map_new(2 * 1024 * MiB, 1024 * MiB, &g), 0);
	ncalls = 0;
	ck_assert_int_eq(discard_map_mark(g, 0, 1024 * MiB - 4 * KiB, record, calls), 0);
	ck_assert_int_eq(ncalls, 0);
	ck_assert_int_eq(discard_map_mark(g, 1024 * MiB - 4 * KiB, 8 * KiB, record, calls), 0);
	ck_assert_int_eq(ncalls, 1);
	assert_call(0, 0, 1);
	discard_map_free(g);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("discard_map");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_new_validates);
	tcase_add_test(tc, t_page_released_when_complete);
	tcase_add_test(tc, t_runs_split_around_released_page);
	tcase_add_test(tc, t_clear_keeps_page);
	tcase_add_test(tc, t_failed_release_forgets);
	tcase_add_test(tc, t_failed_release_stops);
	tcase_add_test(tc, t_gigantic_pages);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
