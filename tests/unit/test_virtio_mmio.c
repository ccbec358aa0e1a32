/* virtio-mmio transport tests, driving the register file through the MMIO
 * bus as a vCPU would, with a fake device, a fake platform (recording the
 * ioeventfd/irqfd registrations KVM would receive) and virtio-rng end to
 * end. No /dev/kvm needed. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_rng.h"
#include "devices/virtq.h"
#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "vmm/lib/evloop.h"

#define BASE      0xd0000000ull
#define GSI       5
#define RAM_GPA   0x100000ull
#define RAM_SIZE  0x100000ull
#define DESC_GPA  (RAM_GPA + 0x00000)
#define AVAIL_GPA (RAM_GPA + 0x01000)
#define USED_GPA  (RAM_GPA + 0x02000)
#define BUF_GPA   (RAM_GPA + 0x10000)

#define F_VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F_EVENT     (1ull << VIRTIO_F_EVENT_IDX)
#define F_DEV_LOW   (1ull << 5)  /* fake device feature, low half */
#define F_DEV_HIGH  (1ull << 33) /* fake device feature, high half */
#define CFG_SIZE    12

/* ---- fake device ---- */

struct fake_dev {
	int notify_calls[2];
	int reset_calls;
	int driver_ok_calls;
	int notify_ret; /* what notify returns */
	bool drain;     /* pop and push everything on notify */
	uint8_t config[CFG_SIZE];
	uint8_t guard[16]; /* must never be written */
};

static void fake_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct fake_dev *d = dev;
	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(data, d->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const void *data, uint32_t len)
{
	struct fake_dev *d = dev;
	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(d->config + off, data, len);
}

static int fake_notify(void *dev, struct virtio_mmio *t, uint32_t queue)
{
	struct fake_dev *d = dev;
	ck_assert_uint_lt(queue, 2);
	d->notify_calls[queue]++;
	if (d->drain) {
		static struct virtq_elem e;
		struct virtq *q = virtio_mmio_queue(t, queue);
		int ret;
		while ((ret = virtq_pop(q, &e)) > 0)
			ck_assert_int_eq(virtq_push(q, e.head, 0), 0);
		if (ret < 0)
			return ret;
		virtio_mmio_notify_used(t, queue);
	}
	return d->notify_ret;
}

static void fake_reset(void *dev)
{
	((struct fake_dev *)dev)->reset_calls++;
}

static void fake_driver_ok(void *dev, struct virtio_mmio *t)
{
	(void)t;
	((struct fake_dev *)dev)->driver_ok_calls++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "fake",
	.device_id = 42,
	.num_queues = 2,
	.max_queue_size = 16,
	.features = F_DEV_LOW | F_DEV_HIGH,
	.config_size = CFG_SIZE,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.notify = fake_notify,
	.reset = fake_reset,
	.driver_ok = fake_driver_ok,
};

/* ---- fake platform ---- */

struct fake_platform {
	int io_calls;
	uint64_t io_addr[4];
	uint32_t io_len[4];
	uint64_t io_match[4];
	int io_fd[4];
	int io_ret;
	int irq_calls;
	uint32_t irq_gsi;
	int irq_fd;
	int irq_ret;
};

static int fake_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct fake_platform *p = opaque;
	ck_assert_int_lt(p->io_calls, 4);
	p->io_addr[p->io_calls] = addr;
	p->io_len[p->io_calls] = len;
	p->io_match[p->io_calls] = datamatch;
	p->io_fd[p->io_calls] = fd;
	p->io_calls++;
	return p->io_ret;
}

static int fake_irqfd(void *opaque, uint32_t gsi, int fd)
{
	struct fake_platform *p = opaque;
	p->irq_calls++;
	p->irq_gsi = gsi;
	p->irq_fd = fd;
	return p->irq_ret;
}

/* ---- fixture ---- */

static struct guest_mem *gm;
static uint8_t *ram;
static struct bus *bus;
static struct evloop *loop;
static struct fake_dev fdev;
static struct fake_platform plat;
static struct virtio_platform platform;
static struct virtio_mmio *t;
static uint16_t avail_idx;

