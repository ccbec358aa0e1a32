/* Split virtqueue tests: rings built by hand in malloc'd "guest RAM". */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtq.h"
#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "tests/unit/unit_util.h"

#define RAM_GPA   0x100000ull
#define RAM_SIZE  0x100000ull /* 1 MiB */
#define DESC_GPA  (RAM_GPA + 0x00000)
#define AVAIL_GPA (RAM_GPA + 0x10000)
#define USED_GPA  (RAM_GPA + 0x20000)
#define BUF_GPA   (RAM_GPA + 0x40000)
#define TABLE_GPA (RAM_GPA + 0x80000) /* indirect tables */

#define F_INDIRECT (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT    (1ull << VIRTIO_F_EVENT_IDX)

static struct guest_mem *gm;
static uint8_t *ram;
static struct virtq *q;
static struct virtq_elem *el;
static uint32_t qsize;
static uint16_t avail_idx;

static void setup(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, 0, RAM_SIZE);
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
	ck_assert_int_eq(guest_mem_add(gm, RAM_GPA, RAM_SIZE, ram, NULL), 0);
	q = virtq_new(gm);
	ck_assert_ptr_nonnull(q);
	el = calloc(1, sizeof(*el));
	ck_assert_ptr_nonnull(el);
	avail_idx = 0;
}

static void teardown(void)
{
	free(el);
	virtq_free(q);
	guest_mem_free(gm);
	free(ram);
}

static uint8_t *hva(uint64_t gpa)
{
	ck_assert(gpa >= RAM_GPA && gpa < RAM_GPA + RAM_SIZE);
	return ram + (gpa - RAM_GPA);
}

static void put16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(hva(gpa), &v, 2);
}
static uint16_t get16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, hva(gpa), 2);
	return le16toh(v);
}
static uint32_t get32(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, hva(gpa), 4);
	return le32toh(v);
}

static void ring_init(uint32_t size, uint64_t features)
{
	struct virtq_addrs a = { DESC_GPA, AVAIL_GPA, USED_GPA };
	qsize = size;
	ck_assert_int_eq(virtq_init(q, size, &a, features), 0);
	ck_assert(virtq_ready(q));
}

static void set_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };
	memcpy(hva(table + 16ull * i), &d, sizeof(d));
}

static void avail_set_idx(uint16_t idx)
{
	put16(AVAIL_GPA + 2, idx);
}

static void avail_add(uint16_t head)
{
	put16(AVAIL_GPA + 4 + 2ull * (avail_idx % qsize), head);
	avail_idx++;
	avail_set_idx(avail_idx);
}

static uint16_t used_idx(void)
{
	return get16(USED_GPA + 2);
}
static uint32_t used_id(uint32_t slot)
{
	return get32(USED_GPA + 4 + 8ull * slot);
}
static uint32_t used_len(uint32_t slot)
{
	return get32(USED_GPA + 8 + 8ull * slot);
}
static void set_used_event(uint16_t v)
{
	put16(AVAIL_GPA + 4 + 2ull * qsize, v);
}
static uint16_t avail_event(void)
{
	return get16(USED_GPA + 4 + 8ull * qsize);
}

/* ---- set-up ---- */

START_TEST(test_init_rejects_bad_sizes)
{
	struct virtq_addrs a = { DESC_GPA, AVAIL_GPA, USED_GPA };
	static const uint32_t bad[] = { 0, 3, 6, 100, 65535, 65536, 0x80000000u };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_int_eq(virtq_init(q, bad[i], &a, 0), -EINVAL);
		ck_assert(!virtq_ready(q));
	}
	static const uint32_t good[] = { 1, 2, 256, 32768 };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		ck_assert_int_eq(virtq_init(q, good[i], &a, 0), 0);
		ck_assert_uint_eq(virtq_size(q), good[i]);
	}
	ck_assert_int_eq(virtq_init(q, 8, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_init_rejects_misaligned)
{
	struct virtq_addrs a = { DESC_GPA + 8, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EINVAL);
	a = (struct virtq_addrs){ DESC_GPA, AVAIL_GPA + 1, USED_GPA };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EINVAL);
	a = (struct virtq_addrs){ DESC_GPA, AVAIL_GPA, USED_GPA + 2 };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EINVAL);
	ck_assert(!virtq_ready(q));
	/* Minimal alignments are enough. */
	a = (struct virtq_addrs){ DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4 };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), 0);
}
END_TEST

