/* virtio-balloon tests: the device driven through a real virtio-mmio
 * transport (no loop, no platform: QueueNotify calls notify directly) on
 * malloc'd guest RAM, with rings built by hand as the Linux driver would
 * and fake discard/reclaim ops recording what the device asked for.
 *
 * Guest RAM: R0 [0, 2M) and R1 [2M, 3M) adjacent but separately backed,
 * a hole [3M, 4M), R2 [4M, 5M). 4 MiB of RAM, PFNs 0..767 and 1024..1279. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balloon/balloon.h"
#include "devices/bus.h"
#include "devices/virtio_mmio.h"
#include "devices/virtq.h"
#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "vmm/lib/evloop.h"

#define BASE     0xd0000000ull
#define MiB      (1024ull * 1024)
#define R0_GPA   0
#define R0_SIZE  (2 * MiB)
#define R1_GPA   (2 * MiB)
#define R1_SIZE  MiB
#define R2_GPA   (4 * MiB)
#define R2_SIZE  MiB
#define RAM_SIZE (R0_SIZE + R1_SIZE + R2_SIZE)
#define LAST_PFN ((R2_GPA + R2_SIZE) / 4096 - 1) /* 1279 */

#define QSIZE       256
#define RING_GPA(q) (0x10000ull + 0x4000ull * (q))
#define BUF_GPA     0x40000ull
#define BUF2_GPA    0x48000ull
#define BIG_GPA     0x80000ull

#define F_VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F_TELL      (1ull << VIRTIO_BALLOON_F_MUST_TELL_HOST)
#define F_STATS     (1ull << VIRTIO_BALLOON_F_STATS_VQ)
#define F_OOM       (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
#define F_REP       (1ull << VIRTIO_BALLOON_F_REPORTING)
#define F_POISON    (1ull << VIRTIO_BALLOON_F_PAGE_POISON)

/* ---- fake memory ops ---- */

struct run {
	uint64_t gpa, len;
};
#define MAX_RUNS 64
struct recorder {
	struct run r[MAX_RUNS];
	int n;
};
static struct recorder discards, reclaims, reported;
static int discard_ret, reclaim_ret;
static int actual_calls;
static uint64_t actual_bytes;

static void record(struct recorder *rec, uint64_t gpa, uint64_t len)
{
	ck_assert_int_lt(rec->n, MAX_RUNS);
	/* The contract: 4 KiB aligned, non-empty, inside one region. */
	ck_assert_uint_eq(gpa % 4096, 0);
	ck_assert_uint_eq(len % 4096, 0);
	ck_assert_uint_gt(len, 0);
	rec->r[rec->n++] = (struct run){ gpa, len };
}

static int fake_discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	ck_assert_ptr_eq(opaque, &discards);
	record(&discards, gpa, len);
	*freed = len / 2; /* distinguishable from len */
	return discard_ret;
}

static int fake_reclaim(void *opaque, uint64_t gpa, uint64_t len)
{
	ck_assert_ptr_eq(opaque, &discards);
	record(&reclaims, gpa, len);
	return reclaim_ret;
}

static int fake_discard_reported(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	ck_assert_ptr_eq(opaque, &discards);
	record(&reported, gpa, len);
	*freed = len;
	return 0;
}

/* The batch op: records every run, counts the calls. */
static int batch_calls;
static int fake_discard_runs(void *opaque, const struct guest_ram_run *runs, size_t n,
			     uint64_t *freed)
{
	ck_assert_ptr_eq(opaque, &discards);
	batch_calls++;
	*freed = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			ck_assert_uint_lt(runs[i - 1].gpa + runs[i - 1].len, runs[i].gpa + 1);
		record(&discards, runs[i].gpa, runs[i].len);
		*freed += runs[i].len / 2;
	}
	return discard_ret;
}

static void on_actual(void *opaque, uint64_t guest_bytes)
{
	ck_assert_ptr_eq(opaque, &actual_calls);
	actual_calls++;
	actual_bytes = guest_bytes;
}

/* ---- fixture ---- */

static uint8_t *ram[3];
static struct guest_mem *gm;
static struct bus *bus;
static struct guest_ram_ops ops; /* tests may drop or add an op before make() */
static struct balloon_config cfg;
static struct balloon *b;
static struct virtio_mmio *t;

struct dq {
	uint16_t avail_idx;
	uint16_t next_desc;
};
static struct dq dq[4];

static void setup(void)
{
	static const uint64_t gpa[3] = { R0_GPA, R1_GPA, R2_GPA };
	static const uint64_t size[3] = { R0_SIZE, R1_SIZE, R2_SIZE };
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
	for (int i = 0; i < 3; i++) {
		ram[i] = calloc(1, size[i]);
		ck_assert_ptr_nonnull(ram[i]);
		ck_assert_int_eq(guest_mem_add(gm, gpa[i], size[i], ram[i], NULL), 0);
	}
	bus = bus_new("mmio");
	ck_assert_ptr_nonnull(bus);
	memset(&discards, 0, sizeof(discards));
	memset(&reclaims, 0, sizeof(reclaims));
	memset(&reported, 0, sizeof(reported));
	discard_ret = 0;
	reclaim_ret = 0;
	actual_calls = 0;
	actual_bytes = 0;
	memset(dq, 0, sizeof(dq));
	ops = (struct guest_ram_ops){
		.discard = fake_discard,
		.reclaim = fake_reclaim,
		.discard_reported = fake_discard_reported,
	};
	cfg = (struct balloon_config){
		.ram_size = RAM_SIZE,
		.gm = gm,
		.mem = &ops,
		.mem_opaque = &discards,
		.on_actual_change = on_actual,
		.opaque = &actual_calls,
	};
	b = NULL;
	t = NULL;
}