static void setup(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, 0, RAM_SIZE);
	gm = guest_mem_new();
	ck_assert_int_eq(guest_mem_add(gm, RAM_GPA, RAM_SIZE, ram, NULL), 0);
	bus = bus_new("mmio");
	loop = evloop_new();
	ck_assert_ptr_nonnull(loop);
	memset(&fdev, 0, sizeof(fdev));
	for (int i = 0; i < CFG_SIZE; i++)
		fdev.config[i] = (uint8_t)(0xa0 + i);
	memset(&plat, 0, sizeof(plat));
	plat.irq_fd = -1;
	platform = (struct virtio_platform){ .opaque = &plat,
					     .ioeventfd = fake_ioeventfd,
					     .irqfd = fake_irqfd };
	t = NULL;
	avail_idx = 0;
}

static void teardown(void)
{
	virtio_mmio_free(t);
	evloop_free(loop);
	bus_free(bus);
	guest_mem_free(gm);
	free(ram);
}

/* A transport for the fake device; with_platform adds eventfds. */
static void make(bool with_platform)
{
	struct virtio_mmio_config cfg = {
		.base = BASE,
		.irq = GSI,
		.gm = gm,
		.loop = with_platform ? loop : NULL,
		.platform = with_platform ? &platform : NULL,
		.device = { .ops = &fake_ops, .dev = &fdev },
	};
	ck_assert_int_eq(virtio_mmio_new(&cfg, &t), 0);
	ck_assert_int_eq(virtio_mmio_register(bus, t), 0);
}

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

static void wr64(uint64_t off_low, uint64_t v)
{
	wr(off_low, (uint32_t)v);
	wr(off_low + 4, (uint32_t)(v >> 32));
}

static void set_driver_features(uint64_t f)
{
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
}

/* The Linux probe sequence up to FEATURES_OK: true if accepted. */
static bool negotiate(uint64_t f)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	set_driver_features(f);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK;
}

static void setup_queue(uint32_t idx, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, idx);
	wr(VIRTIO_MMIO_QUEUE_NUM, num);
	wr64(VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
	wr64(VIRTIO_MMIO_QUEUE_DRIVER_LOW, avail);
	wr64(VIRTIO_MMIO_QUEUE_DEVICE_LOW, used);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
}

static void driver_ok(void)
{
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* A ready device with queue 0 of 8 entries at the standard addresses. */
static void bring_up(uint64_t features)
{
	ck_assert(negotiate(features));
	setup_queue(0, 8, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	driver_ok();
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static uint8_t *hva(uint64_t gpa)
{
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

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };
	memcpy(hva(DESC_GPA + 16ull * i), &d, sizeof(d));
}

static void avail_add(uint16_t head, uint32_t qsize)
{
	put16(AVAIL_GPA + 4 + 2ull * (avail_idx % qsize), head);
	avail_idx++;
	put16(AVAIL_GPA + 2, avail_idx);
}

/* Interrupts signalled on the irq eventfd since the last call. */
static uint64_t irq_count(int fd)
{
	uint64_t v = 0;
	ck_assert_int_ge(fd, 0);
	if (read(fd, &v, sizeof(v)) < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	return v;
}

static void kick_fd(int fd)
{
	uint64_t one = 1;
	ck_assert_int_eq(write(fd, &one, sizeof(one)), (int)sizeof(one));
}

/* ---- identification and features ---- */

START_TEST(test_ids)
{
	make(false);
	ck_assert_uint_eq(bus_count(bus), 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_VERSION), 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* No shared memory regions: all-ones length. */
	wr(VIRTIO_MMIO_SHM_SEL, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
	/* Write-only registers read as 0. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
	/* Read-only registers ignore writes. */
	wr(VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(VIRTIO_MMIO_DEVICE_ID, 7);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), 42);
}
END_TEST

START_TEST(test_device_features_both_halves)
{
	make(false);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	uint64_t f = ((uint64_t)hi << 32) | lo;
	ck_assert_uint_eq(f, F_DEV_LOW | F_DEV_HIGH | VIRTIO_MMIO_TRANSPORT_FEATURES);
	ck_assert(f & F_VERSION_1);
}
END_TEST

START_TEST(test_features_accepted)
{
	make(false);
	ck_assert(negotiate(F_VERSION_1 | F_DEV_LOW | F_DEV_HIGH | F_EVENT));
	ck_assert_uint_eq(virtio_mmio_features(t), F_VERSION_1 | F_DEV_LOW | F_DEV_HIGH | F_EVENT);
	/* Frozen after FEATURES_OK. */
	set_driver_features(F_VERSION_1);
	ck_assert_uint_eq(virtio_mmio_features(t), F_VERSION_1 | F_DEV_LOW | F_DEV_HIGH | F_EVENT);
}
END_TEST

START_TEST(test_features_rejected)
{
	make(false);
	ck_assert(!negotiate(F_VERSION_1 | (1ull << 6))); /* unoffered, low half */
	ck_assert_uint_eq(virtio_mmio_features(t), 0);
	ck_assert(!negotiate(F_VERSION_1 | (1ull << 34))); /* unoffered, high half */
	ck_assert(!negotiate(F_DEV_LOW));                  /* no VERSION_1 */
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK));
	/* DRIVER_OK is refused without FEATURES_OK. */
	driver_ok();
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK));
	ck_assert_int_eq(fdev.driver_ok_calls, 0);
	/* The driver may retry with an acceptable set. */
	ck_assert(negotiate(F_VERSION_1));
	ck_assert_uint_eq(virtio_mmio_features(t), F_VERSION_1);
	/* Writes with DriverFeaturesSel > 1 go nowhere. */
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(virtio_mmio_features(t), F_VERSION_1);
}
END_TEST