START_TEST(test_init_rejects_rings_outside_ram)
{
	const uint64_t end = RAM_GPA + RAM_SIZE;
	struct virtq_addrs a = { 0, AVAIL_GPA, USED_GPA }; /* below RAM */
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EFAULT);
	a = (struct virtq_addrs){ end, AVAIL_GPA, USED_GPA }; /* just past RAM */
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EFAULT);
	a = (struct virtq_addrs){ end - 16 * 4, AVAIL_GPA, USED_GPA }; /* half inside */
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EFAULT);
	a = (struct virtq_addrs){ DESC_GPA, AVAIL_GPA, end - 4 * 8 }; /* used crosses end */
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EFAULT);
	a = (struct virtq_addrs){ DESC_GPA, UINT64_MAX - 1, USED_GPA }; /* wraps 2^64 */
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -EFAULT);
	ck_assert(!virtq_ready(q));
	/* Exactly up to the end of RAM is fine; with EVENT_IDX the extra
	 * avail_event field then no longer fits. */
	a = (struct virtq_addrs){ DESC_GPA, AVAIL_GPA, end - (4 + 8 * 8) };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), 0);
	ck_assert_int_eq(virtq_init(q, 8, &a, F_EVENT), -EFAULT);
}
END_TEST

START_TEST(test_pop_empty_and_not_ready)
{
	ck_assert_int_eq(virtq_pop(q, el), 0); /* not ready */
	ck_assert_int_eq(virtq_push(q, 0, 0), -EINVAL);
	ck_assert(!virtq_should_notify(q));
	ring_init(8, 0);
	ck_assert_int_eq(virtq_pop(q, el), 0); /* empty */
	ck_assert_int_eq(virtq_last_avail_idx(q), 0);
}
END_TEST

/* ---- well-formed chains ---- */

START_TEST(test_simple_chain)
{
	ring_init(8, 0);
	set_desc(DESC_GPA, 3, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 6);
	set_desc(DESC_GPA, 6, BUF_GPA + 0x1000, 200, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA + 0x2000, 300, VIRTQ_DESC_F_WRITE, 0);
	avail_add(3);

	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->head, 3);
	ck_assert_uint_eq(el->out_num, 2);
	ck_assert_uint_eq(el->in_num, 1);
	ck_assert_uint_eq(el->out_len, 300);
	ck_assert_uint_eq(el->in_len, 300);
	ck_assert_ptr_eq(el->seg[0].hva, hva(BUF_GPA));
	ck_assert_uint_eq(el->seg[0].gpa, BUF_GPA);
	ck_assert_uint_eq(el->seg[0].len, 100);
	ck_assert_ptr_eq(el->seg[1].hva, hva(BUF_GPA + 0x1000));
	ck_assert_uint_eq(el->seg[1].len, 200);
	ck_assert_ptr_eq(el->seg[2].hva, hva(BUF_GPA + 0x2000));
	ck_assert_uint_eq(el->seg[2].len, 300);
	ck_assert_int_eq(virtq_last_avail_idx(q), 1);
	ck_assert_int_eq(virtq_pop(q, el), 0);

	ck_assert_int_eq(virtq_push(q, 3, 123), 0);
	ck_assert_uint_eq(used_idx(), 1);
	ck_assert_uint_eq(used_id(0), 3);
	ck_assert_uint_eq(used_len(0), 123);
	ck_assert_uint_eq(virtq_used_idx(q), 1);
}
END_TEST

