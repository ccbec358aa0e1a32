/* Host-side processing rate of virtio-balloon inflate requests.
 *
 * A full inflate queue (256 descriptors of 256 PFNs each, as the Linux
 * driver sends them) is processed by the real device behind a real
 * virtio-mmio transport, discarding through guest_ram_ops as the VM does
 * (guest_ram_discard_runs(), on anonymous RAM: MADV_DONTNEED), against a
 * baseline of one madvise(MADV_DONTNEED)
 * per 4 KiB page in the same order. RAM is populated before every pass
 * so both sides free real pages. Two layouts: each buffer one contiguous
 * 1 MiB block in shuffled order (what a freshly booted guest's allocator
 * hands the balloon: merges into runs), and every other page (no runs:
 * the device's sorting and validation overhead shows).
 *
 * Build and run (after the library is built):
 *   make BUILD=build-balloon build-balloon/libmemvm.a
 *   cc -std=gnu11 -O2 -D_GNU_SOURCE -I. tests/bench/bench_balloon.c \
 *      build-balloon/libmemvm.a -lpthread -o build-balloon/bench_balloon
 *   build-balloon/bench_balloon [RAM MiB, default 1024]
 */
#include <endian.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "balloon/balloon.h"
#include "devices/bus.h"
#include "devices/virtio_mmio.h"
#include "devices/virtq.h"
#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "memory/ram.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define MMIO_BASE      0xd0000000ull
#define QSIZE          256u
#define PFNS_PER_BUF   256u
#define PFNS_PER_QUEUE (QSIZE * PFNS_PER_BUF)
#define CTL_SIZE       (4ull << 20)
/* Control region (rings, PFN arrays) right after RAM: never discarded. */
#define DESC_OFF  0x0ull
#define AVAIL_OFF 0x1000ull
#define USED_OFF  0x2000ull
#define BUFS_OFF  0x10000ull

static uint8_t *ram_hva;
static uint64_t ram_bytes;
static uint8_t *ctl;
static uint64_t ctl_gpa;
static struct bus *bus;
static uint16_t avail_idx;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_balloon: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The balloon keeps this table by pointer: swapping its ops for no-ops
 * measures the device alone. */
static struct guest_ram_ops ops;

static int noop_discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	(void)opaque;
	(void)gpa;
	*freed = len;
	return 0;
}

static int noop_discard_runs(void *opaque, const struct guest_ram_run *runs, size_t n,
			     uint64_t *freed)
{
	(void)opaque;
	*freed = 0;
	for (size_t i = 0; i < n; i++)
		*freed += runs[i].len;
	return 0;
}

static void wr(uint64_t off, uint32_t v)
{
	v = htole32(v);
	if (bus_write(bus, MMIO_BASE + off, &v, 4) < 0)
		die("bus write", EFAULT);
}

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0;
	if (bus_read(bus, MMIO_BASE + off, &v, 4) < 0)
		die("bus read", EFAULT);
	return le32toh(v);
}

static void populate(void)
{
	if (madvise(ram_hva, ram_bytes, MADV_POPULATE_WRITE) == 0)
		return;
	for (uint64_t off = 0; off < ram_bytes; off += 4096)
		((volatile uint8_t *)ram_hva)[off] = 1;
}

/* The Linux probe, inflate queue only used here. */
static void bring_up(void)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(ctl_gpa + DESC_OFF));
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)((ctl_gpa + DESC_OFF) >> 32));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(ctl_gpa + AVAIL_OFF));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((ctl_gpa + AVAIL_OFF) >> 32));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(ctl_gpa + USED_OFF));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((ctl_gpa + USED_OFF) >> 32));
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	if (!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK) || rd(VIRTIO_MMIO_QUEUE_READY) != 1)
		die("device bring-up", EIO);
	/* One descriptor per PFN buffer, fixed for the whole run. */
	for (uint32_t i = 0; i < QSIZE; i++) {
		struct virtq_desc d = {
			htole64(ctl_gpa + BUFS_OFF + 4ull * PFNS_PER_BUF * i),
			htole32(4 * PFNS_PER_BUF),
			0,
			0,
		};
		memcpy(ctl + DESC_OFF + 16ull * i, &d, sizeof(d));
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* pfns[i] for i < n: the request stream, `stride` pages apart, each
 * buffer's PFNs shuffled. */
static uint32_t *make_pfns(uint64_t n, uint32_t stride)
{
	uint32_t *p = malloc(n * sizeof(*p));
	if (!p)
		die("malloc", ENOMEM);
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)(i * stride);
	for (uint64_t b = 0; b < n; b += PFNS_PER_BUF)
		for (uint32_t i = PFNS_PER_BUF - 1; i > 0; i--) {
			uint32_t j = rnd(i + 1), t = p[b + i];
			p[b + i] = p[b + j];
			p[b + j] = t;
		}
	return p;
}

/* All of pfns through the device, one full queue per kick: seconds. */
static double run_balloon(struct balloon *b, const uint32_t *pfns, uint64_t n)
{
	double total = 0;
	for (uint64_t q0 = 0; q0 < n; q0 += PFNS_PER_QUEUE) {
		uint32_t bufs = (uint32_t)((n - q0) / PFNS_PER_BUF);
		if (bufs > QSIZE)
			bufs = QSIZE;
		for (uint32_t i = 0; i < bufs * PFNS_PER_BUF; i++) {
			uint32_t v = htole32(pfns[q0 + i]);
			memcpy(ctl + BUFS_OFF + 4ull * i, &v, 4);
		}
		for (uint32_t i = 0; i < bufs; i++) {
			uint16_t head = htole16((uint16_t)i);
			memcpy(ctl + AVAIL_OFF + 4 + 2ull * ((avail_idx + i) % QSIZE), &head, 2);
		}
		avail_idx = (uint16_t)(avail_idx + bufs);
		uint16_t idx = htole16(avail_idx);
		__atomic_store(((uint16_t *)(ctl + AVAIL_OFF + 2)), &idx, __ATOMIC_RELEASE);

		double t0 = now_s();
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* no event loop: processed right here */
		total += now_s() - t0;

		uint16_t used;
		memcpy(&used, ctl + USED_OFF + 2, 2);
		if (le16toh(used) != avail_idx)
			die("device did not complete the queue", EIO);
	}
	(void)b;
	return total;
}