START_TEST(test_status_rules)
{
	make(false);
	bring_up(F_VERSION_1);
	ck_assert_int_eq(fdev.driver_ok_calls, 1);
	uint32_t s = rd(VIRTIO_MMIO_STATUS);
	/* Clearing bits (other than by reset) and setting NEEDS_RESET are
	 * not the driver's to do. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), s);
	wr(VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), s);
	/* Re-writing DRIVER_OK does not call the hook again. */
	driver_ok();
	ck_assert_int_eq(fdev.driver_ok_calls, 1);
	wr(VIRTIO_MMIO_STATUS, s | VIRTIO_STATUS_FAILED);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), s | VIRTIO_STATUS_FAILED);
}
END_TEST

START_TEST(test_bad_access_widths)
{
	make(false);
	uint16_t v16 = 0xbeef;
	ck_assert_int_eq(bus_read(bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, &v16, 2), 0);
	ck_assert_uint_eq(v16, 0);
	uint64_t v64 = 1;
	ck_assert_int_eq(bus_read(bus, BASE + VIRTIO_MMIO_MAGIC_VALUE, &v64, 8), 0);
	ck_assert_uint_eq(v64, 0);
	uint32_t v32 = 0x1234;
	ck_assert_int_eq(bus_read(bus, BASE + 2, &v32, 4), 0); /* unaligned */
	ck_assert_uint_eq(v32, 0);
	uint8_t b = VIRTIO_STATUS_ACKNOWLEDGE;
	ck_assert_int_eq(bus_write(bus, BASE + VIRTIO_MMIO_STATUS, &b, 1), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
}
END_TEST

/* ---- queues ---- */

START_TEST(test_queue_num_max_and_missing_queues)
{
	make(false);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	ck_assert(negotiate(F_VERSION_1));
	setup_queue(2, 8, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert_ptr_null(virtio_mmio_queue(t, 2));
	setup_queue(0xffffffffu, 8, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_queue_setup_ok)
{
	make(false);
	ck_assert(negotiate(F_VERSION_1 | F_EVENT));
	setup_queue(1, 16, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	struct virtq *q = virtio_mmio_queue(t, 1);
	ck_assert(virtq_ready(q));
	ck_assert_uint_eq(virtq_size(q), 16);
	ck_assert(!virtq_ready(virtio_mmio_queue(t, 0)));
	/* Layout registers are frozen while the queue is enabled ... */
	wr(VIRTIO_MMIO_QUEUE_NUM, 4);
	wr64(VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
	/* ... and take effect again after disable + enable. */
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(!virtq_ready(q));
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_uint_eq(virtq_size(q), 16);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(virtq_size(q), 4);
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

/* Each bad layout is refused: QueueReady stays 0 and NEEDS_RESET is set. */
static void expect_refused(uint32_t num, uint64_t desc, uint64_t avail, uint64_t used, bool feat)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	if (feat)
		ck_assert(negotiate(F_VERSION_1));
	setup_queue(0, num, desc, avail, used);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(!virtq_ready(virtio_mmio_queue(t, 0)));
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

START_TEST(test_queue_setup_refused)
{
	make(false);
	expect_refused(8, 0x1000, AVAIL_GPA, USED_GPA, true);                 /* desc below RAM */
	expect_refused(8, DESC_GPA, RAM_GPA + RAM_SIZE, USED_GPA, true);      /* avail past RAM */
	expect_refused(8, DESC_GPA, AVAIL_GPA, RAM_GPA + RAM_SIZE - 8, true); /* used crosses end */
	expect_refused(8, DESC_GPA, AVAIL_GPA, 0xfffffffffffffff0ull, true);  /* wraps */
	expect_refused(8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, true);           /* misaligned */
	expect_refused(8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, true);
	expect_refused(8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, true);
	expect_refused(0, DESC_GPA, AVAIL_GPA, USED_GPA, true);  /* zero size */
	expect_refused(6, DESC_GPA, AVAIL_GPA, USED_GPA, true);  /* not a power of 2 */
	expect_refused(32, DESC_GPA, AVAIL_GPA, USED_GPA, true); /* above QueueNumMax */
	expect_refused(8, DESC_GPA, AVAIL_GPA, USED_GPA, false); /* before FEATURES_OK */
	/* The good layout works after a reset. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert(negotiate(F_VERSION_1));
	setup_queue(0, 8, DESC_GPA, AVAIL_GPA, USED_GPA);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
}
END_TEST

START_TEST(test_reset_returns_to_initial_state)
{
	make(false);
	bring_up(F_VERSION_1 | F_DEV_LOW);
	setup_queue(1, 4, DESC_GPA + 0x800, AVAIL_GPA + 0x800, USED_GPA + 0x800);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	virtio_mmio_config_changed(t);
	ck_assert_uint_ne(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	uint32_t gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);
	int resets = fdev.reset_calls;

	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(fdev.reset_calls, resets + 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(virtio_mmio_features(t), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen); /* never goes back */
	for (uint32_t i = 0; i < 2; i++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, i);
		ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
		ck_assert(!virtq_ready(virtio_mmio_queue(t, i)));
		ck_assert_uint_eq(virtq_last_avail_idx(virtio_mmio_queue(t, i)), 0);
	}
	/* Queue layout registers were cleared too: enabling without writing
	 * them again is refused (QueueNum 0). */
	ck_assert(negotiate(F_VERSION_1));
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* Reset also clears NEEDS_RESET. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_int_eq(fdev.reset_calls, resets + 3);
}
END_TEST

/* ---- config space ---- */

START_TEST(test_config_space_bounds)
{
	make(false);
	uint32_t v32 = 0;
	ck_assert_int_eq(bus_read(bus, BASE + 0x100, &v32, 4), 0);
	ck_assert_uint_eq(le32toh(v32), 0xa3a2a1a0u);
	uint8_t b = 0;
	ck_assert_int_eq(bus_read(bus, BASE + 0x100 + CFG_SIZE - 1, &b, 1), 0);
	ck_assert_uint_eq(b, 0xa0 + CFG_SIZE - 1);
	uint64_t v64 = 0;
	ck_assert_int_eq(bus_read(bus, BASE + 0x104, &v64, 8), 0);
	ck_assert_uint_eq(le64toh(v64), 0xabaaa9a8a7a6a5a4ull);
	/* Straddling or past the end: 0, never the bytes behind config. */
	v32 = 0xffffffffu;
	ck_assert_int_eq(bus_read(bus, BASE + 0x100 + CFG_SIZE - 2, &v32, 4), 0);
	ck_assert_uint_eq(v32, 0);
	v64 = ~0ull;
	ck_assert_int_eq(bus_read(bus, BASE + 0x100 + CFG_SIZE, &v64, 8), 0);
	ck_assert_uint_eq(v64, 0);
	ck_assert_int_eq(bus_read(bus, BASE + 0xff8, &v64, 8), 0);
	ck_assert_uint_eq(v64, 0);

	/* Writes inside land; writes past the end are dropped. */
	uint16_t w = htole16(0x5566);
	ck_assert_int_eq(bus_write(bus, BASE + 0x100 + 2, &w, 2), 0);
	ck_assert_uint_eq(fdev.config[2], 0x66);
	ck_assert_uint_eq(fdev.config[3], 0x55);
	uint8_t before[CFG_SIZE];
	memcpy(before, fdev.config, CFG_SIZE);
	v64 = ~0ull;
	ck_assert_int_eq(bus_write(bus, BASE + 0x100 + CFG_SIZE - 4, &v64, 8), 0);
	ck_assert_int_eq(bus_write(bus, BASE + 0x100 + CFG_SIZE, &v64, 8), 0);
	ck_assert_int_eq(bus_write(bus, BASE + 0xff8, &v64, 8), 0);
	ck_assert(memcmp(before, fdev.config, CFG_SIZE) == 0);
	for (size_t i = 0; i < sizeof(fdev.guard); i++)
		ck_assert_uint_eq(fdev.guard[i], 0);
}
END_TEST

START_TEST(test_config_generation_and_interrupt)
{
	make(true);
	ck_assert_int_eq(plat.irq_calls, 1);
	ck_assert_uint_eq(plat.irq_gsi, GSI);
	/* Before DRIVER_OK: generation moves, no interrupt. */
	virtio_mmio_config_changed(t);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 0);
	bring_up(F_VERSION_1);
	virtio_mmio_config_changed(t);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}
END_TEST

/* ---- interrupts and notifications ---- */

START_TEST(test_interrupt_status_and_ack)
{
	make(true);
	bring_up(F_VERSION_1);
	ck_assert_int_eq(virtq_push(virtio_mmio_queue(t, 0), 0, 0), 0);
	virtio_mmio_notify_used(t, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	virtio_mmio_config_changed(t);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0xfffffffcu); /* bits never set: harmless */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Driver suppression: NO_INTERRUPT means no used-buffer interrupt. */
	put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(virtq_push(virtio_mmio_queue(t, 0), 0, 0), 0);
	virtio_mmio_notify_used(t, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 0);
	virtio_mmio_notify_used(t, 9); /* out of range: ignored */
}
END_TEST

START_TEST(test_notify_direct_without_platform)
{
	make(false);
	ck_assert(negotiate(F_VERSION_1));
	setup_queue(0, 8, DESC_GPA, AVAIL_GPA, USED_GPA);
	/* Before DRIVER_OK the kick is held back ... */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_int_eq(fdev.notify_calls[0], 0);
	/* ... and replayed for every ready queue at DRIVER_OK. */
	driver_ok();
	ck_assert_int_eq(fdev.driver_ok_calls, 1);
	ck_assert_int_eq(fdev.notify_calls[0], 1);
	ck_assert_int_eq(fdev.notify_calls[1], 0); /* queue 1 not ready */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_int_eq(fdev.notify_calls[0], 2);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* not ready: dropped */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 7); /* no such queue */
	ck_assert_int_eq(fdev.notify_calls[0], 2);
	ck_assert_int_eq(fdev.notify_calls[1], 0);
}
END_TEST

START_TEST(test_notify_through_ioeventfd)
{
	make(true);
	ck_assert_int_eq(plat.io_calls, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(plat.io_addr[i], BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		ck_assert_uint_eq(plat.io_len[i], 4);
		ck_assert_uint_eq(plat.io_match[i], (uint64_t)i);
		ck_assert_int_ge(plat.io_fd[i], 0);
	}
	ck_assert_int_ne(plat.io_fd[0], plat.io_fd[1]);
	bring_up(F_VERSION_1);
	/* Even the DRIVER_OK replay goes through the eventfd: notify runs on
	 * the event-loop thread only. */
	ck_assert_int_eq(fdev.notify_calls[0], 0);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], 1);
	int base_calls = fdev.notify_calls[0];
	/* What KVM does on a matching QueueNotify write. */
	kick_fd(plat.io_fd[0]);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(fdev.notify_calls[0], base_calls);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], base_calls + 1); /* kicks coalesce */
	/* A QueueNotify that exits to userspace anyway goes the same way. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_int_eq(fdev.notify_calls[0], base_calls + 1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], base_calls + 2);
	/* Kicks on a queue that is not ready reach no device. */
	kick_fd(plat.io_fd[1]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[1], 0);
}
END_TEST

