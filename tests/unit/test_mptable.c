/* MP table: checksums, entry counts and contents, parsed the way Linux's
 * mpparse.c walks it. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/guest_mem.h"
#include "tests/unit/boot_cfg.h"
#include "tests/unit/check_main.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/boot/mptable.h"

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

struct parsed {
	unsigned cpus, bsp, buses, ioapics, intsrc, lintsrc;
	uint8_t cpu_ids[256];
	uint8_t ioapic_id;
	uint32_t ioapic_addr;
	int pin_of_isa_irq[256]; /* -1: no entry */
	unsigned extint_lint, nmi_lint;
};

/* Validates the floating pointer and table at buf (built for gpa) and
 * walks the entries with mpparse's sizes. */
static void parse(const uint8_t *buf, size_t len, uint64_t gpa, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 256; i++)
		p->pin_of_isa_irq[i] = -1;
	ck_assert_uint_ge(len, 16 + 44);
	ck_assert_mem_eq(buf, "_MP_", 4);
	ck_assert_uint_eq(buf[8], 1); /* length in paragraphs */
	ck_assert_uint_eq(buf[9], 4); /* spec 1.4 */
	ck_assert_uint_eq(sum8(buf, 16), 0);
	ck_assert_uint_eq(buf[11], 0); /* feature1: table present */
	uint32_t physptr = rd32(buf + 4);
	ck_assert_uint_eq(physptr, gpa + 16);
	const uint8_t *t = buf + (physptr - gpa);
	ck_assert_mem_eq(t, "PCMP", 4);
	uint16_t tlen = rd16(t + 4);
	ck_assert_uint_eq(16 + tlen, len);
	ck_assert_uint_eq(sum8(t, tlen), 0);
	ck_assert(t[6] == 1 || t[6] == 4);
	ck_assert_uint_eq(rd32(t + 36), LAYOUT_LAPIC);
	unsigned count = rd16(t + 34), seen = 0;
	size_t off = 44;
	while (off < tlen) {
		const uint8_t *e = t + off;
		seen++;
		switch (e[0]) {
		case 0: /* processor, 20 bytes */
			ck_assert(e[3] & 1);
			p->cpu_ids[p->cpus++] = e[1];
			ck_assert_uint_eq(e[2], MPTABLE_LAPIC_VERSION);
			if (e[3] & 2) {
				p->bsp++;
				ck_assert_uint_eq(e[1], 0);
			}
			off += 20;
			break;
		case 1: /* bus */
			ck_assert_mem_eq(e + 2, "ISA   ", 6);
			ck_assert_uint_eq(e[1], 0);
			p->buses++;
			off += 8;
			break;
		case 2: /* IOAPIC */
			p->ioapics++;
			p->ioapic_id = e[1];
			ck_assert(e[3] & 1);
			p->ioapic_addr = rd32(e + 4);
			off += 8;
			break;
		case 3: /* I/O interrupt */
			p->intsrc++;
			ck_assert_uint_eq(e[1], 0); /* mp_INT */
			ck_assert_uint_eq(e[4], 0); /* ISA bus */
			ck_assert_uint_eq(e[6], p->ioapic_id);
			ck_assert_msg(p->pin_of_isa_irq[e[5]] == -1, "IRQ %u listed twice", e[5]);
			p->pin_of_isa_irq[e[5]] = e[7];
			off += 8;
			break;
		case 4: /* local interrupt */
			p->lintsrc++;
			ck_assert_uint_eq(e[6], 0xff);
			if (e[1] == 3)
				p->extint_lint = e[7];
			else if (e[1] == 1)
				p->nmi_lint = e[7];
			else
				ck_abort_msg("unexpected local interrupt type %u", e[1]);
			off += 8;
			break;
		default:
			ck_abort_msg("unknown entry type %u at %zu", e[0], off);
		}
	}
	ck_assert_uint_eq(off, tlen);
	ck_assert_uint_eq(seen, count);
}

static void cfg_with(struct boot_config *cfg, unsigned ncpus, size_t nvirtio)
{
	loader_config_init(cfg);
	cfg->ncpus = ncpus;
	cfg->ram_size = 128 << 20;
	for (size_t i = 0; i < nvirtio; i++)
		boot_cfg_add_virtio(cfg);
}

static const unsigned cpu_counts[] = { 1, 2, 8, 254 };

