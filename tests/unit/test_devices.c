/* The board's device manager: virtio-mmio window and GSI allocation, the
 * kernel command-line announcements and boot description, port ranges and
 * reset hooks, on plain buses with a fake platform. No /dev/kvm needed. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_rng.h"
#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "vmm/board/devices.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/boot.h"

struct fake_platform {
	unsigned irqfds;
	uint32_t gsis[32];
};

static int fake_irqfd(void *opaque, uint32_t gsi, int fd)
{
	struct fake_platform *p = opaque;
	(void)fd;
	if (p->irqfds < 32)
		p->gsis[p->irqfds] = gsi;
	p->irqfds++;
	return 0;
}

struct fixture {
	struct bus *pio, *mmio;
	struct guest_mem *gm;
	struct fake_platform plat;
	struct devmgr *dm;
	struct virtio_rng *rng[LAYOUT_VIRTIO_MMIO_MAX + 1];
};

static struct fixture *fx_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->pio = bus_new("pio");
	f->mmio = bus_new("mmio");
	f->gm = guest_mem_new();
	ck_assert_ptr_nonnull(f->gm);
	struct devmgr_env env = {
		.pio = f->pio,
		.mmio = f->mmio,
		.gm = f->gm,
		.platform = { .opaque = &f->plat, .irqfd = fake_irqfd },
	};
	ck_assert_int_eq(devmgr_new(&env, &f->dm), 0);
	return f;
}

static void fx_free(struct fixture *f)
{
	devmgr_free(f->dm);
	for (size_t i = 0; i < ARRAY_SIZE(f->rng); i++)
		virtio_rng_free(f->rng[i]);
	bus_free(f->pio);
	bus_free(f->mmio);
	guest_mem_free(f->gm);
	free(f);
}

static int add_rng(struct fixture *f, unsigned i, struct virtio_mmio **t, char *err, size_t n)
{
	f->rng[i] = virtio_rng_new();
	ck_assert_ptr_nonnull(f->rng[i]);
	return devmgr_add_virtio(f->dm, virtio_rng_device(f->rng[i]), t, err, n);
}

START_TEST(virtio_windows_and_gsis_in_order)
{
	struct fixture *f = fx_new();
	char err[128];
	/* GSIs 8 (RTC) and 12 (PS/2 mouse) are skipped. */
	static const uint32_t want[] = {
		5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22
	};
	ck_assert_uint_eq(ARRAY_SIZE(want), LAYOUT_VIRTIO_MMIO_MAX);
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MMIO_MAX; i++) {
		struct virtio_mmio *t = NULL;
		ck_assert_int_eq(add_rng(f, i, &t, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(virtio_mmio_base(t), LAYOUT_VIRTIO_MMIO_BASE + i * 0x1000ull);
		ck_assert_uint_eq(virtio_mmio_irq(t), want[i]);
		ck_assert_uint_eq(f->plat.gsis[i], want[i]); /* the irqfd KVM would get */
	}
	ck_assert_uint_eq(devmgr_virtio_count(f->dm), LAYOUT_VIRTIO_MMIO_MAX);
	/* Each window answers on the MMIO bus: the magic value "virt". */
	uint32_t magic = 0;
	ck_assert_int_eq(bus_read(f->mmio, LAYOUT_VIRTIO_MMIO_BASE + 5 * 0x1000ull, &magic, 4), 0);
	ck_assert_uint_eq(magic, 0x74726976);
	/* One more: a clear error, nothing half-added. */
	ck_assert_int_eq(add_rng(f, LAYOUT_VIRTIO_MMIO_MAX, NULL, err, sizeof(err)), -ENOSPC);
	ck_assert_msg(strstr(err, "too many virtio devices (at most 16)"), "%s", err);
	ck_assert_uint_eq(devmgr_virtio_count(f->dm), LAYOUT_VIRTIO_MMIO_MAX);
	fx_free(f);
}
END_TEST

START_TEST(announcements_and_boot_devices_agree)
{
	struct fixture *f = fx_new();
	char err[128], a[DEVMGR_ANNOUNCE_MAX];
	ck_assert_int_eq(add_rng(f, 0, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(add_rng(f, 1, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(add_rng(f, 2, NULL, err, sizeof(err)), 0);

	struct boot_mmio_dev d[LAYOUT_VIRTIO_MMIO_MAX];
	ck_assert_uint_eq(devmgr_boot_devices(f->dm, d, ARRAY_SIZE(d)), 3);
	ck_assert_uint_eq(d[1].base, 0xd0001000);
	ck_assert_uint_eq(d[1].size, 0x1000);
	ck_assert_uint_eq(d[1].irq, 6);
	ck_assert_int_gt(devmgr_announce(&d[0], a, sizeof(a)), 0);
	ck_assert_str_eq(a, "virtio_mmio.device=4K@0xd0000000:5");
	ck_assert_int_gt(devmgr_announce(&d[2], a, sizeof(a)), 0);
	ck_assert_str_eq(a, "virtio_mmio.device=4K@0xd0002000:7");
	ck_assert_int_eq(devmgr_announce(&d[0], a, 10), -ENOSPC);
	ck_assert_uint_eq(devmgr_boot_devices(f->dm, d, 2), 2); /* bounded by the caller's room */
	fx_free(f);
}
END_TEST

/* Preflight describes a configuration's devices with devmgr_virtio_slot
 * before any exists: the slots must be where devmgr_add_virtio puts them. */
START_TEST(slots_are_where_devices_go)
{
	struct fixture *f = fx_new();
	char err[128];
	struct boot_mmio_dev slot, d[LAYOUT_VIRTIO_MMIO_MAX];
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MMIO_MAX; i++)
		ck_assert_int_eq(add_rng(f, i, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(devmgr_boot_devices(f->dm, d, ARRAY_SIZE(d)), LAYOUT_VIRTIO_MMIO_MAX);
	for (unsigned i = 0; i < LAYOUT_VIRTIO_MMIO_MAX; i++) {
		ck_assert_int_eq(devmgr_virtio_slot(i, &slot), 0);
		ck_assert_uint_eq(slot.base, d[i].base);
		ck_assert_uint_eq(slot.size, d[i].size);
		ck_assert_uint_eq(slot.irq, d[i].irq);
	}
	ck_assert_uint_eq(slot.irq, 22); /* the last: 16 GSIs from 5 without 8 and 12 */
	ck_assert_int_eq(devmgr_virtio_slot(LAYOUT_VIRTIO_MMIO_MAX, &slot), -ENOSPC);
	fx_free(f);
}
END_TEST

static int resets[4], reset_seq, reset_order[4];
static struct virtio_mmio *reset_transport;
static uint32_t status_seen_by_last = 99;
static void count_reset(void *dev)
{
	int id = *(int *)dev;
	resets[id]++;
	reset_order[id] = ++reset_seq;
	if (id == 2) /* added after the transport: it must be reset already */
		status_seen_by_last = virtio_mmio_status(reset_transport);
}

static void nop_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}
static const struct bus_ops nop_ops = { .name = "nop", .write = nop_write };

START_TEST(ports_and_reset_hooks)
{
	struct fixture *f = fx_new();
	static int ids[3] = { 0, 1, 2 };
	char err[128];
	memset(resets, 0, sizeof(resets));
	ck_assert_int_eq(devmgr_add_pio(f->dm, 0x3f8, 8, &nop_ops, NULL), 0);
	ck_assert_int_eq(devmgr_add_pio(f->dm, 0x3fc, 2, &nop_ops, NULL), -EEXIST);
	ck_assert_int_eq(devmgr_add_reset(f->dm, count_reset, &ids[0]), 0);
	ck_assert_int_eq(devmgr_add_reset(f->dm, count_reset, &ids[1]), 0);
	struct virtio_mmio *t;
	ck_assert_int_eq(add_rng(f, 0, &t, err, sizeof(err)), 0);
	reset_transport = t;
	ck_assert_int_eq(devmgr_add_reset(f->dm, count_reset, &ids[2]), 0);
	/* The driver sets ACKNOWLEDGE; a reboot's reset must clear it. */
	uint32_t st = 1;
	ck_assert_int_eq(bus_write(f->mmio, LAYOUT_VIRTIO_MMIO_BASE + 0x70, &st, 4), 0);
	ck_assert_uint_eq(virtio_mmio_status(t), 1);
	devmgr_reset(f->dm);
	ck_assert_int_eq(resets[0], 1);
	ck_assert_int_eq(resets[1], 1);
	ck_assert_int_eq(resets[2], 1);
	ck_assert_uint_eq(virtio_mmio_status(t), 0);
	/* In the order added: hooks 0 and 1, the transport, hook 2. */
	ck_assert_int_lt(reset_order[0], reset_order[1]);
	ck_assert_int_lt(reset_order[1], reset_order[2]);
	ck_assert_uint_eq(status_seen_by_last, 0);
	fx_free(f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("devmgr");
	tcase_add_test(tc, virtio_windows_and_gsis_in_order);
	tcase_add_test(tc, announcements_and_boot_devices_agree);
	tcase_add_test(tc, slots_are_where_devices_go);
	tcase_add_test(tc, ports_and_reset_hooks);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