START_TEST(test_ioeventfd_failure_falls_back)
{
	plat.io_ret = -ENOSYS;
	make(true);
	ck_assert_int_eq(plat.io_calls, 2);
	bring_up(F_VERSION_1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0); /* DRIVER_OK replay */
	int before = fdev.notify_calls[0];
	/* The QueueNotify exit kicks the eventfd itself: device work stays on
	 * the event loop without KVM's ioeventfd too. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_int_eq(fdev.notify_calls[0], before);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], before + 1);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_int_eq(fdev.notify_calls[0], before + 1);
}
END_TEST

START_TEST(test_irqfd_failure_fails_creation)
{
	plat.irq_ret = -EBUSY;
	struct virtio_mmio_config cfg = {
		.base = BASE,
		.irq = GSI,
		.gm = gm,
		.loop = loop,
		.platform = &platform,
		.device = { .ops = &fake_ops, .dev = &fdev },
	};
	ck_assert_int_eq(virtio_mmio_new(&cfg, &t), -EBUSY);
	t = NULL;
}
END_TEST

/* A device that used its budget is called again on the next round (on the
 * loop), or at once without one. */
START_TEST(test_notify_more_comes_back)
{
	make(true);
	bring_up(F_VERSION_1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	int calls = fdev.notify_calls[0];
	fdev.notify_ret = VIRTIO_NOTIFY_MORE;
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls + 1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls + 2);
	fdev.notify_ret = 0;
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls + 3);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls + 3);
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_notify_error_sets_needs_reset)
{
	make(true);
	bring_up(F_VERSION_1);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 0);
	fdev.notify_ret = -EINVAL;
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	int calls = fdev.notify_calls[0];
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	/* A broken device gets no more notifications until reset. */
	fdev.notify_ret = 0;
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls);
	/* After reset + bring-up, DRIVER_OK replays a kick through the
	 * eventfd and the device is served again. */
	bring_up(F_VERSION_1);
	ck_assert(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
	ck_assert_int_eq(fdev.notify_calls[0], calls);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_int_eq(fdev.notify_calls[0], calls + 1);
}
END_TEST