static void teardown(void)
{
	virtio_mmio_free(t); /* before the balloon: it owns the ops table */
	balloon_free(b);
	bus_free(bus);
	guest_mem_free(gm);
	for (int i = 0; i < 3; i++)
		free(ram[i]);
}

/* A balloon with cfg as set up, behind a registered transport. */
static void make(void)
{
	ck_assert_int_eq(balloon_new(&cfg, &b), 0);
	struct virtio_mmio_config tc = {
		.base = BASE,
		.irq = 5,
		.gm = gm,
		.loop = NULL,
		.platform = NULL,
		.device = balloon_virtio_device(b),
	};
	ck_assert_int_eq(virtio_mmio_new(&tc, &t), 0);
	ck_assert_int_eq(virtio_mmio_register(bus, t), 0);
	balloon_attach(b, t);
}

/* ---- driver side ---- */

static uint32_t rd(uint64_t off)
{
	uint32_t v;
	ck_assert_int_eq(bus_read(bus, BASE + off, &v, 4), 0);
	return le32toh(v);
}

static void wr(uint64_t off, uint32_t v)
{
	v = htole32(v);
	ck_assert_int_eq(bus_write(bus, BASE + off, &v, 4), 0);
}

static void *hva(uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(gm, gpa, len);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void put16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(hva(gpa, 2), &v, 2);
}
static uint16_t get16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, hva(gpa, 2), 2);
	return le16toh(v);
}
static uint32_t get32(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, hva(gpa, 4), 4);
	return le32toh(v);
}

static uint64_t desc_gpa(uint32_t q)
{
	return RING_GPA(q);
}
static uint64_t avail_gpa(uint32_t q)
{
	return RING_GPA(q) + 0x1000;
}
static uint64_t used_gpa(uint32_t q)
{
	return RING_GPA(q) + 0x2000;
}

static uint32_t cfg_rd(uint32_t off)
{
	return rd(VIRTIO_MMIO_CONFIG + off);
}

static uint64_t device_features(void)
{
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t hi = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return (hi << 32) | rd(VIRTIO_MMIO_DEVICE_FEATURES);
}

/* The Linux probe: features, then the queues the features name, numbered
 * consecutively (vm_find_vqs skips unnamed ones), then DRIVER_OK. */
static void bring_up(uint64_t features)
{
	memset(dq, 0, sizeof(dq));
	for (uint32_t q = 0; q < 4; q++)
		memset(hva(RING_GPA(q), 0x3000), 0, 0x3000);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	uint32_t nq = 2 + !!(features & F_STATS) + !!(features & F_REP);
	for (uint32_t q = 0; q < nq; q++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, q);
		ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), BALLOON_QUEUE_SIZE);
		wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc_gpa(q));
		wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail_gpa(q));
		wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
		wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used_gpa(q));
		wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
		ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	}
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, rd(VIRTIO_MMIO_INTERRUPT_STATUS));
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Queues one chain and kicks: returns its head. */
static uint16_t add_chain(uint32_t q, const struct seg *s, int n, bool kick)
{
	struct dq *d = &dq[q];
	uint16_t head = d->next_desc;
	for (int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		struct virtq_desc desc = { htole64(s[i].gpa), htole32(s[i].len), htole16(flags),
					   htole16((uint16_t)((idx + 1) % QSIZE)) };
		memcpy(hva(desc_gpa(q) + 16ull * idx, 16), &desc, 16);
	}
	d->next_desc = (uint16_t)((head + n) % QSIZE);
	put16(avail_gpa(q) + 4 + 2ull * (d->avail_idx % QSIZE), head);
	d->avail_idx++;
	put16(avail_gpa(q) + 2, d->avail_idx);
	if (kick)
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
	return head;
}

static uint16_t used_idx(uint32_t q)
{
	return get16(used_gpa(q) + 2);
}
static uint32_t used_id(uint32_t q, uint16_t i)
{
	return get32(used_gpa(q) + 4 + 8ull * (i % QSIZE));
}
static uint32_t used_len(uint32_t q, uint16_t i)
{
	return get32(used_gpa(q) + 8 + 8ull * (i % QSIZE));
}

static void write_pfns(uint64_t gpa, const uint32_t *pfns, int n)
{
	uint32_t *p = hva(gpa, 4ull * n);
	for (int i = 0; i < n; i++) {
		uint32_t v = htole32(pfns[i]);
		memcpy(p + i, &v, 4);
	}
}

/* One PFN array at gpa in one descriptor on queue q, kicked; not checked. */
static void post_pfns(uint32_t q, uint64_t gpa, const uint32_t *pfns, int n)
{
	write_pfns(gpa, pfns, n);
	struct seg s = { gpa, 4u * n, false };
	(void)add_chain(q, &s, 1, true);
}

/* One PFN array in one descriptor on queue q; checks it came back. */
static void send_pfns(uint32_t q, const uint32_t *pfns, int n)
{
	write_pfns(BUF_GPA, pfns, n);
	uint16_t before = used_idx(q);
	struct seg s = { BUF_GPA, 4u * n, false };
	uint16_t head = add_chain(q, &s, 1, true);
	ck_assert_uint_eq(used_idx(q), (uint16_t)(before + 1));
	ck_assert_uint_eq(used_id(q, before), head);
	ck_assert_uint_eq(used_len(q, before), 0);
}

static void assert_run(const struct recorder *rec, int i, uint64_t first_pfn, uint64_t pages)
{
	ck_assert_int_lt(i, rec->n);
	ck_assert_uint_eq(rec->r[i].gpa, first_pfn * 4096);
	ck_assert_uint_eq(rec->r[i].len, pages * 4096);
}