START_TEST(table_contents)
{
	unsigned n = cpu_counts[_i];
	struct boot_config cfg;
	cfg_with(&cfg, n, 12); /* IRQs 5..18: four above 15 */
	size_t size = mptable_size(&cfg), len = 0;
	uint8_t *buf = malloc(size);
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, size, &len), 0);
	ck_assert_uint_eq(len, size);
	struct parsed p;
	parse(buf, len, LAYOUT_EBDA, &p);
	ck_assert_uint_eq(p.cpus, n);
	ck_assert_uint_eq(p.bsp, 1);
	for (unsigned i = 0; i < n; i++)
		ck_assert_uint_eq(p.cpu_ids[i], i);
	ck_assert_uint_eq(p.buses, 1);
	ck_assert_uint_eq(p.ioapics, 1);
	ck_assert_uint_eq(p.ioapic_id, n);
	ck_assert_uint_eq(p.ioapic_addr, LAYOUT_IOAPIC);
	/* ISA IRQs 0..15 except the cascade 2, plus virtio IRQs 16..18 */
	ck_assert_uint_eq(p.intsrc, 15 + 3);
	ck_assert_int_eq(p.pin_of_isa_irq[0], 2);
	ck_assert_int_eq(p.pin_of_isa_irq[2], -1);
	for (int irq = 1; irq < 16; irq++)
		if (irq != 2)
			ck_assert_int_eq(p.pin_of_isa_irq[irq], irq);
	for (size_t i = 0; i < cfg.nvirtio; i++)
		ck_assert_int_eq(p.pin_of_isa_irq[cfg.virtio[i].irq], (int)cfg.virtio[i].irq);
	ck_assert_int_eq(p.pin_of_isa_irq[19], -1);
	ck_assert_uint_eq(p.lintsrc, 2);
	ck_assert_uint_eq(p.extint_lint, 0);
	ck_assert_uint_eq(p.nmi_lint, 1);
	free(buf);
}
END_TEST

START_TEST(irq0_pin0_option)
{
	struct boot_config cfg;
	cfg_with(&cfg, 2, 0);
	cfg.irq0_pin0 = true;
	uint8_t buf[1024];
	size_t len = 0;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, sizeof(buf), &len), 0);
	struct parsed p;
	parse(buf, len, LAYOUT_EBDA, &p);
	ck_assert_uint_eq(p.intsrc, 16);
	for (int irq = 0; irq < 16; irq++)
		ck_assert_int_eq(p.pin_of_isa_irq[irq], irq);
}
END_TEST

START_TEST(ioapic_id_with_dtb)
{
	/* With a DTB, Linux registers the IOAPIC as id 1 before reading the
	 * MP table: the interrupt entries must name that id. */
	struct boot_config cfg;
	cfg_with(&cfg, 4, 2);
	cfg.want_dtb = true;
	uint8_t buf[1024];
	size_t len = 0;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, sizeof(buf), &len), 0);
	struct parsed p;
	parse(buf, len, LAYOUT_EBDA, &p); /* checks every entry's dstapic == IOAPIC id */
	ck_assert_uint_eq(p.ioapic_id, 1);
	ck_assert_uint_eq(p.cpus, 4);
	cfg.want_dtb = false;
	ck_assert_uint_eq(mptable_ioapic_id(&cfg), 4);
}
END_TEST

START_TEST(bad_arguments)
{
	struct boot_config cfg;
	cfg_with(&cfg, 1, 0);
	uint8_t buf[1024];
	size_t len = 0;
	cfg.ncpus = 0;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, sizeof(buf), &len), -EINVAL);
	cfg.ncpus = 255;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, sizeof(buf), &len), -EINVAL);
	cfg.ncpus = 4;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, mptable_size(&cfg) - 1, &len),
			 -ENOSPC);
	ck_assert_int_eq(mptable_build(&cfg, 0xfffffff0ull, buf, sizeof(buf), &len), -EINVAL);
	cfg.virtio[0].irq = 300;
	cfg.nvirtio = 1;
	ck_assert_int_eq(mptable_build(&cfg, LAYOUT_EBDA, buf, sizeof(buf), &len), -EINVAL);
}
END_TEST

START_TEST(write_to_guest)
{
	struct boot_config cfg;
	cfg_with(&cfg, 4, 3);
	size_t ram = 2 << 20;
	uint8_t *mem = calloc(1, ram);
	struct guest_mem *gm = guest_mem_new();
	ck_assert_int_eq(guest_mem_add(gm, 0, ram, mem, NULL), 0);
	size_t len = 0;
	char err[256] = "";
	ck_assert_int_eq(mptable_write(&cfg, gm, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, mptable_size(&cfg));
	ck_assert_uint_le(LAYOUT_EBDA + len, 0x100000);
	/* mpparse scans the KiB below 640 KiB for the floating pointer */
	ck_assert_uint_eq(LAYOUT_EBDA, 639 * 0x400);
	struct parsed p;
	parse(mem + LAYOUT_EBDA, len, LAYOUT_EBDA, &p);
	ck_assert_uint_eq(p.cpus, 4);

	/* No RAM at the EBDA: a clear error. */
	struct guest_mem *hi = guest_mem_new();
	ck_assert_int_eq(guest_mem_add(hi, 0x100000, ram - 0x100000, mem, NULL), 0);
	ck_assert_int_eq(mptable_write(&cfg, hi, &len, err, sizeof(err)), -EFAULT);
	ck_assert_msg(strstr(err, "not in guest RAM"), "%s", err);
	cfg.ncpus = 0;
	ck_assert_int_eq(mptable_write(&cfg, gm, &len, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "-smp 0"), "%s", err);
	guest_mem_free(hi);
	guest_mem_free(gm);
	free(mem);
}
END_TEST

static Suite *mptable_suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *tc = tcase_create("mptable");
	tcase_add_loop_test(tc, table_contents, 0, ARRAY_SIZE(cpu_counts));
	tcase_add_test(tc, irq0_pin0_option);
	tcase_add_test(tc, ioapic_id_with_dtb);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, write_to_guest);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(mptable_suite)