START_TEST(test_malformed_chain_sets_needs_reset)
{
	make(false);
	fdev.drain = true;
	bring_up(F_VERSION_1);
	set_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0); /* self loop */
	avail_add(0, 8);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	ck_assert_int_eq(virtq_error(virtio_mmio_queue(t, 0)), -ELOOP);
	ck_assert_uint_eq(get16(USED_GPA + 2), 0);
}
END_TEST

/* ---- construction, accessors ---- */

START_TEST(test_new_validates)
{
	struct virtio_device_ops ops = fake_ops;
	struct virtio_mmio_config cfg = {
		.base = BASE,
		.irq = GSI,
		.gm = gm,
		.device = { .ops = &ops, .dev = &fdev },
	};
	struct virtio_mmio *x = NULL;
	ops.num_queues = 0;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.num_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.max_queue_size = 12;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.max_queue_size = 65536;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.config_size = VIRTIO_MMIO_CONFIG_MAX + 1;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.device_id = 0;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	ops.notify = NULL;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ops = fake_ops;
	cfg.base = BASE + 0x800;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	cfg.base = BASE;
	cfg.gm = NULL;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), -EINVAL);
	ck_assert_ptr_null(x);
	cfg.gm = gm;
	ck_assert_int_eq(virtio_mmio_new(&cfg, &x), 0);
	virtio_mmio_free(x);
}
END_TEST