static bool needs_reset(void)
{
	return rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void query(struct balloon_info *info)
{
	balloon_query(b, info);
}

/* Stats entries into guest memory at gpa. */
static void put_stat(uint64_t gpa, int i, uint16_t tag, uint64_t val)
{
	uint8_t e[10];
	tag = htole16(tag);
	val = htole64(val);
	memcpy(e, &tag, 2);
	memcpy(e + 2, &val, 8);
	memcpy(hva(gpa + 10ull * i, 10), e, 10);
}

/* ---- identification ---- */

START_TEST(test_features_and_queues)
{
	make();
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	uint64_t f = device_features();
	ck_assert_uint_eq(f & 0xffffffu, F_TELL | F_STATS | F_POISON);
	ck_assert(f & F_VERSION_1);
	/* (Bits 24+ are the transport's.) The type has four queues; without
	 * reporting the driver never sets up the fourth, so it has no role. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), BALLOON_QUEUE_SIZE);
	wr(VIRTIO_MMIO_QUEUE_SEL, 4);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	virtio_mmio_free(t);
	t = NULL;
	balloon_free(b);

	cfg.deflate_on_oom = true;
	cfg.free_page_reporting = true;
	bus_free(bus);
	bus = bus_new("mmio");
	make();
	f = device_features();
	ck_assert_uint_eq(f & 0xffffffu, F_TELL | F_STATS | F_OOM | F_POISON | F_REP);
	wr(VIRTIO_MMIO_QUEUE_SEL, 3);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), BALLOON_QUEUE_SIZE);
	wr(VIRTIO_MMIO_QUEUE_SEL, 4);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* Free page hinting is never offered; page poisoning always, as QEMU's
	 * default (else Linux turns reporting off on init_on_free guests). */
	ck_assert(!(f & (1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT)));
	ck_assert(f & F_POISON);
}
END_TEST

START_TEST(test_new_validates)
{
	struct balloon *x = (struct balloon *)&x;
	struct balloon_config c = cfg;
	c.gm = NULL;
	ck_assert_int_eq(balloon_new(&c, &x), -EINVAL);
	c = cfg;
	c.ram_size = 0;
	ck_assert_int_eq(balloon_new(&c, &x), -EINVAL);
	c = cfg;
	c.mem = NULL;
	ck_assert_int_eq(balloon_new(&c, &x), -EINVAL);
	c = cfg;
	ops.discard = NULL;
	ck_assert_int_eq(balloon_new(&c, &x), -EINVAL);
	ck_assert_int_eq(balloon_new(NULL, &x), -EINVAL);
	ck_assert_ptr_eq(x, (struct balloon *)&x); /* untouched on error */
	balloon_free(NULL);
}
END_TEST

START_TEST(test_stat_names)
{
	static const char *const want[] = {
		"stat-swap-in",          "stat-swap-out",     "stat-major-faults",
		"stat-minor-faults",     "stat-free-memory",  "stat-total-memory",
		"stat-available-memory", "stat-disk-caches",  "stat-htlb-pgalloc",
		"stat-htlb-pgfail",      "stat-oom-kills",    "stat-alloc-stalls",
		"stat-async-scans",      "stat-direct-scans", "stat-async-reclaims",
		"stat-direct-reclaims",
	};
	/* Sized by tag, Linux 6.12's included (QEMU once crashed on tags its
	 * name table did not cover). */
	ck_assert_int_eq(BALLOON_STAT_COUNT, 16);
	ck_assert_int_eq(BALLOON_STAT_QEMU72_COUNT, 10);
	for (int i = 0; i < BALLOON_STAT_COUNT; i++)
		ck_assert_str_eq(balloon_stat_name((enum balloon_stat)i), want[i]);
	ck_assert_ptr_null(balloon_stat_name(BALLOON_STAT_COUNT));
	ck_assert_ptr_null(balloon_stat_name((enum balloon_stat) - 1));
}
END_TEST

/* ---- inflate / deflate ---- */

START_TEST(test_inflate_merges_runs)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	static const uint32_t pfns[] = { 5, 3, 4, 4, 100, 7 };
	send_pfns(0, pfns, 6);
	ck_assert_int_eq(discards.n, 3);
	assert_run(&discards, 0, 3, 3);
	assert_run(&discards, 1, 7, 1);
	assert_run(&discards, 2, 100, 1);
	ck_assert_int_eq(reclaims.n, 0);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.inflated_pages, 5);
	ck_assert_uint_eq(info.duplicate_pfns, 1);
	ck_assert_uint_eq(info.bad_pfns, 0);
	ck_assert_uint_eq(info.discarded_bytes, 5 * 4096 / 2); /* what the op freed */
	ck_assert(info.driver_ready);
	ck_assert(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
	ck_assert(!needs_reset());
}
END_TEST

/* With a batch op, one call per buffer gets the same sorted runs, split at
 * region boundaries, and a failing batch is counted once. */