START_TEST(test_chains_in_avail_order)
{
	ring_init(8, 0);
	static const uint16_t heads[] = { 5, 2, 7 };
	for (size_t i = 0; i < 3; i++) {
		set_desc(DESC_GPA, heads[i], BUF_GPA + 0x100 * i, 16, VIRTQ_DESC_F_WRITE, 0);
		avail_add(heads[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(virtq_pop(q, el), 1);
		ck_assert_uint_eq(el->head, heads[i]);
		ck_assert_ptr_eq(el->seg[0].hva, hva(BUF_GPA + 0x100 * i));
		ck_assert_int_eq(virtq_push(q, el->head, (uint32_t)i), 0);
	}
	ck_assert_int_eq(virtq_pop(q, el), 0);
	ck_assert_uint_eq(used_idx(), 3);
	ck_assert_uint_eq(used_id(1), 2);
	ck_assert_uint_eq(used_len(2), 2);
}
END_TEST

START_TEST(test_chain_of_exactly_queue_size)
{
	ring_init(8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(DESC_GPA, i, BUF_GPA + i, 1, i < 7 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->out_num, 8);
}
END_TEST

START_TEST(test_zero_length_descriptor)
{
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 0, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->in_num, 1);
	ck_assert_uint_eq(el->in_len, 0);
	/* Even empty, the address must be guest RAM. */
	set_desc(DESC_GPA, 1, 0x1000, 0, VIRTQ_DESC_F_WRITE, 0);
	avail_add(1);
	ck_assert_int_eq(virtq_pop(q, el), -EFAULT);
}
END_TEST

START_TEST(test_elem_copy_helpers)
{
	ring_init(8, 0);
	memcpy(hva(BUF_GPA), "hello ", 6);
	memcpy(hva(BUF_GPA + 0x100), "world", 5);
	set_desc(DESC_GPA, 0, BUF_GPA, 6, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA + 0x100, 5, VIRTQ_DESC_F_NEXT, 2);
	set_desc(DESC_GPA, 2, BUF_GPA + 0x200, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	set_desc(DESC_GPA, 3, BUF_GPA + 0x300, 4, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);

	char buf[16] = { 0 };
	ck_assert_uint_eq(virtq_elem_read(el, 0, buf, sizeof(buf)), 11);
	ck_assert_str_eq(buf, "hello world");
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(virtq_elem_read(el, 4, buf, 4), 4);
	ck_assert_str_eq(buf, "o wo");
	ck_assert_uint_eq(virtq_elem_read(el, 11, buf, 4), 0);

	ck_assert_uint_eq(virtq_elem_write(el, 2, "ABCDEFGH", 8), 6);
	ck_assert(memcmp(hva(BUF_GPA + 0x202), "AB", 2) == 0);
	ck_assert(memcmp(hva(BUF_GPA + 0x300), "CDEF", 4) == 0);
	ck_assert(memcmp(hva(BUF_GPA + 0x200), "\0\0", 2) == 0);
	/* Readable buffers are never written. */
	ck_assert(memcmp(hva(BUF_GPA), "hello ", 6) == 0);
}
END_TEST

START_TEST(test_indirect_table)
{
	ring_init(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	set_desc(TABLE_GPA, 2, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, BUF_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	/* WRITE on the indirect descriptor itself must be ignored. */
	set_desc(DESC_GPA, 4, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	avail_add(4);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->head, 4);
	ck_assert_uint_eq(el->out_num, 1);
	ck_assert_uint_eq(el->in_num, 2);
	ck_assert_ptr_eq(el->seg[0].hva, hva(BUF_GPA));
	ck_assert_ptr_eq(el->seg[1].hva, hva(BUF_GPA + 0x100));
	ck_assert_ptr_eq(el->seg[2].hva, hva(BUF_GPA + 0x200));
	ck_assert_uint_eq(el->in_len, 50);
}
END_TEST

START_TEST(test_indirect_after_direct_prefix)
{
	ring_init(8, F_INDIRECT);
	set_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
	set_desc(DESC_GPA, 5, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(TABLE_GPA, 0, BUF_GPA + 0x100, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->out_num, 1);
	ck_assert_uint_eq(el->in_num, 1);
	ck_assert_ptr_eq(el->seg[1].hva, hva(BUF_GPA + 0x100));
}
END_TEST

START_TEST(test_split_across_adjacent_regions)
{
	/* A second region right after the first, backed by another buffer. */
	uint8_t *ram2 = calloc(1, 0x1000);
	ck_assert_int_eq(guest_mem_add(gm, RAM_GPA + RAM_SIZE, 0x1000, ram2, NULL), 0);
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, RAM_GPA + RAM_SIZE - 0x10, 0x30, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->in_num, 2);
	ck_assert_ptr_eq(el->seg[0].hva, ram + RAM_SIZE - 0x10);
	ck_assert_uint_eq(el->seg[0].len, 0x10);
	ck_assert_ptr_eq(el->seg[1].hva, ram2);
	ck_assert_uint_eq(el->seg[1].gpa, RAM_GPA + RAM_SIZE);
	ck_assert_uint_eq(el->seg[1].len, 0x20);
	ck_assert_uint_eq(virtq_elem_write(el, 0, "0123456789abcdefXY", 18), 18);
	ck_assert(memcmp(ram2, "XY", 2) == 0);
	free(ram2);
}
END_TEST

/* ---- malformed input ---- */

static void expect_pop_error(int err)
{
	ck_assert_int_eq(virtq_pop(q, el), err);
	ck_assert_int_eq(virtq_error(q), err);
	ck_assert_ptr_nonnull(virtq_error_reason(q));
	ck_assert_int_eq(virtq_last_avail_idx(q), 0); /* nothing consumed */
}

START_TEST(test_addr_outside_ram)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ 0x1000, 16 },                         /* below RAM */
		{ RAM_GPA + RAM_SIZE, 1 },              /* just past the end */
		{ RAM_GPA + RAM_SIZE - 10, 11 },        /* crosses the end */
		{ RAM_GPA, 0xffffffffu },               /* longer than RAM */
		{ UINT64_MAX - 3, 16 },                 /* wraps 2^64 */
		{ 0xfffffffffffffff0ull, 0xffffffffu }, /* wraps 2^64 */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ring_init(8, 0);
		avail_idx = 0;
		set_desc(DESC_GPA, 0, bad[i].addr, bad[i].len, 0, 0);
		avail_add(0);
		expect_pop_error(-EFAULT);
	}
	/* Exactly up to the end is fine. */
	ring_init(8, 0);
	avail_idx = 0;
	set_desc(DESC_GPA, 0, RAM_GPA + RAM_SIZE - 10, 10, 0, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_ptr_eq(el->seg[0].hva, ram + RAM_SIZE - 10);
}
END_TEST

/* Guest RAM the host cannot back (a second region: a memfd of one page
 * mapped over two, populate set): a buffer or a ring there is refused
 * with -ENOMEM and a reason, where touching it would have been SIGBUS. */
#define HOLE_GPA 0x400000ull
START_TEST(test_unbackable_ram_is_an_error)
{
	uint8_t *p = unit_map_half_backed();
	ck_assert_int_eq(guest_mem_add(gm, HOLE_GPA, 8192, p, NULL), 0);
	ck_assert_int_eq(guest_mem_set_populate(gm, HOLE_GPA, 4096), 0);

	ring_init(8, F_INDIRECT);
	set_desc(DESC_GPA, 0, HOLE_GPA + 4000, 100, VIRTQ_DESC_F_WRITE, 0); /* crosses in */
	avail_add(0);
	expect_pop_error(-ENOMEM);
	ck_assert_ptr_nonnull(strstr(virtq_error_reason(q), "cannot back"));

	ring_init(8, F_INDIRECT);
	avail_idx = 0;
	set_desc(DESC_GPA, 0, HOLE_GPA + 4096, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_pop_error(-ENOMEM);
	ck_assert_ptr_nonnull(
		strstr(virtq_error_reason(q), "indirect table in guest RAM the host cannot back"));

	/* The backed page works. */
	ring_init(8, 0);
	avail_idx = 0;
	set_desc(DESC_GPA, 0, HOLE_GPA + 16, 64, 0, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_ptr_eq(el->seg[0].hva, p + 16);

	struct virtq_addrs a = { HOLE_GPA + 4096, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_init(q, 8, &a, 0), -ENOMEM);
	ck_assert(!virtq_ready(q));
	munmap(p, 8192);
}
END_TEST

START_TEST(test_len_overflow_at_top_of_address_space)
{
	/* RAM that ends exactly at 2^64: gpa + len must not wrap to 0. */
	uint8_t *top = calloc(1, 0x1000);
	uint8_t *low = calloc(1, 0x1000);
	const uint64_t top_gpa = 0ull - 0x1000;
	ck_assert_int_eq(guest_mem_add(gm, top_gpa, 0x1000, top, NULL), 0);
	ck_assert_int_eq(guest_mem_add(gm, 0, 0x1000, low, NULL), 0);
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, UINT64_MAX - 15, 16, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_ptr_eq(el->seg[0].hva, top + 0x1000 - 16);

	set_desc(DESC_GPA, 1, UINT64_MAX - 15, 17, VIRTQ_DESC_F_WRITE, 0);
	avail_add(1);
	ck_assert_int_eq(virtq_pop(q, el), -EFAULT);
	free(top);
	free(low);
}
END_TEST

START_TEST(test_loop)
{
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	avail_add(0);
	expect_pop_error(-ELOOP);

	ring_init(8, 0); /* self loop */
	avail_idx = 0;
	set_desc(DESC_GPA, 3, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 3);
	avail_add(3);
	expect_pop_error(-ELOOP);
}
END_TEST

START_TEST(test_loop_in_indirect_table)
{
	ring_init(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(TABLE_GPA, 1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_pop_error(-ELOOP);
}
END_TEST

START_TEST(test_next_out_of_range)
{
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 8);
	avail_add(0);
	expect_pop_error(-EINVAL);

	ring_init(8, F_INDIRECT); /* next past the end of an indirect table */
	avail_idx = 0;
	set_desc(TABLE_GPA, 0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	set_desc(TABLE_GPA, 2, BUF_GPA, 1, 0, 0); /* exists in RAM, not in the table */
	set_desc(DESC_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_head_out_of_range)
{
	ring_init(8, 0);
	avail_add(8);
	expect_pop_error(-EINVAL);
	ring_init(8, 0);
	avail_idx = 0;
	avail_add(0xffff);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_write_before_read)
{
	ring_init(8, F_INDIRECT);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA + 4, 4, 0, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);

	/* The same inside an indirect table, and across the boundary from a
	 * writable direct prefix to a readable table entry. */
	ring_init(8, F_INDIRECT);
	avail_idx = 0;
	set_desc(DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(TABLE_GPA, 0, BUF_GPA + 8, 4, 0, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_indirect_not_negotiated)
{
	ring_init(8, 0);
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_indirect_inside_indirect)
{
	ring_init(8, F_INDIRECT);
	set_desc(TABLE_GPA + 0x100, 0, BUF_GPA, 4, 0, 0);
	set_desc(TABLE_GPA, 0, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_indirect_bad_length)
{
	static const uint32_t bad[] = { 0, 8, 17, 40, 0xfffffff8u };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ring_init(8, F_INDIRECT);
		avail_idx = 0;
		set_desc(TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
		set_desc(DESC_GPA, 0, TABLE_GPA, bad[i], VIRTQ_DESC_F_INDIRECT, 0);
		avail_add(0);
		expect_pop_error(-EINVAL);
	}
}
END_TEST

START_TEST(test_indirect_table_outside_ram)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		int err;
	} bad[] = {
		{ RAM_GPA + RAM_SIZE - 16, 32, -EFAULT }, /* crosses the end */
		{ 0x2000, 16, -EFAULT },                  /* below RAM */
		{ UINT64_MAX - 15, 32, -EFAULT },         /* wraps 2^64 */
		{ RAM_GPA, 0xfffffff0u, -EFAULT },        /* huge table */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ring_init(8, F_INDIRECT);
		avail_idx = 0;
		set_desc(DESC_GPA, 0, bad[i].addr, bad[i].len, VIRTQ_DESC_F_INDIRECT, 0);
		avail_add(0);
		expect_pop_error(bad[i].err);
	}
}
END_TEST

START_TEST(test_indirect_with_next)
{
	ring_init(8, F_INDIRECT);
	set_desc(TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
	set_desc(DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC_GPA, 1, BUF_GPA, 4, 0, 0);
	avail_add(0);
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_too_many_segments)
{
	/* A big indirect table: VIRTQ_ELEM_MAX_SEGS entries pass, one more
	 * is rejected. */
	const uint32_t n = VIRTQ_ELEM_MAX_SEGS + 1;
	for (uint32_t i = 0; i < n; i++)
		set_desc(TABLE_GPA, (uint16_t)i, BUF_GPA + i, 1, VIRTQ_DESC_F_NEXT,
			 (uint16_t)(i + 1));
	set_desc(TABLE_GPA, (uint16_t)(n - 2), BUF_GPA, 1, 0, 0);
	ring_init(8, F_INDIRECT);
	set_desc(DESC_GPA, 0, TABLE_GPA, (n - 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->out_num, VIRTQ_ELEM_MAX_SEGS);

	set_desc(TABLE_GPA, (uint16_t)(n - 2), BUF_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(n - 1));
	set_desc(TABLE_GPA, (uint16_t)(n - 1), BUF_GPA, 1, 0, 0);
	set_desc(DESC_GPA, 1, TABLE_GPA, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(1);
	ck_assert_int_eq(virtq_pop(q, el), -E2BIG);
}
END_TEST

START_TEST(test_avail_idx_jump)
{
	ring_init(8, 0);
	for (uint16_t i = 0; i < 8; i++)
		set_desc(DESC_GPA, i, BUF_GPA, 1, 0, 0);
	avail_set_idx(9); /* nine buffers in an eight-entry ring */
	expect_pop_error(-EINVAL);

	ring_init(8, 0);
	avail_set_idx(8); /* a full ring is fine */
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_int_eq(virtq_pop(q, el), 0);

	ring_init(8, 0);
	avail_set_idx(0xffff); /* "behind" the device: also a jump */
	expect_pop_error(-EINVAL);
}
END_TEST

START_TEST(test_error_is_sticky_until_reset)
{
	ring_init(8, 0);
	set_desc(DESC_GPA, 0, 0x10, 4, 0, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), -EFAULT);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, 0, 0); /* "fixed" */
	ck_assert_int_eq(virtq_pop(q, el), -EFAULT);
	virtq_reset(q);
	ck_assert_int_eq(virtq_error(q), 0);
	ck_assert_ptr_null(virtq_error_reason(q));
	ring_init(8, 0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
}
END_TEST

START_TEST(test_push_bad_head)
{
	ring_init(8, 0);
	ck_assert_int_eq(virtq_push(q, 8, 0), -EINVAL);
	ck_assert_uint_eq(used_idx(), 0);
	ck_assert_int_eq(virtq_push(q, 7, 0), 0);
	ck_assert_uint_eq(used_idx(), 1);
}
END_TEST

START_TEST(test_reset_returns_to_initial_state)
{
	ring_init(8, F_EVENT);
	set_desc(DESC_GPA, 0, BUF_GPA, 4, 0, 0);
	avail_add(0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0);
	virtq_reset(q);
	ck_assert(!virtq_ready(q));
	ck_assert_uint_eq(virtq_size(q), 0);
	ck_assert_uint_eq(virtq_last_avail_idx(q), 0);
	ck_assert_uint_eq(virtq_used_idx(q), 0);
	ck_assert_int_eq(virtq_pop(q, el), 0);
	ck_assert_int_eq(virtq_push(q, 0, 0), -EINVAL);
	/* Re-initialised, it consumes from slot 0 again. */
	ring_init(8, 0);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(el->head, 0);
}
END_TEST

/* ---- notification suppression ---- */

START_TEST(test_no_interrupt_flag)
{
	ring_init(8, 0);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0);
	ck_assert(virtq_should_notify(q));
	put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0);
	ck_assert(!virtq_should_notify(q));
	put16(AVAIL_GPA, 0);
	ck_assert(!virtq_should_notify(q)); /* nothing new since */
	ck_assert_int_eq(virtq_push(q, 0, 0), 0);
	ck_assert(virtq_should_notify(q));
}
END_TEST

START_TEST(test_event_idx_suppression)
{
	ring_init(8, F_EVENT);
	/* NO_INTERRUPT is ignored when EVENT_IDX is negotiated. */
	put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	set_used_event(3);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0);
	ck_assert(virtq_should_notify(q));        /* first decision: always */
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* used 1 -> 2 */
	ck_assert(!virtq_should_notify(q));
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 2 -> 3 */
	ck_assert(!virtq_should_notify(q));
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 3 -> 4 crosses used_event 3 */
	ck_assert(virtq_should_notify(q));
	ck_assert(!virtq_should_notify(q));       /* nothing new */
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 4 -> 5: used_event 3 is stale */
	ck_assert(!virtq_should_notify(q));
	set_used_event(5);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 5 -> 6 crosses 5 */
	ck_assert(virtq_should_notify(q));
	set_used_event(6);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 6 -> 7 */
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* 7 -> 8: batch steps over 6 */
	ck_assert(virtq_should_notify(q));
}
END_TEST

START_TEST(test_event_idx_publishes_avail_event)
{
	ring_init(8, F_EVENT);
	for (uint16_t i = 0; i < 3; i++) {
		set_desc(DESC_GPA, i, BUF_GPA, 4, 0, 0);
		avail_add(i);
	}
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_uint_eq(avail_event(), 1);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_int_eq(virtq_pop(q, el), 1);
	ck_assert_int_eq(virtq_pop(q, el), 0);
	ck_assert_uint_eq(avail_event(), 3);
}
END_TEST

START_TEST(test_index_wraparound)
{
	/* 70000 round trips through a 4-entry ring: both 16-bit indices
	 * wrap; slots, heads, lengths and event-idx decisions stay right. */
	ring_init(4, F_EVENT);
	for (uint16_t i = 0; i < 4; i++)
		set_desc(DESC_GPA, i, BUF_GPA + 0x10 * i, 16, VIRTQ_DESC_F_WRITE, 0);
	ck_assert_int_eq(virtq_push(q, 0, 0), 0); /* consume the "first" decision */
	ck_assert(virtq_should_notify(q));
	for (uint32_t i = 0; i < 70000; i++) {
		uint16_t head = (uint16_t)(i % 4);
		avail_add(head);
		ck_assert_int_eq(virtq_pop(q, el), 1);
		ck_assert_uint_eq(el->head, head);
		ck_assert_uint_eq(virtq_last_avail_idx(q), (uint16_t)(i + 1));
		ck_assert_uint_eq(avail_event(), (uint16_t)(i + 1));
		uint16_t old = virtq_used_idx(q);
		/* Cycle through "interrupt me now", "not yet" and a stale
		 * used_event just behind (no interrupt either). */
		static const int16_t delta[3] = { 0, 1, -1 };
		set_used_event((uint16_t)(old + delta[i % 3]));
		ck_assert_int_eq(virtq_push(q, head, i), 0);
		ck_assert_uint_eq(used_idx(), (uint16_t)(old + 1));
		ck_assert_uint_eq(used_id(old % 4), head);
		ck_assert_uint_eq(used_len(old % 4), i);
		ck_assert(virtq_should_notify(q) == (i % 3 == 0));
	}
	ck_assert_int_eq(virtq_pop(q, el), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("virtq");
	TCase *tc = tcase_create("virtq");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_init_rejects_bad_sizes);
	tcase_add_test(tc, test_init_rejects_misaligned);
	tcase_add_test(tc, test_init_rejects_rings_outside_ram);
	tcase_add_test(tc, test_pop_empty_and_not_ready);
	tcase_add_test(tc, test_simple_chain);
	tcase_add_test(tc, test_chains_in_avail_order);
	tcase_add_test(tc, test_chain_of_exactly_queue_size);
	tcase_add_test(tc, test_zero_length_descriptor);
	tcase_add_test(tc, test_elem_copy_helpers);
	tcase_add_test(tc, test_indirect_table);
	tcase_add_test(tc, test_indirect_after_direct_prefix);
	tcase_add_test(tc, test_split_across_adjacent_regions);
	tcase_add_test(tc, test_addr_outside_ram);
	tcase_add_test(tc, test_len_overflow_at_top_of_address_space);
	tcase_add_test(tc, test_unbackable_ram_is_an_error);
	tcase_add_test(tc, test_loop);
	tcase_add_test(tc, test_loop_in_indirect_table);
	tcase_add_test(tc, test_next_out_of_range);
	tcase_add_test(tc, test_head_out_of_range);
	tcase_add_test(tc, test_write_before_read);
	tcase_add_test(tc, test_indirect_not_negotiated);
	tcase_add_test(tc, test_indirect_inside_indirect);
	tcase_add_test(tc, test_indirect_bad_length);
	tcase_add_test(tc, test_indirect_table_outside_ram);
	tcase_add_test(tc, test_indirect_with_next);
	tcase_add_test(tc, test_too_many_segments);
	tcase_add_test(tc, test_avail_idx_jump);
	tcase_add_test(tc, test_error_is_sticky_until_reset);
	tcase_add_test(tc, test_push_bad_head);
	tcase_add_test(tc, test_reset_returns_to_initial_state);
	tcase_add_test(tc, test_no_interrupt_flag);
	tcase_add_test(tc, test_event_idx_suppression);
	tcase_add_test(tc, test_event_idx_publishes_avail_event);
	tcase_add_test(tc, test_index_wraparound);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