START_TEST(test_cmdline_and_accessors)
{
	make(false);
	char buf[64];
	int n = virtio_mmio_cmdline(t, buf, sizeof(buf));
	ck_assert_str_eq(buf, "virtio_mmio.device=4K@0xd0000000:5");
	ck_assert_int_eq(n, (int)strlen(buf));
	ck_assert_int_eq(virtio_mmio_cmdline(t, buf, 10), -ENOSPC);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(virtio_mmio_base(t), BASE);
	ck_assert_uint_eq(virtio_mmio_size(t), 0x1000);
	ck_assert_uint_eq(virtio_mmio_irq(t), GSI);
	ck_assert_uint_eq(virtio_mmio_device_id(t), 42);
	/* The window is registered exactly: the next page is not ours. */
	uint32_t v;
	ck_assert_int_eq(bus_read(bus, BASE + 0x1000, &v, 4), -ENOENT);
}
END_TEST

/* ---- virtio-rng end to end ---- */

static struct virtio_rng *rng;

static void make_rng(void)
{
	rng = virtio_rng_new();
	ck_assert_ptr_nonnull(rng);
	struct virtio_mmio_config cfg = {
		.base = BASE,
		.irq = GSI,
		.gm = gm,
		.loop = loop,
		.platform = &platform,
		.device = virtio_rng_device(rng),
	};
	ck_assert_int_eq(virtio_mmio_new(&cfg, &t), 0);
	ck_assert_int_eq(virtio_mmio_register(bus, t), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_SIZE);
	ck_assert_int_eq(plat.io_calls, 1);
}