START_TEST(test_inflate_batch_op)
{
	batch_calls = 0;
	ops.discard_runs = fake_discard_runs;
	make();
	bring_up(F_VERSION_1 | F_STATS);
	static const uint32_t pfns[] = { 513, 510, 5, 512, 511, 767, 766, 1024, 1025, 5 };
	send_pfns(0, pfns, 10);
	ck_assert_int_eq(batch_calls, 1);
	ck_assert_int_eq(discards.n, 5);
	assert_run(&discards, 0, 5, 1);
	assert_run(&discards, 1, 510, 2);
	assert_run(&discards, 2, 512, 2);
	assert_run(&discards, 3, 766, 2);
	assert_run(&discards, 4, 1024, 2);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.inflated_pages, 9);
	ck_assert_uint_eq(info.duplicate_pfns, 1);
	ck_assert_uint_eq(info.discarded_bytes, 9 * 4096 / 2);
	ck_assert_uint_eq(info.discard_errors, 0);

	discard_ret = -EIO;
	static const uint32_t more[] = { 20, 30 };
	send_pfns(0, more, 2);
	ck_assert_int_eq(batch_calls, 2);
	query(&info);
	ck_assert_uint_eq(info.discard_errors, 1);
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_inflate_bad_pfns_skipped)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	/* Last RAM page (valid), just past it, the hole, the top of the
	 * PFN space, the last page of R1 (valid), the first page of the hole. */
	static const uint32_t pfns[] = { LAST_PFN, LAST_PFN + 1, 800, 0xffffffffu, 767, 768 };
	send_pfns(0, pfns, 6);
	ck_assert_int_eq(discards.n, 2);
	assert_run(&discards, 0, 767, 1);
	assert_run(&discards, 1, LAST_PFN, 1);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.bad_pfns, 4);
	ck_assert_uint_eq(info.inflated_pages, 2);

	/* A buffer of nothing but bad PFNs still comes back, untouched. */
	static const uint32_t bad[] = { 1024 * 1024, 769 };
	send_pfns(0, bad, 2);
	ck_assert_int_eq(discards.n, 2);
	query(&info);
	ck_assert_uint_eq(info.bad_pfns, 6);
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_inflate_runs_split_at_regions)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	/* R0 ends at PFN 511, R1 starts at 512 (adjacent gpa, separate
	 * backing); R1 ends at 767, the hole follows, R2 starts at 1024. */
	static const uint32_t pfns[] = { 513, 510, 512, 511, 767, 766, 1024, 1025 };
	send_pfns(0, pfns, 8);
	ck_assert_int_eq(discards.n, 4);
	assert_run(&discards, 0, 510, 2);
	assert_run(&discards, 1, 512, 2);
	assert_run(&discards, 2, 766, 2);
	assert_run(&discards, 3, 1024, 2);
}
END_TEST

START_TEST(test_inflate_multi_descriptor_and_odd_length)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	/* PFNs 10, 11, 12 split mid-PFN across two descriptors. */
	static const uint32_t pfns[] = { 12, 10, 11 };
	write_pfns(BUF_GPA, pfns, 3);
	uint8_t *p = hva(BUF_GPA, 12);
	memcpy(hva(BUF2_GPA, 6), p + 6, 6);
	struct seg s[2] = { { BUF_GPA, 6, false }, { BUF2_GPA, 6, false } };
	add_chain(0, s, 2, true);
	ck_assert_uint_eq(used_idx(0), 1);
	ck_assert_int_eq(discards.n, 1);
	assert_run(&discards, 0, 10, 3);

	/* 14 bytes: three PFNs and two stray bytes, which are ignored. */
	static const uint32_t more[] = { 22, 20, 21, 0xffffffffu };
	write_pfns(BUF_GPA, more, 4);
	struct seg odd = { BUF_GPA, 14, false };
	add_chain(0, &odd, 1, true);
	ck_assert_uint_eq(used_idx(0), 2);
	ck_assert_int_eq(discards.n, 2);
	assert_run(&discards, 1, 20, 3);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.inflated_pages, 6);
	ck_assert_uint_eq(info.bad_pfns, 0);
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_inflate_oversized_needs_reset)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	uint32_t n = BALLOON_MAX_PFNS_PER_BUF + 1;
	uint32_t *pfns = malloc(4ull * n);
	ck_assert_ptr_nonnull(pfns);
	for (uint32_t i = 0; i < n; i++)
		pfns[i] = i % 256;
	write_pfns(BIG_GPA, pfns, (int)n);
	free(pfns);
	struct seg s = { BIG_GPA, 4 * n, false };
	add_chain(0, &s, 1, true);
	ck_assert(needs_reset());
	ck_assert_int_eq(discards.n, 0);
	ck_assert_uint_eq(used_idx(0), 0);
	/* The limit itself is fine after a reset. */
	bring_up(F_VERSION_1 | F_STATS);
	ck_assert(!needs_reset());
	s.len = 4 * BALLOON_MAX_PFNS_PER_BUF;
	add_chain(0, &s, 1, true);
	ck_assert(!needs_reset());
	ck_assert_uint_eq(used_idx(0), 1);
	ck_assert_int_eq(discards.n, 1);
	assert_run(&discards, 0, 0, 256);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.duplicate_pfns, BALLOON_MAX_PFNS_PER_BUF - 256);
}
END_TEST

START_TEST(test_discard_error_counted)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	discard_ret = -EIO;
	static const uint32_t pfns[] = { 1, 2, 9 };
	send_pfns(0, pfns, 3);
	ck_assert_int_eq(discards.n, 2);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.discard_errors, 2);
	ck_assert_uint_eq(info.discarded_bytes, 0);
	ck_assert_uint_eq(info.inflated_pages, 3);
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_deflate_reclaims_runs)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	static const uint32_t pfns[] = { 9, 5, 3, 4, 5, LAST_PFN + 1 };
	send_pfns(1, pfns, 6);
	ck_assert_int_eq(discards.n, 0);
	ck_assert_int_eq(reclaims.n, 2);
	assert_run(&reclaims, 0, 3, 3);
	assert_run(&reclaims, 1, 9, 1);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.deflated_pages, 4);
	ck_assert_uint_eq(info.inflated_pages, 0);
	ck_assert_uint_eq(info.duplicate_pfns, 1);
	ck_assert_uint_eq(info.bad_pfns, 1);
}
END_TEST

/* A failing reclaim is logged; the other runs are still reclaimed and the
 * buffer goes back to the guest. */
