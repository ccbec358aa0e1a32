/* Unit tests for devices/bus.c: PIO/MMIO range registry and dispatch. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "devices/bus.h"
#include "tests/unit/check_main.h"

/* A device that records its last access and answers reads with a pattern
 * derived from its id and the offset. */
struct mock {
	unsigned id;
	unsigned reads, writes;
	uint64_t last_off;
	uint32_t last_len;
	uint8_t last_data[8];
};

static uint8_t pattern(unsigned id, uint64_t off, uint32_t i)
{
	return (uint8_t)(id * 31 + off * 7 + i + 1);
}

static void mock_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct mock *m = dev;
	m->reads++;
	m->last_off = off;
	m->last_len = len;
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)data)[i] = pattern(m->id, off, i);
}

static void mock_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct mock *m = dev;
	m->writes++;
	m->last_off = off;
	m->last_len = len;
	memcpy(m->last_data, data, len < 8 ? len : 8);
}

static const struct bus_ops mock_ops = { .name = "mock", .read = mock_read, .write = mock_write };
static const struct bus_ops ro_ops = { .name = "ro", .read = mock_read };
static const struct bus_ops wo_ops = { .name = "wo", .write = mock_write };

static struct bus *bus;

static void setup(void)
{
	bus = bus_new("test");
	ck_assert_ptr_nonnull(bus);
}

static void teardown(void)
{
	bus_free(bus);
	bus = NULL;
}

START_TEST(dispatch_with_relative_offsets)
{
	struct mock a = { .id = 1 }, b = { .id = 2 };
	ck_assert_int_eq(bus_register(bus, 0x3f8, 8, &mock_ops, &a), 0);
	ck_assert_int_eq(bus_register(bus, 0x1000, 0x100, &mock_ops, &b), 0);
	ck_assert_uint_eq(bus_count(bus), 2);

	uint8_t v = 0;
	ck_assert_int_eq(bus_read(bus, 0x3fd, &v, 1), 0);
	ck_assert_uint_eq(a.reads, 1);
	ck_assert_uint_eq(a.last_off, 5);
	ck_assert_uint_eq(a.last_len, 1);
	ck_assert_uint_eq(v, pattern(1, 5, 0));
	ck_assert_uint_eq(b.reads, 0);

	uint32_t w = 0xdeadbeef;
	ck_assert_int_eq(bus_write(bus, 0x1080, &w, 4), 0);
	ck_assert_uint_eq(b.writes, 1);
	ck_assert_uint_eq(b.last_off, 0x80);
	ck_assert_uint_eq(b.last_len, 4);
	ck_assert_mem_eq(b.last_data, &w, 4);
	ck_assert_uint_eq(a.writes, 0);

	uint64_t q = 0;
	ck_assert_int_eq(bus_read(bus, 0x10f8, &q, 8), 0);
	ck_assert_uint_eq(b.last_off, 0xf8);
	ck_assert_uint_eq(b.last_len, 8);
	uint8_t *qb = (uint8_t *)&q;
	for (uint32_t i = 0; i < 8; i++)
		ck_assert_uint_eq(qb[i], pattern(2, 0xf8, i));
}
END_TEST