static void free_rng(void)
{
	virtio_mmio_free(t);
	t = NULL;
	virtio_rng_free(rng);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(test_rng_fills_buffers)
{
	make_rng();
	bring_up(F_VERSION_1);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 0);
	/* One 64-byte buffer, then a chain of two (16 + 48). */
	set_desc(0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), 1);
	ck_assert_uint_eq(get32(USED_GPA + 4), 0);
	ck_assert_uint_eq(get32(USED_GPA + 8), 64);
	ck_assert(!all_zero(hva(BUF_GPA), 64));
	ck_assert(all_zero(hva(BUF_GPA + 64), 64)); /* not one byte more */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);

	set_desc(1, BUF_GPA + 0x1000, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA + 0x2000, 48, VIRTQ_DESC_F_WRITE, 0);
	avail_add(1, 8);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), 2);
	ck_assert_uint_eq(get32(USED_GPA + 12), 1);
	ck_assert_uint_eq(get32(USED_GPA + 16), 64);
	ck_assert(!all_zero(hva(BUF_GPA + 0x1000), 16));
	ck_assert(!all_zero(hva(BUF_GPA + 0x2000), 48));
	ck_assert_uint_eq(virtio_rng_bytes(rng), 128);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1);
	free_rng();
}
END_TEST

static void count_ready(void *opaque, uint32_t events)
{
	(void)events;
	(*(int *)opaque)++;
}

/* A guest that keeps its ring full (here: one head posted 100 times) gets
 * VIRTIO_NOTIFY_BUDGET buffers per event-loop round, and whatever else is
 * ready (the monitor, signals) is served in between. */
START_TEST(test_rng_bounded_work_per_round)
{
	make_rng();
	ck_assert(negotiate(F_VERSION_1));
	setup_queue(0, 128, DESC_GPA, AVAIL_GPA, USED_GPA);
	driver_ok();
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0); /* DRIVER_OK replay: empty ring */
	set_desc(0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	for (int i = 0; i < 100; i++)
		avail_add(0, 128);
	int p[2], other = 0;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(evloop_add(loop, p[0], EPOLLIN, count_ready, &other), 0);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), VIRTIO_NOTIFY_BUDGET);
	ck_assert_int_eq(other, 1);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0); /* the queue came back by itself */
	ck_assert_uint_eq(get16(USED_GPA + 2), 100);
	ck_assert_int_eq(other, 2);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), 100);
	ck_assert_int_eq(evloop_del(loop, p[0]), 0);
	close(p[0]);
	close(p[1]);
	free_rng();
}
END_TEST