START_TEST(test_deflate_reclaim_fails)
{
	reclaim_ret = -EIO;
	make();
	bring_up(F_VERSION_1);
	static const uint32_t pfns[] = { 3, 7 };
	send_pfns(1, pfns, 2);
	ck_assert_int_eq(reclaims.n, 2);
	assert_run(&reclaims, 0, 3, 1);
	assert_run(&reclaims, 1, 7, 1);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.deflated_pages, 2);
	ck_assert_uint_eq(used_idx(1), 1);
	ck_assert(!needs_reset());
}
END_TEST

/* Reclaim without a page to back it (-ENOMEM: preallocated huge pages
 * another process took): the buffer is held, so the guest does not reuse
 * the pages; later kicks retry, and once reclaim succeeds the held buffer
 * and the ones queued behind it go back. */
START_TEST(test_deflate_waits_for_backing)
{
	reclaim_ret = -ENOMEM;
	make();
	bring_up(F_VERSION_1 | F_TELL);
	static const uint32_t pfns[] = { 3, 7 };
	post_pfns(1, BUF_GPA, pfns, 2);
	ck_assert_uint_eq(used_idx(1), 0);
	struct balloon_info info;
	query(&info);
	ck_assert(info.deflate_waiting);
	ck_assert_uint_eq(info.deflate_waits, 1);
	ck_assert_int_eq(reclaims.n, 2);

	static const uint32_t more[] = { 9 };
	post_pfns(1, BUF2_GPA, more, 1); /* queued behind; the kick retries the held runs */
	ck_assert_uint_eq(used_idx(1), 0);
	ck_assert_int_eq(reclaims.n, 4);
	assert_run(&reclaims, 3, 7, 1);

	reclaim_ret = 0;
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ck_assert_uint_eq(used_idx(1), 2);
	query(&info);
	ck_assert(!info.deflate_waiting);
	ck_assert_uint_eq(info.deflated_pages, 3);
	assert_run(&reclaims, reclaims.n - 1, 9, 1);
	ck_assert(!needs_reset());
}
END_TEST

/* With an event loop the held buffer is retried on a timer, no kick. */
START_TEST(test_deflate_retry_timer)
{
	struct evloop *loop = evloop_new();
	ck_assert_ptr_nonnull(loop);
	cfg.loop = loop;
	reclaim_ret = -ENOMEM;
	make();
	bring_up(F_VERSION_1 | F_TELL);
	static const uint32_t pfns[] = { 5 };
	post_pfns(1, BUF_GPA, pfns, 1);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(evloop_run_once(loop, 150), 0);
	ck_assert_uint_eq(used_idx(1), 0);
	ck_assert_int_ge(reclaims.n, 2); /* retried */
	reclaim_ret = 0;
	for (int i = 0; i < 20 && used_idx(1) == 0; i++)
		ck_assert_int_eq(evloop_run_once(loop, 100), 0);
	ck_assert_uint_eq(used_idx(1), 1);
	struct balloon_info info;
	query(&info);
	ck_assert(!info.deflate_waiting);

	virtio_mmio_free(t);
	t = NULL;
	balloon_free(b);
	b = NULL;
	evloop_free(loop);
}
END_TEST

/* A device reset forgets the held buffer: the new driver starts afresh. */
START_TEST(test_reset_drops_held_deflate)
{
	reclaim_ret = -ENOMEM;
	make();
	bring_up(F_VERSION_1 | F_TELL);
	static const uint32_t pfns[] = { 5 };
	post_pfns(1, BUF_GPA, pfns, 1);
	struct balloon_info info;
	query(&info);
	ck_assert(info.deflate_waiting);
	wr(VIRTIO_MMIO_STATUS, 0);
	query(&info);
	ck_assert(!info.deflate_waiting);
	int n = reclaims.n;
	reclaim_ret = 0;
	bring_up(F_VERSION_1 | F_TELL);
	send_pfns(1, pfns, 1);
	ck_assert_uint_eq(used_idx(1), 1);
	ck_assert_int_eq(reclaims.n, n + 1); /* only the new buffer's run */
}
END_TEST

START_TEST(test_deflate_without_reclaim_op)
{
	ops.reclaim = NULL;
	make();
	bring_up(F_VERSION_1);
	static const uint32_t pfns[] = { 7, 8 };
	send_pfns(1, pfns, 2);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.deflated_pages, 2);
	ck_assert_int_eq(reclaims.n, 0);
}
END_TEST

/* ---- statistics ---- */

/* A stats buffer of `bytes` at BUF2_GPA on queue q: returns its head. */
static uint16_t send_stats(uint32_t q, int bytes)
{
	struct seg s = { BUF2_GPA, (uint32_t)bytes, false };
	return add_chain(q, &s, 1, true);
}

START_TEST(test_stats_parsed_and_held)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	put_stat(BUF2_GPA, 0, 5, 512ull << 20); /* total memory */
	put_stat(BUF2_GPA, 1, 42, 7);           /* unknown: ignored */
	put_stat(BUF2_GPA, 2, 0, 11);           /* swap in */
	put_stat(BUF2_GPA, 3, 9, ~0ull);        /* htlb-pgfail: clamped */
	put_stat(BUF2_GPA, 4, 10, 3);           /* Linux 6.12: oom kills */
	put_stat(BUF2_GPA, 5, 15, 8);           /* ... direct reclaims, the last */
	put_stat(BUF2_GPA, 6, 16, 9);           /* past the table: ignored */
	put_stat(BUF2_GPA, 7, 4, 999);          /* truncated below */
	time_t before = time(NULL);
	send_stats(2, 7 * 10 + 9);
	ck_assert(!needs_reset());
	/* Held, not returned. */
	ck_assert_uint_eq(used_idx(2), 0);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_TOTAL_MEMORY], 512ll << 20);
	ck_assert_int_eq(st.value[BALLOON_STAT_SWAP_IN], 11);
	ck_assert_int_eq(st.value[BALLOON_STAT_HTLB_PGFAIL], INT64_MAX);
	ck_assert_int_eq(st.value[BALLOON_STAT_FREE_MEMORY], -1); /* truncated entry */
	ck_assert_int_eq(st.value[BALLOON_STAT_SWAP_OUT], -1);
	ck_assert_int_eq(st.value[BALLOON_STAT_OOM_KILLS], 3);
	ck_assert_int_eq(st.value[BALLOON_STAT_DIRECT_RECLAIMS], 8);
	ck_assert_int_eq(st.value[BALLOON_STAT_ALLOC_STALLS], -1);
	ck_assert_int_ge(st.last_update, before);
	ck_assert_int_le(st.last_update, time(NULL));
	ck_assert_uint_eq(st.polling_interval_s, 0);
}
END_TEST