START_TEST(edges_of_a_range)
{
	struct mock a = { .id = 3 };
	ck_assert_int_eq(bus_register(bus, 0x100, 0x10, &mock_ops, &a), 0);
	uint8_t v;

	/* First and last byte. */
	ck_assert_int_eq(bus_read(bus, 0x100, &v, 1), 0);
	ck_assert_uint_eq(a.last_off, 0);
	ck_assert_int_eq(bus_read(bus, 0x10f, &v, 1), 0);
	ck_assert_uint_eq(a.last_off, 0xf);
	ck_assert_uint_eq(a.reads, 2);

	/* One before and one past. */
	v = 0;
	ck_assert_int_eq(bus_read(bus, 0xff, &v, 1), -ENOENT);
	ck_assert_uint_eq(v, 0xff);
	v = 0;
	ck_assert_int_eq(bus_read(bus, 0x110, &v, 1), -ENOENT);
	ck_assert_uint_eq(v, 0xff);
	ck_assert_int_eq(bus_write(bus, 0xff, &v, 1), -ENOENT);
	ck_assert_int_eq(bus_write(bus, 0x110, &v, 1), -ENOENT);
	ck_assert_uint_eq(a.reads, 2);
	ck_assert_uint_eq(a.writes, 0);

	/* A 4-byte access ending exactly at the last byte fits. */
	uint32_t d = 0;
	ck_assert_int_eq(bus_read(bus, 0x10c, &d, 4), 0);
	ck_assert_uint_eq(a.last_off, 0xc);
	ck_assert_int_eq(bus_write(bus, 0x10c, &d, 4), 0);
	ck_assert_uint_eq(a.writes, 1);
}
END_TEST

START_TEST(straddling_access_rejected)
{
	struct mock a = { .id = 4 }, b = { .id = 5 };
	ck_assert_int_eq(bus_register(bus, 0x100, 0x10, &mock_ops, &a), 0);
	ck_assert_int_eq(bus_register(bus, 0x110, 0x10, &mock_ops, &b), 0);

	/* Crosses from a into b: neither device sees it. */
	uint32_t d = 0x12345678;
	ck_assert_int_eq(bus_read(bus, 0x10e, &d, 4), -ENOENT);
	ck_assert_uint_eq(d, 0xffffffff);
	ck_assert_int_eq(bus_write(bus, 0x10e, &d, 4), -ENOENT);
	/* Crosses the end of b into nothing. */
	uint64_t q = 0;
	ck_assert_int_eq(bus_read(bus, 0x11c, &q, 8), -ENOENT);
	ck_assert_uint_eq(q, UINT64_MAX);
	/* Starts before a. */
	uint16_t h = 0;
	ck_assert_int_eq(bus_read(bus, 0xff, &h, 2), -ENOENT);
	ck_assert_uint_eq(h, 0xffff);
	ck_assert_uint_eq(a.reads + a.writes + b.reads + b.writes, 0);

	/* An access larger than the whole device. */
	struct mock c = { .id = 6 };
	ck_assert_int_eq(bus_register(bus, 0x200, 2, &mock_ops, &c), 0);
	d = 0;
	ck_assert_int_eq(bus_read(bus, 0x200, &d, 4), -ENOENT);
	ck_assert_uint_eq(d, 0xffffffff);
	ck_assert_uint_eq(c.reads, 0);
	/* Only the requested bytes are filled. */
	uint8_t buf[4] = { 1, 2, 3, 4 };
	ck_assert_int_eq(bus_read(bus, 0x300, buf, 2), -ENOENT);
	ck_assert_uint_eq(buf[0], 0xff);
	ck_assert_uint_eq(buf[1], 0xff);
	ck_assert_uint_eq(buf[2], 3);
	ck_assert_uint_eq(buf[3], 4);
}
END_TEST

START_TEST(missing_handlers)
{
	struct mock r = { .id = 7 }, w = { .id = 8 };
	ck_assert_int_eq(bus_register(bus, 0x10, 4, &ro_ops, &r), 0);
	ck_assert_int_eq(bus_register(bus, 0x20, 4, &wo_ops, &w), 0);
	uint8_t v = 0;
	ck_assert_int_eq(bus_write(bus, 0x10, &v, 1), -ENOENT);
	ck_assert_int_eq(bus_read(bus, 0x10, &v, 1), 0);
	ck_assert_uint_eq(v, pattern(7, 0, 0));
	v = 0;
	ck_assert_int_eq(bus_read(bus, 0x20, &v, 1), -ENOENT);
	ck_assert_uint_eq(v, 0xff);
	ck_assert_int_eq(bus_write(bus, 0x21, &v, 1), 0);
	ck_assert_uint_eq(w.writes, 1);
	ck_assert_uint_eq(w.last_off, 1);
	/* NULL ops is refused. */
	ck_assert_int_eq(bus_register(bus, 0x30, 4, NULL, &r), -EINVAL);
	ck_assert_uint_eq(bus_count(bus), 2);
}
END_TEST