START_TEST(test_rng_caps_large_buffers)
{
	make_rng();
	bring_up(F_VERSION_1);
	set_desc(0, BUF_GPA, 2 * VIRTIO_RNG_MAX_PER_BUF, VIRTQ_DESC_F_WRITE, 0);
	avail_add(0, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(get32(USED_GPA + 8), VIRTIO_RNG_MAX_PER_BUF);
	ck_assert(all_zero(hva(BUF_GPA + VIRTIO_RNG_MAX_PER_BUF), 4096));
	free_rng();
}
END_TEST

START_TEST(test_rng_event_idx_suppression)
{
	make_rng();
	bring_up(F_VERSION_1 | F_EVENT);
	for (uint16_t i = 0; i < 3; i++)
		set_desc(i, BUF_GPA + 0x100 * i, 32, VIRTQ_DESC_F_WRITE, 0);
	/* used_event = 1: interrupt only once the used index passes 1. */
	put16(AVAIL_GPA + 4 + 2 * 8, 1);
	avail_add(0, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1); /* first one always */
	put16(AVAIL_GPA + 4 + 2 * 8, 5);
	avail_add(1, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(get16(USED_GPA + 2), 2);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 0); /* suppressed */
	put16(AVAIL_GPA + 4 + 2 * 8, 2);
	avail_add(2, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert_uint_eq(irq_count(plat.irq_fd), 1); /* 2 -> 3 crosses 2 */
	/* The device asked to be kicked at the next new buffer. */
	ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * 8), 3);
	free_rng();
}
END_TEST

START_TEST(test_rng_malformed_chain)
{
	make_rng();
	bring_up(F_VERSION_1);
	set_desc(0, RAM_GPA + RAM_SIZE - 8, 64, VIRTQ_DESC_F_WRITE, 0); /* crosses RAM end */
	avail_add(0, 8);
	kick_fd(plat.io_fd[0]);
	ck_assert_int_eq(evloop_run_once(loop, 1000), 0);
	ck_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(get16(USED_GPA + 2), 0);
	ck_assert(all_zero(hva(RAM_GPA + RAM_SIZE - 8), 8));
	ck_assert_uint_eq(virtio_rng_bytes(rng), 0);
	free_rng();
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("virtio_mmio");
	TCase *tc = tcase_create("virtio_mmio");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_device_features_both_halves);
	tcase_add_test(tc, test_features_accepted);
	tcase_add_test(tc, test_features_rejected);
	tcase_add_test(tc, test_status_rules);
	tcase_add_test(tc, test_bad_access_widths);
	tcase_add_test(tc, test_queue_num_max_and_missing_queues);
	tcase_add_test(tc, test_queue_setup_ok);
	tcase_add_test(tc, test_queue_setup_refused);
	tcase_add_test(tc, test_reset_returns_to_initial_state);
	tcase_add_test(tc, test_config_space_bounds);
	tcase_add_test(tc, test_config_generation_and_interrupt);
	tcase_add_test(tc, test_interrupt_status_and_ack);
	tcase_add_test(tc, test_notify_direct_without_platform);
	tcase_add_test(tc, test_notify_through_ioeventfd);
	tcase_add_test(tc, test_ioeventfd_failure_falls_back);
	tcase_add_test(tc, test_irqfd_failure_fails_creation);
	tcase_add_test(tc, test_notify_error_sets_needs_reset);
	tcase_add_test(tc, test_notify_more_comes_back);
	tcase_add_test(tc, test_malformed_chain_sets_needs_reset);
	tcase_add_test(tc, test_new_validates);
	tcase_add_test(tc, test_cmdline_and_accessors);
	tcase_add_test(tc, test_rng_fills_buffers);
	tcase_add_test(tc, test_rng_caps_large_buffers);
	tcase_add_test(tc, test_rng_bounded_work_per_round);
	tcase_add_test(tc, test_rng_event_idx_suppression);
	tcase_add_test(tc, test_rng_malformed_chain);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