START_TEST(test_stats_request_returns_buffer)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* nothing held yet */
	put_stat(BUF2_GPA, 0, 4, 100);
	uint16_t head = send_stats(2, 10);
	ck_assert_uint_eq(used_idx(2), 0);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, rd(VIRTIO_MMIO_INTERRUPT_STATUS));

	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_uint_eq(used_id(2, 0), head);
	ck_assert_uint_eq(used_len(2, 0), 0);
	ck_assert(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* given back already */

	/* The driver answers with fresh values; older ones it no longer
	 * sends go back to -1 (as QEMU). */
	put_stat(BUF2_GPA, 0, 6, 300);
	send_stats(2, 10);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_AVAILABLE_MEMORY], 300);
	ck_assert_int_eq(st.value[BALLOON_STAT_FREE_MEMORY], -1);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_idx(2), 2);
}
END_TEST

/* The driver turns the stats queue off and on again (QueueReady 0, then a
 * new ring) without a device reset: the held buffer belonged to the old
 * ring and must never be pushed onto the new one. */
START_TEST(test_stats_queue_reenabled_drops_held_buffer)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	put_stat(BUF2_GPA, 0, 4, 1);
	send_stats(2, 10);
	ck_assert_uint_eq(used_idx(2), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	memset(hva(RING_GPA(2), 0x3000), 0, 0x3000);
	dq[2] = (struct dq){ 0 };
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* nothing held any more */
	ck_assert_uint_eq(used_idx(2), 0);                   /* no stale head on the new ring */
	ck_assert(!needs_reset());
	/* The new ring works as the first did. */
	uint16_t head = send_stats(2, 10);
	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_uint_eq(used_id(2, 0), head);
}
END_TEST

START_TEST(test_stats_second_buffer_returns_first)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	put_stat(BUF2_GPA, 0, 4, 1);
	uint16_t first = send_stats(2, 10);
	put_stat(BUF2_GPA, 0, 4, 2);
	uint16_t second = send_stats(2, 10);
	ck_assert_uint_ne(first, second);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_uint_eq(used_id(2, 0), first);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_FREE_MEMORY], 2);
	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_id(2, 1), second);
}
END_TEST

START_TEST(test_stats_oversized_needs_reset)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	put_stat(BUF2_GPA, 0, 4, 77);
	send_stats(2, (int)(BALLOON_MAX_STATS_ENTRIES + 1) * 10);
	ck_assert(needs_reset());
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* not held */
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_FREE_MEMORY], -1);
	ck_assert_int_eq(st.last_update, 0);
	/* Exactly the limit is accepted. */
	bring_up(F_VERSION_1 | F_STATS);
	for (int i = 0; i < (int)BALLOON_MAX_STATS_ENTRIES; i++)
		put_stat(BUF2_GPA, i, 100, 0);
	put_stat(BUF2_GPA, BALLOON_MAX_STATS_ENTRIES - 1, 4, 77);
	send_stats(2, (int)BALLOON_MAX_STATS_ENTRIES * 10);
	ck_assert(!needs_reset());
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_FREE_MEMORY], 77);
}
END_TEST

START_TEST(test_reset_while_stats_held)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	ck_assert_int_eq(balloon_set_target(b, RAM_SIZE - MiB), 0);
	static const uint32_t pfns[] = { 1, 2 };
	send_pfns(0, pfns, 2);
	uint32_t a = htole32(2);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 4, &a, 4), 0);
	ck_assert_int_eq(actual_calls, 1);
	put_stat(BUF2_GPA, 0, 5, 1234);
	send_stats(2, 10);

	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* dropped with the queue */
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.actual_pages, 0);
	ck_assert_int_eq(actual_calls, 2);
	ck_assert_uint_eq(actual_bytes, RAM_SIZE);
	ck_assert_uint_eq(info.target_pages, 256); /* kept, as QEMU */
	ck_assert_uint_eq(info.inflated_pages, 2); /* counters kept */
	ck_assert(!info.driver_ready);
	ck_assert_uint_eq(cfg_rd(0), 256);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_TOTAL_MEMORY], 1234); /* last values kept */

	/* The new driver's buffer is held; the stale head never reappears. */
	bring_up(F_VERSION_1 | F_STATS);
	uint16_t head = send_stats(2, 10);
	ck_assert_uint_eq(used_idx(2), 0);
	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_idx(2), 1);
	ck_assert_uint_eq(used_id(2, 0), head);
}
END_TEST