START_TEST(overlap_rejected)
{
	struct mock a = { .id = 9 };
	ck_assert_int_eq(bus_register(bus, 0x1000, 0x100, &mock_ops, &a), 0);
	static const struct {
		uint64_t base, len;
	} bad[] = {
		{ 0x1000, 0x100 }, { 0x1000, 1 },    { 0x10ff, 1 },    { 0xf00, 0x101 },
		{ 0x10ff, 0x100 }, { 0x1080, 0x10 }, { 0x0, 0x10000 }, { 0x0, UINT64_MAX },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(bus_register(bus, bad[i].base, bad[i].len, &mock_ops, &a) == -EEXIST,
			      "[%#llx,+%#llx) accepted", (unsigned long long)bad[i].base,
			      (unsigned long long)bad[i].len);
	ck_assert_uint_eq(bus_count(bus), 1);
	/* Adjacent on both sides is fine. */
	ck_assert_int_eq(bus_register(bus, 0xf00, 0x100, &mock_ops, &a), 0);
	ck_assert_int_eq(bus_register(bus, 0x1100, 0x100, &mock_ops, &a), 0);
	ck_assert_uint_eq(bus_count(bus), 3);
	/* In a gap between two neighbours, overlapping only the right one,
	 * then only the left one. */
	ck_assert_int_eq(bus_register(bus, 0x1300, 0x10, &mock_ops, &a), 0);
	ck_assert_int_eq(bus_register(bus, 0x12f0, 0x11, &mock_ops, &a), -EEXIST);
	ck_assert_int_eq(bus_register(bus, 0x11ff, 0x10, &mock_ops, &a), -EEXIST);
	ck_assert_int_eq(bus_register(bus, 0x1200, 0x100, &mock_ops, &a), 0);
	ck_assert_uint_eq(bus_count(bus), 5);
}
END_TEST

START_TEST(invalid_ranges)
{
	struct mock a = { .id = 10 };
	ck_assert_int_eq(bus_register(bus, 0x10, 0, &mock_ops, &a), -EINVAL);
	ck_assert_int_eq(bus_register(bus, UINT64_MAX, 2, &mock_ops, &a), -EINVAL);
	ck_assert_int_eq(bus_register(bus, UINT64_MAX - 7, 9, &mock_ops, &a), -EINVAL);
	ck_assert_int_eq(bus_register(bus, 2, UINT64_MAX, &mock_ops, &a), -EINVAL);
	ck_assert_uint_eq(bus_count(bus), 0);

	/* A range ending exactly at UINT64_MAX is valid, and lookups near the
	 * top of the space do not wrap. */
	ck_assert_int_eq(bus_register(bus, UINT64_MAX - 7, 8, &mock_ops, &a), 0);
	uint64_t q = 0;
	ck_assert_int_eq(bus_read(bus, UINT64_MAX - 7, &q, 8), 0);
	ck_assert_uint_eq(a.last_off, 0);
	uint8_t v = 0;
	ck_assert_int_eq(bus_read(bus, UINT64_MAX, &v, 1), 0);
	ck_assert_uint_eq(a.last_off, 7);
	uint16_t h = 0;
	ck_assert_int_eq(bus_read(bus, UINT64_MAX, &h, 2), -ENOENT);
	ck_assert_uint_eq(h, 0xffff);
	ck_assert_int_eq(bus_read(bus, UINT64_MAX - 3, &q, 8), -ENOENT);
	ck_assert_uint_eq(a.reads, 2);

	/* Zero-length accesses never reach a device. */
	ck_assert_int_eq(bus_read(bus, UINT64_MAX - 7, &v, 0), -ENOENT);
	ck_assert_int_eq(bus_write(bus, UINT64_MAX - 7, &v, 0), -ENOENT);
	ck_assert_uint_eq(a.reads, 2);
	ck_assert_uint_eq(a.writes, 0);
}
END_TEST

START_TEST(whole_space_device)
{
	struct mock a = { .id = 11 };
	ck_assert_int_eq(bus_register(bus, 0, UINT64_MAX, &mock_ops, &a), 0);
	/* [0, UINT64_MAX) covers everything but the very last byte. */
	uint8_t v = 0;
	ck_assert_int_eq(bus_read(bus, UINT64_MAX - 1, &v, 1), 0);
	ck_assert_uint_eq(a.last_off, UINT64_MAX - 1);
	ck_assert_int_eq(bus_read(bus, UINT64_MAX, &v, 1), -ENOENT);
	ck_assert_int_eq(bus_register(bus, UINT64_MAX, 1, &mock_ops, &a), 0);
	ck_assert_uint_eq(bus_count(bus), 2);
}
END_TEST

#define NDEV 1000

START_TEST(many_devices_random_order)
{
	static struct mock m[NDEV];
	unsigned order[NDEV];
	for (unsigned i = 0; i < NDEV; i++) {
		m[i] = (struct mock){ .id = i };
		order[i] = i;
	}
	/* Fisher-Yates with a fixed LCG so failures reproduce. */
	uint32_t seed = 12345;
	for (unsigned i = NDEV - 1; i > 0; i--) {
		seed = seed * 1103515245u + 12345u;
		unsigned j = (seed >> 8) % (i + 1);
		unsigned t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* Device i covers [i*0x20, i*0x20 + 0x10 + i%16): gaps and varied sizes. */
	for (unsigned k = 0; k < NDEV; k++) {
		unsigned i = order[k];
		ck_assert_int_eq(bus_register(bus, i * 0x20ull, 0x10 + i % 16, &mock_ops, &m[i]),
				 0);
		ck_assert_uint_eq(bus_count(bus), k + 1);
	}
	/* Every device overlaps-rejects its own range again. */
	for (unsigned i = 0; i < NDEV; i += 97)
		ck_assert_int_eq(bus_register(bus, i * 0x20ull + 1, 1, &mock_ops, &m[0]), -EEXIST);
	ck_assert_uint_eq(bus_count(bus), NDEV);

	for (unsigned i = 0; i < NDEV; i++) {
		uint64_t base = i * 0x20ull, len = 0x10 + i % 16;
		uint8_t v = 0;
		ck_assert_int_eq(bus_read(bus, base, &v, 1), 0);
		ck_assert_uint_eq(v, pattern(i, 0, 0));
		ck_assert_int_eq(bus_read(bus, base + len - 1, &v, 1), 0);
		ck_assert_uint_eq(v, pattern(i, len - 1, 0));
		ck_assert_uint_eq(m[i].reads, 2);
		ck_assert_uint_eq(m[i].last_off, len - 1);
		/* The gap after each device is empty. */
		ck_assert_int_eq(bus_read(bus, base + len, &v, 1), -ENOENT);
		ck_assert_uint_eq(v, 0xff);
		ck_assert_int_eq(bus_write(bus, base + 0x1f, &v, 1), -ENOENT);
	}
	ck_assert_uint_eq(m[0].writes, 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dispatch_with_relative_offsets);
	tcase_add_test(tc, edges_of_a_range);
	tcase_add_test(tc, straddling_access_rejected);
	tcase_add_test(tc, missing_handlers);
	tcase_add_test(tc, overlap_rejected);
	tcase_add_test(tc, invalid_ranges);
	tcase_add_test(tc, whole_space_device);
	tcase_add_test(tc, many_devices_random_order);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
