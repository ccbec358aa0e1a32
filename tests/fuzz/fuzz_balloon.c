/* libFuzzer target for the virtio-mmio register file with the balloon and
 * its four queues behind it: the input is a program of guest actions
 * (register writes and reads through the MMIO bus, writes into a small
 * "guest RAM", queue kicks, monitor-side target changes and stats
 * requests), as a hostile driver would issue them. Invariants: nothing
 * crashes, every discard or reclaim the balloon asks for lies inside guest
 * RAM and is page aligned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/balloon.h"
#include "devices/bus.h"
#include "devices/virtio_mmio.h"
#include "memory/guest_mem.h"
#include "memory/guest_ram.h"

#define BASE     0xd0000000ull
#define RAM_GPA  0x0ull
#define RAM_SIZE 0x40000u /* 256 KiB: 64 pages */

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static void check_range(uint64_t gpa, uint64_t len)
{
	CHECK(len > 0 && len % 4096 == 0 && gpa % 4096 == 0);
	CHECK(gpa >= RAM_GPA && gpa - RAM_GPA <= RAM_SIZE && len <= RAM_SIZE - (gpa - RAM_GPA));
}

static int f_discard(void *o, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	(void)o;
	check_range(gpa, len);
	if (freed)
		*freed = len;
	return 0;
}

static int f_discard_runs(void *o, const struct guest_ram_run *runs, size_t n, uint64_t *freed)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		check_range(runs[i].gpa, runs[i].len);
		if (i)
			CHECK(runs[i].gpa >= runs[i - 1].gpa + runs[i - 1].len);
		total += runs[i].len;
	}
	(void)o;
	if (freed)
		*freed = total;
	return 0;
}

static int f_reclaim(void *o, uint64_t gpa, uint64_t len)
{
	(void)o;
	check_range(gpa, len);
	return 0;
}

static const struct guest_ram_ops ops = {
	.discard = f_discard,
	.discard_runs = f_discard_runs,
	.discard_reported = f_discard,
	.reclaim = f_reclaim,
};

static uint32_t rd32(const uint8_t *d, size_t n, size_t off)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)(off + i < n ? d[off + i] : 0) << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct guest_mem *gm = guest_mem_new();
	struct bus *mmio = bus_new("mmio");
	struct balloon *b = NULL;
	struct virtio_mmio *t = NULL;

	if (!ram || !gm || !mmio || guest_mem_add(gm, RAM_GPA, RAM_SIZE, ram, NULL))
		goto out;
	struct balloon_config bc = {
		.deflate_on_oom = size && (data[0] & 1),
		.free_page_reporting = size && (data[0] & 2),
		.stats_interval_s = 0,
		.ram_size = RAM_SIZE,
		.gm = gm,
		.mem = &ops,
	};
	if (balloon_new(&bc, &b))
		goto out;
	struct virtio_mmio_config vc = {
		.base = BASE,
		.irq = 5,
		.gm = gm,
		.device = balloon_virtio_device(b),
	};
	if (virtio_mmio_new(&vc, &t) || virtio_mmio_register(mmio, t))
		goto out;
	balloon_attach(b, t);

	/* Each action: 1 opcode byte, then 4- or 8-byte operands. */
	for (size_t i = 1; i + 1 < size;) {
		uint8_t op = data[i++];
		uint32_t a = rd32(data, size, i), v = rd32(data, size, i + 4);
		i += 8;
		switch (op % 6) {
		case 0: /* register write */
			bus_write(mmio, BASE + (a % 0x200), &v, 4);
			break;
		case 1: { /* register read */
			uint32_t x;
			bus_read(mmio, BASE + (a % 0x200), &x, 4);
			break;
		}
		case 2: /* guest RAM: 4 bytes somewhere in the ring area */
			memcpy(ram + (a % (RAM_SIZE - 4)), &v, 4);
			break;
		case 3:                                      /* kick a queue */
			bus_write(mmio, BASE + 0x50, &v, 4); /* QueueNotify */
			break;
		case 4: /* monitor: balloon target */
			(void)balloon_set_target(b, (uint64_t)a * 4096 + 4096);
			break;
		case 5: /* monitor: ask for fresh statistics */
			(void)balloon_request_stats(b);
			break;
		}
	}
out:
	virtio_mmio_free(t);
	balloon_free(b);
	bus_free(mmio);
	guest_mem_free(gm);
	free(ram);
	return 0;
}