START_TEST(test_stats_timer)
{
	struct evloop *loop = evloop_new();
	ck_assert_ptr_nonnull(loop);
	cfg.loop = loop;
	cfg.stats_interval_s = 1;
	make();
	bring_up(F_VERSION_1 | F_STATS);
	send_stats(2, 10);
	ck_assert_uint_eq(used_idx(2), 0);
	/* The configured interval returns the buffer within about a second. */
	for (int i = 0; i < 30 && used_idx(2) == 0; i++)
		ck_assert_int_eq(evloop_run_once(loop, 100), 0);
	ck_assert_uint_eq(used_idx(2), 1);

	/* Off: nothing comes back. */
	ck_assert_int_eq(balloon_set_stats_interval(b, 0), 0);
	send_stats(2, 10);
	for (int i = 0; i < 12; i++)
		ck_assert_int_eq(evloop_run_once(loop, 100), 0);
	ck_assert_uint_eq(used_idx(2), 1);

	/* Turning it on asks at once. */
	ck_assert_int_eq(balloon_set_stats_interval(b, 60), 0);
	for (int i = 0; i < 10 && used_idx(2) == 1; i++)
		ck_assert_int_eq(evloop_run_once(loop, 50), 0);
	ck_assert_uint_eq(used_idx(2), 2);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_uint_eq(st.polling_interval_s, 60);

	virtio_mmio_free(t);
	t = NULL;
	balloon_free(b);
	b = NULL;
	evloop_free(loop);
}
END_TEST

/* ---- queue numbering and free page reporting ---- */

static void send_report(uint32_t q)
{
	struct seg s[3] = {
		{ R2_GPA, 0x20000, true }, /* 128 KiB */
		{ R0_GPA + 0x100000, 0x1000, true },
		{ R1_GPA + 0x800, 0x1000, true }, /* unaligned: ignored */
	};
	uint16_t before = used_idx(q);
	uint16_t head = add_chain(q, s, 3, true);
	ck_assert_uint_eq(used_idx(q), (uint16_t)(before + 1));
	ck_assert_uint_eq(used_id(q, before), head);
	ck_assert_uint_eq(used_len(q, before), 0);
}

START_TEST(test_reporting_without_stats_uses_queue_2)
{
	cfg.free_page_reporting = true;
	make();
	bring_up(F_VERSION_1 | F_REP);
	send_report(2);
	ck_assert_int_eq(reported.n, 2);
	ck_assert_uint_eq(reported.r[0].gpa, R2_GPA);
	ck_assert_uint_eq(reported.r[0].len, 0x20000);
	ck_assert_uint_eq(reported.r[1].gpa, R0_GPA + 0x100000);
	ck_assert_uint_eq(reported.r[1].len, 0x1000);
	ck_assert_int_eq(discards.n, 0); /* reporting has its own op */
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.reported_bytes, 0x21000);
	ck_assert_uint_eq(info.discarded_bytes, 0x21000);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN); /* no stats queue */
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_reporting_with_stats_uses_queue_3)
{
	cfg.free_page_reporting = true;
	make();
	bring_up(F_VERSION_1 | F_STATS | F_REP);
	put_stat(BUF2_GPA, 0, 5, 4096);
	send_stats(2, 10);
	ck_assert_uint_eq(used_idx(2), 0); /* queue 2 is stats: held */
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	ck_assert_int_eq(st.value[BALLOON_STAT_TOTAL_MEMORY], 4096);
	send_report(3);
	ck_assert_int_eq(reported.n, 2);
	ck_assert_int_eq(balloon_request_stats(b), 0);
	ck_assert_uint_eq(used_idx(2), 1);
}
END_TEST

/* With PAGE_POISON negotiated, a guest that poisons free pages (non-zero
 * poison_val) keeps its reported pages; poison 0 (init_on_free) does not. */
START_TEST(test_reporting_keeps_poisoned_pages)
{
	cfg.free_page_reporting = true;
	make();
	bring_up(F_VERSION_1 | F_POISON | F_REP);
	uint32_t v = htole32(0xaaaaaaaa);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 12, &v, 4), 0);
	send_report(2);
	ck_assert_int_eq(reported.n, 0);
	ck_assert_int_eq(discards.n, 0);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.reported_bytes, 0x21000);
	ck_assert_uint_eq(info.reported_kept_bytes, 0x21000);
	ck_assert_uint_eq(info.poison_val, 0xaaaaaaaa);
	ck_assert_uint_eq(used_idx(2), 1); /* the buffer still goes back */
	v = 0;
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 12, &v, 4), 0);
	send_report(2);
	ck_assert_int_eq(reported.n, 2);
	ck_assert(!needs_reset());
}
END_TEST

START_TEST(test_reporting_falls_back_to_discard)
{
	cfg.free_page_reporting = true;
	ops.discard_reported = NULL;
	make();
	bring_up(F_VERSION_1 | F_REP);
	send_report(2);
	ck_assert_int_eq(reported.n, 0);
	ck_assert_int_eq(discards.n, 2);
	assert_run(&discards, 0, R2_GPA / 4096, 32);
}
END_TEST

/* ---- config space, target, actual ---- */

START_TEST(test_set_target)
{
	make();
	uint32_t gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	ck_assert_int_eq(balloon_set_target(b, 0), -EINVAL);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
	ck_assert_int_eq(balloon_set_target(b, RAM_SIZE - MiB), 0);
	ck_assert_uint_eq(cfg_rd(0), 256);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
	/* No config interrupt before DRIVER_OK. */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	bring_up(F_VERSION_1 | F_STATS);
	gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	ck_assert_int_eq(balloon_set_target(b, 8 * RAM_SIZE), 0); /* capped at RAM */
	ck_assert_uint_eq(cfg_rd(0), 0);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
	ck_assert(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	ck_assert_int_eq(balloon_set_target(b, 3 * MiB + 100), 0); /* rounds down */
	ck_assert_uint_eq(cfg_rd(0), 255);
	ck_assert_int_eq(balloon_set_target(b, 1), 0);
	ck_assert_uint_eq(cfg_rd(0), RAM_SIZE / 4096 - 1);

	ck_assert_int_eq(balloon_set_num_pages(b, RAM_SIZE / 4096), 0);
	ck_assert_uint_eq(cfg_rd(0), 1024);
	ck_assert_int_eq(balloon_set_num_pages(b, RAM_SIZE / 4096 + 1), -EINVAL);
	ck_assert_uint_eq(cfg_rd(0), 1024);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.target_pages, 1024);
	ck_assert_uint_eq(info.ram_size, RAM_SIZE);
	/* The guest cannot write the target. */
	uint32_t v = htole32(5);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG, &v, 4), 0);
	ck_assert_uint_eq(cfg_rd(0), 1024);
}
END_TEST