static double run_per_page(const uint32_t *pfns, uint64_t n)
{
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i++)
		if (madvise(ram_hva + ((uint64_t)pfns[i] << 12), 4096, MADV_DONTNEED))
			die("madvise", errno);
	return now_s() - t0;
}

/* Best of `reps` for each method on one layout: prints one line. */
static void scenario(struct balloon *b, const char *label, uint32_t stride, int reps)
{
	uint64_t n = ram_bytes / 4096 / stride;
	n -= n % PFNS_PER_BUF;
	uint32_t *pfns = make_pfns(n, stride);
	double best_b = 1e9, best_p = 1e9;
	struct balloon_info before, after;

	for (int r = 0; r < reps; r++) {
		populate();
		balloon_query(b, &before);
		double tb = run_balloon(b, pfns, n);
		balloon_query(b, &after);
		/* Real work: every requested page was resident and left. */
		if (after.discarded_bytes - before.discarded_bytes != n * 4096 ||
		    after.discard_errors != before.discard_errors ||
		    after.bad_pfns != before.bad_pfns)
			die("balloon discarded less than requested", EIO);
		if (tb < best_b)
			best_b = tb;

		populate();
		double tp = run_per_page(pfns, n);
		if (tp < best_p)
			best_p = tp;
	}
	double rb = (double)n / best_b / 1e6, rp = (double)n / best_p / 1e6;
	printf("balloon inflate%s: %.2f M PFN/s (%s) vs %.2f M PFN/s per-page madvise: %.1fx\n",
	       label, rb, stride == 1 ? "merged runs" : "no runs to merge", rp, rb / rp);

	/* The device's own share: validation, sort, merge, rings. */
	ops.discard = noop_discard;
	ops.discard_runs = noop_discard_runs;
	double td = 1e9;
	for (int r = 0; r < reps; r++) {
		double t = run_balloon(b, pfns, n);
		if (t < td)
			td = t;
	}
	ops = guest_ram_ops;
	printf("  device alone (no-op discard)%s: %.1f M PFN/s\n", label, (double)n / td / 1e6);
	free(pfns);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	struct ram_config rc;
	char err[256] = "";
	int ret;

	if (mib < 16 || mib > 65536) {
		fprintf(stderr, "usage: %s [RAM MiB, 16..65536]\n", argv[0]);
		return 2;
	}
	ram_bytes = mib << 20;
	ram_config_init(&rc, ram_bytes);
	rc.merge = false;
	rc.thp = false; /* 4 KiB pages: measure the balloon, not THP splits */
	rc.progress = false;
	struct guest_mem *gm = guest_mem_new();
	if (!gm)
		die("guest_mem_new", ENOMEM);
	const struct guest_ram_region region = { .gpa = 0, .len = ram_bytes, .offset = 0 };
	struct guest_ram *gr;
	ret = guest_ram_new(&rc, &region, 1, gm, &gr, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "bench_balloon: %s\n", err);
		return 1;
	}
	ram_hva = ram_base(guest_ram_block(gr));
	madvise(ram_hva, ram_bytes, MADV_NOHUGEPAGE); /* also under THP=always */

	ctl = aligned_alloc(4096, CTL_SIZE);
	if (!ctl)
		die("aligned_alloc", ENOMEM);
	memset(ctl, 0, CTL_SIZE);
	ctl_gpa = ram_bytes;
	if ((ret = guest_mem_add(gm, ctl_gpa, CTL_SIZE, ctl, NULL)) < 0)
		die("guest_mem_add", ret);

	ops = guest_ram_ops;
	struct balloon_config bc = {
		.ram_size = ram_bytes,
		.gm = gm,
		.mem = &ops,
		.mem_opaque = gr,
	};
	struct balloon *b;
	if ((ret = balloon_new(&bc, &b)) < 0)
		die("balloon_new", ret);
	struct virtio_mmio_config tc = {
		.base = MMIO_BASE,
		.irq = 5,
		.gm = gm,
		.device = balloon_virtio_device(b),
	};
	struct virtio_mmio *t;
	if ((ret = virtio_mmio_new(&tc, &t)) < 0)
		die("virtio_mmio_new", ret);
	balloon_attach(b, t);
	bus = bus_new("mmio");
	if (!bus || (ret = virtio_mmio_register(bus, t)) < 0)
		die("virtio_mmio_register", ret ? ret : ENOMEM);
	bring_up();

	printf("bench_balloon: %" PRIu64 " MiB anonymous RAM, queue of %u buffers x %u PFNs, "
	       "best of 3 passes (2 for the second layout), RAM repopulated before each\n",
	       mib, QSIZE, PFNS_PER_BUF);
	scenario(b, "", 1, 3);
	scenario(b, ", every other page", 2, 2);

	virtio_mmio_free(t);
	balloon_free(b);
	bus_free(bus);
	guest_ram_free(gr);
	guest_mem_free(gm);
	free(ctl);
	return 0;
}