START_TEST(test_actual_written_by_guest)
{
	make();
	bring_up(F_VERSION_1 | F_STATS);
	uint32_t v = htole32(100);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 4, &v, 4), 0);
	ck_assert_int_eq(actual_calls, 1);
	ck_assert_uint_eq(actual_bytes, RAM_SIZE - 100 * 4096);
	ck_assert_uint_eq(cfg_rd(4), 100);
	struct balloon_info info;
	query(&info);
	ck_assert_uint_eq(info.actual_pages, 100);
	ck_assert_uint_eq(info.actual_bytes, RAM_SIZE - 100 * 4096);
	/* The same value again: no event. */
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 4, &v, 4), 0);
	ck_assert_int_eq(actual_calls, 1);
	/* A 2-byte write of the high half: more pages than RAM reads as 0
	 * bytes left, never a wrapped size. */
	uint16_t hi = htole16(1);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 6, &hi, 2), 0);
	ck_assert_int_eq(actual_calls, 2);
	ck_assert_uint_eq(cfg_rd(4), 0x10064);
	ck_assert_uint_eq(actual_bytes, 0);
	/* poison_val is the driver's; the command id reads 0. */
	v = htole32(0xaa);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 12, &v, 4), 0);
	ck_assert_uint_eq(cfg_rd(12), 0xaa);
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_CONFIG + 8, &v, 4), 0);
	ck_assert_uint_eq(cfg_rd(8), 0);
	ck_assert_int_eq(actual_calls, 2);
}
END_TEST

START_TEST(test_before_attach)
{
	ck_assert_int_eq(balloon_new(&cfg, &b), 0);
	ck_assert_int_eq(balloon_set_target(b, RAM_SIZE / 2), 0);
	struct balloon_info info;
	balloon_query(b, &info);
	ck_assert_uint_eq(info.target_pages, RAM_SIZE / 2 / 4096);
	ck_assert_uint_eq(info.actual_bytes, RAM_SIZE);
	ck_assert(!info.driver_ready);
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	for (int i = 0; i < BALLOON_STAT_COUNT; i++)
		ck_assert_int_eq(st.value[i], -1);
	ck_assert_int_eq(st.last_update, 0);
	ck_assert_int_eq(balloon_request_stats(b), -EAGAIN);
	ck_assert_int_eq(balloon_set_stats_interval(b, 10), 0);
	balloon_get_stats(b, &st);
	ck_assert_uint_eq(st.polling_interval_s, 10);
	/* The target set early is what the guest reads once attached. */
	struct virtio_mmio_config tc = {
		.base = BASE,
		.irq = 5,
		.gm = gm,
		.device = balloon_virtio_device(b),
	};
	ck_assert_int_eq(virtio_mmio_new(&tc, &t), 0);
	ck_assert_int_eq(virtio_mmio_register(bus, t), 0);
	balloon_attach(b, t);
	ck_assert_uint_eq(cfg_rd(0), RAM_SIZE / 2 / 4096);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("balloon");
	TCase *tc = tcase_create("balloon");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_features_and_queues);
	tcase_add_test(tc, test_new_validates);
	tcase_add_test(tc, test_stat_names);
	tcase_add_test(tc, test_inflate_merges_runs);
	tcase_add_test(tc, test_inflate_batch_op);
	tcase_add_test(tc, test_inflate_bad_pfns_skipped);
	tcase_add_test(tc, test_inflate_runs_split_at_regions);
	tcase_add_test(tc, test_inflate_multi_descriptor_and_odd_length);
	tcase_add_test(tc, test_inflate_oversized_needs_reset);
	tcase_add_test(tc, test_discard_error_counted);
	tcase_add_test(tc, test_deflate_reclaims_runs);
	tcase_add_test(tc, test_deflate_reclaim_fails);
	tcase_add_test(tc, test_deflate_without_reclaim_op);
	tcase_add_test(tc, test_deflate_waits_for_backing);
	tcase_add_test(tc, test_deflate_retry_timer);
	tcase_add_test(tc, test_reset_drops_held_deflate);
	tcase_add_test(tc, test_stats_parsed_and_held);
	tcase_add_test(tc, test_stats_request_returns_buffer);
	tcase_add_test(tc, test_stats_second_buffer_returns_first);
	tcase_add_test(tc, test_stats_queue_reenabled_drops_held_buffer);
	tcase_add_test(tc, test_stats_oversized_needs_reset);
	tcase_add_test(tc, test_reset_while_stats_held);
	tcase_add_test(tc, test_stats_timer);
	tcase_add_test(tc, test_reporting_without_stats_uses_queue_2);
	tcase_add_test(tc, test_reporting_with_stats_uses_queue_3);
	tcase_add_test(tc, test_reporting_falls_back_to_discard);
	tcase_add_test(tc, test_reporting_keeps_poisoned_pages);
	tcase_add_test(tc, test_set_target);
	tcase_add_test(tc, test_actual_written_by_guest);
	tcase_add_test(tc, test_before_attach);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
