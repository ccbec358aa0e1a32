/* Kernel loader: e820/boot_params, ELF (vmlinux, payloads, PVH note),
 * bzImage headers, initrd placement and malformed inputs. Guest memory is
 * a sparse MAP_NORESERVE mapping, so multi-GiB guests cost nothing. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/guest_mem.h"
#include "tests/unit/boot_cfg.h"
#include "tests/unit/check_main.h"
#include "tests/unit/kernel_img.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

/* ---- guest memory laid out like the VM's memslots ---- */

struct tmem {
	uint8_t *hva;
	uint64_t size;
	struct guest_mem *gm;
};

static void tmem_init(struct tmem *m, uint64_t size)
{
	m->size = size;
	m->hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(m->hva, MAP_FAILED);
	m->gm = guest_mem_new();
	ck_assert_ptr_nonnull(m->gm);
	uint64_t low = size < LAYOUT_MMIO_HOLE ? size : LAYOUT_MMIO_HOLE;
	ck_assert_int_eq(guest_mem_add(m->gm, 0, low, m->hva, NULL), 0);
	if (size > LAYOUT_MMIO_HOLE)
		ck_assert_int_eq(guest_mem_add(m->gm, LAYOUT_MMIO_HOLE_END, size - LAYOUT_MMIO_HOLE,
					       m->hva + LAYOUT_MMIO_HOLE, NULL),
				 0);
}

static void tmem_free(struct tmem *m)
{
	guest_mem_free(m->gm);
	munmap(m->hva, m->size);
}

static uint8_t *gptr(struct tmem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(m->gm, gpa, len);
	ck_assert_msg(p != NULL, "gpa 0x%llx+%llu not in guest memory", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

static uint64_t g64(struct tmem *m, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, gptr(m, gpa, 8), 8);
	return v;
}
static uint32_t g32(struct tmem *m, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, gptr(m, gpa, 4), 4);
	return v;
}
static uint16_t g16(struct tmem *m, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, gptr(m, gpa, 2), 2);
	return v;
}
static uint8_t g8(struct tmem *m, uint64_t gpa)
{
	return *gptr(m, gpa, 1);
}

static const uint8_t code[64] = { 0xf4, 0xeb, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
#define KBASE 0x1000000ull

/* A vmlinux-like ELF64: text at 16 MiB and a data+bss segment. */
static size_t vmlinux_like(uint8_t *buf, size_t cap)
{
	struct tseg s[] = {
		{ PT_LOAD, KBASE, 0xffffffff81000000ull, code, sizeof(code), sizeof(code),
		  0x200000 },
		{ PT_LOAD, KBASE + 0x200000, 0xffffffff81200000ull, code, 16, 0x3000, 0x1000 },
	};
	return build_elf(buf, cap, true, EM_X86_64, KBASE, s, 2);
}

static void cfg_init(struct boot_config *cfg, uint64_t ram, const char *cmdline)
{
	loader_config_init(cfg);
	cfg->ram_size = ram;
	cfg->cmdline = cmdline;
	cfg->kernel_path = "test-kernel";
}

static int load_buf(struct boot_config *cfg, struct tmem *m, const void *k, size_t klen,
		    const void *rd, size_t rdlen, struct boot_entry *e, struct loader_info *info,
		    char *err)
{
	int ret = loader_load_image(cfg, k, klen, rd, rdlen, m->gm, e, info, err, 256);
	if (ret)
		ck_assert_msg(err[0] && !strchr(err, '\n'), "error must be one line: '%s'", err);
	return ret;
}

#define ASSERT_ERR(ret, err, needle)                                                           \
	do {                                                                                   \
		ck_assert_msg((ret) < 0, "expected an error, got %d", (ret));                  \
		ck_assert_msg(strstr((err), (needle)) != NULL, "error '%s' lacks '%s'", (err), \
			      (needle));                                                       \
	} while (0)

/* ---- e820 ---- */

static void check_e820_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t size,
			     uint32_t type)
{
	ck_assert_uint_eq(e->addr, addr);
	ck_assert_uint_eq(e->size, size);
	ck_assert_uint_eq(e->type, type);
}

START_TEST(e820_128m)
{
	struct boot_e820_entry e[BOOT_E820_MAX];
	ck_assert_uint_eq(boot_e820_build(128 * MiB, e), 3);
	check_e820_entry(&e[0], 0, LAYOUT_EBDA, E820_TYPE_RAM);
	check_e820_entry(&e[1], LAYOUT_EBDA, LAYOUT_HIMEM - LAYOUT_EBDA, E820_TYPE_RESERVED);
	check_e820_entry(&e[2], LAYOUT_HIMEM, 128 * MiB - LAYOUT_HIMEM, E820_TYPE_RAM);
}
END_TEST

START_TEST(e820_3g)
{
	struct boot_e820_entry e[BOOT_E820_MAX];
	ck_assert_uint_eq(boot_e820_build(3 * GiB, e), 3);
	check_e820_entry(&e[2], LAYOUT_HIMEM, 3 * GiB - LAYOUT_HIMEM, E820_TYPE_RAM);
	ck_assert_uint_eq(e[2].addr + e[2].size, LAYOUT_MMIO_HOLE);
}
END_TEST

START_TEST(e820_5g)
{
	struct boot_e820_entry e[BOOT_E820_MAX];
	ck_assert_uint_eq(boot_e820_build(5 * GiB, e), 4);
	check_e820_entry(&e[2], LAYOUT_HIMEM, 3 * GiB - LAYOUT_HIMEM, E820_TYPE_RAM);
	check_e820_entry(&e[3], 4 * GiB, 2 * GiB, E820_TYPE_RAM);
	/* RAM in the map adds up to the RAM size minus the reserved EBDA part. */
	uint64_t ram = 0;
	for (int i = 0; i < 4; i++)
		ram += e[i].type == E820_TYPE_RAM ? e[i].size : 0;
	ck_assert_uint_eq(ram, 5 * GiB - (LAYOUT_HIMEM - LAYOUT_EBDA));
}
END_TEST

/* ---- boot_params from a vmlinux at several RAM sizes ---- */

static const uint64_t ram_sizes[] = { 128 * MiB, 3 * GiB, 5 * GiB };

START_TEST(boot_params_vmlinux)
{
	uint64_t ram = ram_sizes[_i];
	struct tmem m;
	tmem_init(&m, ram);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	struct boot_config cfg;
	cfg_init(&cfg, ram, "console=ttyS0 quiet");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	int ret = load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err);
	ck_assert_msg(ret == 0, "%s", err);

	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	ck_assert_uint_eq(e.entry, KBASE);
	ck_assert_uint_eq(e.rsi, LAYOUT_ZERO_PAGE);
	ck_assert_uint_eq(e.rsp, LAYOUT_BOOT_STACK);
	ck_assert_int_eq(info.kind, KERNEL_ELF64);
	ck_assert_uint_eq(info.kernel_start, KBASE);
	ck_assert_uint_eq(info.kernel_end, KBASE + 0x200000 + 0x3000);

	uint64_t zp = LAYOUT_ZERO_PAGE;
	ck_assert_uint_eq(g16(&m, zp + 0x1fe), 0xaa55);
	ck_assert_uint_eq(g32(&m, zp + 0x202), 0x53726448);
	ck_assert_uint_eq(g8(&m, zp + 0x210), 0xff);            /* type_of_loader */
	ck_assert_uint_eq(g8(&m, zp + 0x211) & 1, 1);           /* LOADED_HIGH */
	ck_assert_uint_eq(g32(&m, zp + 0x228), LAYOUT_CMDLINE); /* cmd_line_ptr */
	ck_assert_uint_eq(g32(&m, zp + 0x218), 0);              /* no ramdisk */
	ck_assert_uint_eq(g64(&m, zp + 0x250), 0);              /* no setup_data */
	ck_assert_str_eq((const char *)gptr(&m, LAYOUT_CMDLINE, 20), "console=ttyS0 quiet");

	struct boot_e820_entry want[BOOT_E820_MAX];
	size_t n = boot_e820_build(ram, want);
	ck_assert_uint_eq(g8(&m, zp + 0x1e8), n);
	for (size_t i = 0; i < n; i++) {
		uint64_t ent = zp + 0x2d0 + i * 20;
		ck_assert_uint_eq(g64(&m, ent), want[i].addr);
		ck_assert_uint_eq(g64(&m, ent + 8), want[i].size);
		ck_assert_uint_eq(g32(&m, ent + 16), want[i].type);
	}
	ck_assert_uint_eq(n, ram > 3 * GiB ? 4 : 3);
	/* Segments loaded, bss zeroed, MP floating pointer in the EBDA. */
	ck_assert_mem_eq(gptr(&m, KBASE, sizeof(code)), code, sizeof(code));
	ck_assert_uint_eq(g8(&m, KBASE + 0x200000 + 0x2fff), 0);
	ck_assert_mem_eq(gptr(&m, LAYOUT_EBDA, 4), "_MP_", 4);
	ck_assert_uint_gt(info.mptable_size, 0);
	tmem_free(&m);
}
END_TEST

START_TEST(bss_is_zeroed)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	memset(gptr(&m, KBASE, 0x10000), 0xaa, 0x10000);
	uint8_t k[4096];
	struct tseg s[] = { { PT_LOAD, KBASE, KBASE, code, sizeof(code), 0x10000, 0x1000 } };
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ck_assert_int_eq(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), 0);
	uint8_t *p = gptr(&m, KBASE, 0x10000);
	ck_assert_mem_eq(p, code, sizeof(code));
	for (size_t i = sizeof(code); i < 0x10000; i++)
		ck_assert_msg(p[i] == 0, "bss byte %zu is 0x%x", i, p[i]);
	tmem_free(&m);
}
END_TEST

START_TEST(virtual_entry_translated)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	struct tseg s[] = {
		{ PT_LOAD, KBASE, 0xffffffff81000000ull, code, sizeof(code), sizeof(code), 0x1000 },
	};
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, 0xffffffff81000010ull, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err) == 0, "%s", err);
	ck_assert_uint_eq(e.entry, KBASE + 0x10);
	tmem_free(&m);
}
END_TEST

/* ---- command line ---- */

START_TEST(cmdline_limit_vmlinux)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	char *cl = malloc(2049);
	memset(cl, 'a', 2048);
	cl[2048] = '\0';
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, cl);
	struct boot_entry e;
	char err[256];
	int ret = load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err);
	ASSERT_ERR(ret, err, "2048 bytes");
	ck_assert_msg(strstr(err, "at most 2047") && strstr(err, "shorten -append"), "%s", err);
	ck_assert_int_eq(ret, -E2BIG);
	/* When memvm added 700 of the bytes, the user learns how much -append
	 * may keep, or that the quirks can go. */
	char big[512];
	cfg.cmdline_added = 700;
	ret = load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, big);
	ck_assert_int_eq(ret, -E2BIG);
	ck_assert_msg(strstr(big, "2048 bytes (700 added by memvm") &&
			      strstr(big, "shorten -append to 1346 bytes") &&
			      strstr(big, "-machine host-quirks=off"),
		      "%s", big);
	cfg.cmdline_added = 0;
	cl[2047] = '\0'; /* 2047 is the limit and fits */
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err) == 0, "%s", err);
	ck_assert_uint_eq(strlen((const char *)gptr(&m, LAYOUT_CMDLINE, 2048)), 2047);
	free(cl);
	tmem_free(&m);
}
END_TEST

/* ---- bzImage ---- */

START_TEST(bz_valid)
{
	struct tmem m;
	tmem_init(&m, 256 * MiB);
	struct bzopt o = bz_default();
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	struct boot_config cfg;
	cfg_init(&cfg, 256 * MiB, "root=/dev/vda");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, bz, len, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_int_eq(info.kind, KERNEL_BZIMAGE);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	ck_assert_uint_eq(e.entry, 0x1000000 + 0x200);
	ck_assert_uint_eq(e.rsi, LAYOUT_ZERO_PAGE);
	ck_assert_uint_eq(info.boot_version, 0x020f);
	ck_assert_uint_eq(info.kernel_start, 0x1000000);
	ck_assert_uint_eq(info.kernel_end, 0x1000000 + 0x400000); /* init_size */
	/* protected-mode code after the 5 setup sectors, at the load address */
	ck_assert_mem_eq(gptr(&m, 0x1000000, o.klen), bz + 5 * 512, o.klen);
	uint64_t zp = LAYOUT_ZERO_PAGE;
	ck_assert_uint_eq(g16(&m, zp + 0x20e), 0x1234); /* header copied */
	ck_assert_uint_eq(g16(&m, zp + 0x206), 0x020f);
	ck_assert_uint_eq(g8(&m, zp + 0x210), 0xff);       /* type_of_loader */
	ck_assert_uint_eq(g32(&m, zp + 0x214), 0x1000000); /* code32_start = load address */
	ck_assert_uint_eq(g32(&m, zp + 0x228), LAYOUT_CMDLINE);
	ck_assert_uint_eq(g8(&m, zp + 0x1e8), 3);
	ck_assert_str_eq((const char *)gptr(&m, LAYOUT_CMDLINE, 14), "root=/dev/vda");
	free(bz);
	tmem_free(&m);
}
END_TEST

START_TEST(bz_setup_sects_zero_means_4)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	struct bzopt o = bz_default();
	o.setup_sects = 0;
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "");
	struct boot_entry e;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, bz, len, NULL, 0, &e, NULL, err) == 0, "%s", err);
	ck_assert_mem_eq(gptr(&m, 0x1000000, o.klen), bz + 5 * 512, o.klen);
	free(bz);
	tmem_free(&m);
}
END_TEST

START_TEST(bz_not_relocatable_loads_at_code32_start)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	struct bzopt o = bz_default();
	o.relocatable = 0;
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, bz, len, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(e.entry, 0x100000 + 0x200);
	ck_assert_mem_eq(gptr(&m, 0x100000, o.klen), bz + 5 * 512, o.klen);
	/* it moves itself to pref_address and needs init_size there */
	ck_assert_uint_eq(info.kernel_start, 0x100000);
	ck_assert_uint_eq(info.kernel_end, 0x1000000 + 0x400000);
	free(bz);
	tmem_free(&m);
}
END_TEST

START_TEST(bz_cmdline_size_from_header)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	struct bzopt o = bz_default();
	o.cmdline_size = 255;
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	char cl[257];
	memset(cl, 'x', 256);
	cl[256] = '\0';
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, cl);
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, bz, len, NULL, 0, &e, NULL, err), err, "at most 255");
	cl[255] = '\0';
	ck_assert_msg(load_buf(&cfg, &m, bz, len, NULL, 0, &e, NULL, err) == 0, "%s", err);
	free(bz);
	tmem_free(&m);
}
END_TEST

struct bad_bz {
	const char *what;
	void (*mutate)(struct bzopt *o);
	size_t truncate_to; /* 0: keep */
	const char *needle;
};

static void bz_old(struct bzopt *o)
{
	o->version = 0x0205;
}
static void bz_no_hdrs(struct bzopt *o)
{
	o->hdrs = false;
}
static void bz_not64(struct bzopt *o)
{
	o->xloadflags = 0;
}
static void bz_low(struct bzopt *o)
{
	o->loadflags = 0;
}
static void bz_keep(struct bzopt *o)
{
	(void)o;
}
static void bz_huge_init(struct bzopt *o)
{
	o->init_size = 0x7fffffff;
}

static const struct bad_bz bad_bzs[] = {
	{ "old protocol", bz_old, 0, "boot protocol 2.05 is too old" },
	{ "missing HdrS", bz_no_hdrs, 0, "without the \"HdrS\" setup header" },
	{ "not 64-bit", bz_not64, 0, "not a 64-bit kernel" },
	{ "no LOADED_HIGH", bz_low, 0, "LOADED_HIGH not set" },
	{ "truncated in setup", bz_keep, 0x400, "truncated bzImage" },
	{ "truncated in header", bz_keep, 0x210, "truncated bzImage" },
	{ "truncated kernel", bz_keep, 5 * 512 + 100, "truncated bzImage" },
	{ "init_size beyond RAM", bz_huge_init, 0, "raise -m" },
};

START_TEST(bz_malformed)
{
	const struct bad_bz *t = &bad_bzs[_i];
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	struct bzopt o = bz_default();
	t->mutate(&o);
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	if (t->truncate_to)
		len = t->truncate_to;
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	int ret = load_buf(&cfg, &m, bz, len, NULL, 0, &e, NULL, err);
	ck_assert_msg(ret < 0, "%s: accepted", t->what);
	ck_assert_msg(strstr(err, t->needle) && strstr(err, "test-kernel"), "%s: '%s'", t->what,
		      err);
	free(bz);
	tmem_free(&m);
}
END_TEST

/* ---- initrd ---- */

START_TEST(initrd_highest_fit)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	size_t rdlen = 1 * MiB + 123;
	uint8_t *rd = malloc(rdlen);
	for (size_t i = 0; i < rdlen; i++)
		rd[i] = (uint8_t)(i * 13);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, rd, rdlen, &e, &info, err) == 0, "%s", err);
	uint64_t want = (128 * MiB - rdlen) & ~0xfffull;
	ck_assert_uint_eq(info.initrd_addr, want);
	ck_assert_uint_eq(info.initrd_size, rdlen);
	ck_assert_uint_eq(g32(&m, LAYOUT_ZERO_PAGE + 0x218), want);
	ck_assert_uint_eq(g32(&m, LAYOUT_ZERO_PAGE + 0x21c), rdlen);
	ck_assert_mem_eq(gptr(&m, want, rdlen), rd, rdlen);
	free(rd);
	tmem_free(&m);
}
END_TEST

START_TEST(initrd_below_mmio_hole)
{
	/* 5 GiB: the initrd goes below 3 GiB (and below initrd_addr_max 2 GiB). */
	struct tmem m;
	tmem_init(&m, 5 * GiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	uint8_t rd[8192] = { 1, 2, 3 };
	struct boot_config cfg;
	cfg_init(&cfg, 5 * GiB, "");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, rd, sizeof(rd), &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(info.initrd_addr, 0x80000000ull - sizeof(rd));
	tmem_free(&m);
}
END_TEST

START_TEST(initrd_respects_initrd_addr_max)
{
	struct tmem m;
	tmem_init(&m, 512 * MiB);
	struct bzopt o = bz_default();
	o.initrd_addr_max = 0x0fffffff;
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	uint8_t rd[3 * 4096 + 5] = { 9 };
	struct boot_config cfg;
	cfg_init(&cfg, 512 * MiB, "");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, bz, len, rd, sizeof(rd), &e, &info, err) == 0, "%s", err);
	ck_assert_uint_le(info.initrd_addr + info.initrd_size, 0x10000000);
	ck_assert_uint_eq(info.initrd_addr, (0x10000000 - sizeof(rd)) & ~0xfffull);
	free(bz);
	tmem_free(&m);
}
END_TEST

START_TEST(initrd_avoids_kernel)
{
	/* The kernel sits at the top of RAM: the initrd goes just below it. */
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t k[4096];
	uint64_t kb = 100 * MiB;
	struct tseg s[] = { { PT_LOAD, kb, kb, code, sizeof(code), 27 * MiB, 0x1000 } };
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, kb, s, 1);
	size_t rdlen = 2 * MiB + 1;
	uint8_t *rd = calloc(1, rdlen);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, rd, rdlen, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_le(info.initrd_addr + rdlen, kb);
	ck_assert_uint_eq(info.initrd_addr, (kb - rdlen) & ~0xfffull);
	free(rd);
	tmem_free(&m);
}
END_TEST

START_TEST(initrd_too_big)
{
	struct tmem m;
	tmem_init(&m, 256 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	char *kpath = write_tmp(k, klen, 0);
	char *rdpath = write_tmp(NULL, 0, 300 * MiB); /* sparse: costs nothing */
	struct boot_config cfg;
	cfg_init(&cfg, 256 * MiB, "");
	cfg.kernel_path = kpath;
	cfg.initrd_path = rdpath;
	struct boot_entry e;
	char err[256];
	int ret = loader_load(&cfg, m.gm, &e, err, sizeof(err));
	ASSERT_ERR(ret, err, "300 MiB does not fit in 256 MiB of RAM; raise -m");
	ck_assert_msg(strncmp(err, "-initrd ", 8) == 0 && strstr(err, rdpath), "%s", err);

	/* Fits in RAM but not next to the 16 MiB kernel below 20 MiB. */
	cfg.ram_size = 20 * MiB;
	unlink(rdpath);
	free(rdpath);
	rdpath = write_tmp(NULL, 0, 16 * MiB);
	cfg.initrd_path = rdpath;
	ret = loader_load(&cfg, m.gm, &e, err, sizeof(err));
	ASSERT_ERR(ret, err, "does not fit in RAM below");
	unlink(kpath);
	unlink(rdpath);
	free(kpath);
	free(rdpath);
	tmem_free(&m);
}
END_TEST

START_TEST(files_load)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	uint8_t rd[5000];
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)i;
	char *kpath = write_tmp(k, klen, 0), *rdpath = write_tmp(rd, sizeof(rd), 0);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "x");
	cfg.kernel_path = kpath;
	cfg.initrd_path = rdpath;
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(loader_load_ex(&cfg, m.gm, &e, &info, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(gptr(&m, KBASE, sizeof(code)), code, sizeof(code));
	ck_assert_mem_eq(gptr(&m, info.initrd_addr, sizeof(rd)), rd, sizeof(rd));

	cfg.kernel_path = "/nonexistent/vmlinux";
	ASSERT_ERR(loader_load(&cfg, m.gm, &e, err, sizeof(err)), err,
		   "-kernel /nonexistent/vmlinux: cannot open: No such file or directory");
	cfg.kernel_path = "/tmp";
	ASSERT_ERR(loader_load(&cfg, m.gm, &e, err, sizeof(err)), err, "is a directory");
	/* A FIFO nobody writes: refused at once, not waited on. */
	char fifo[] = "/tmp/memvm-test-fifo-XXXXXX";
	int tfd = mkstemp(fifo);
	ck_assert_int_ge(tfd, 0);
	close(tfd);
	unlink(fifo);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	cfg.kernel_path = fifo;
	ASSERT_ERR(loader_load(&cfg, m.gm, &e, err, sizeof(err)), err, "is a device or pipe");
	cfg.kernel_path = kpath;
	cfg.initrd_path = fifo;
	ASSERT_ERR(loader_load(&cfg, m.gm, &e, err, sizeof(err)), err, "is a device or pipe");
	unlink(fifo);
	unlink(kpath);
	unlink(rdpath);
	free(kpath);
	free(rdpath);
	tmem_free(&m);
}
END_TEST

/* ---- malformed ELF and non-kernels ---- */

START_TEST(elf_truncated_header)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	vmlinux_like(k, sizeof(k));
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, k, 30, NULL, 0, &e, NULL, err), err,
		   "truncated ELF header (30 of 64 bytes)");
	/* program headers cut off */
	ASSERT_ERR(load_buf(&cfg, &m, k, 64 + 56, NULL, 0, &e, NULL, err), err,
		   "run past the end of the file");
	tmem_free(&m);
}
END_TEST

START_TEST(elf_segment_beyond_file)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, k, klen - 8, NULL, 0, &e, NULL, err), err,
		   "runs past the end of the file");
	/* p_offset near 2^64: must not wrap */
	Elf64_Phdr ph;
	memcpy(&ph, k + 64, sizeof(ph));
	ph.p_offset = UINT64_MAX - 8;
	memcpy(k + 64, &ph, sizeof(ph));
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err,
		   "runs past the end of the file");
	tmem_free(&m);
}
END_TEST

START_TEST(elf_segment_beyond_ram)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t k[4096];
	struct tseg s[] = { { PT_LOAD, 200 * MiB, 200 * MiB, code, sizeof(code), sizeof(code),
			      0 } };
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, 200 * MiB, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "");
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err,
		   "does not fit in 128 MiB of guest RAM; raise -m");
	/* straddling the end of RAM */
	struct tseg s2[] = { { PT_LOAD, 128 * MiB - 16, 0, code, 16, 4096, 0 } };
	klen = build_elf(k, sizeof(k), true, EM_X86_64, 128 * MiB - 16, s2, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "raise -m");
	/* wrapping the address space */
	struct tseg s3[] = { { PT_LOAD, UINT64_MAX - 8, 0, code, 16, 64, 0 } };
	klen = build_elf(k, sizeof(k), true, EM_X86_64, UINT64_MAX - 8, s3, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "wraps");
	/* filesz > memsz */
	struct tseg s4[] = { { PT_LOAD, KBASE, KBASE, code, 64, 32, 0 } };
	klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s4, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err,
		   "p_filesz 64 > p_memsz 32");
	/* overlapping memvm's boot data below 1 MiB */
	struct tseg s5[] = { { PT_LOAD, 0x7000, 0x7000, code, 64, 64, 0 } };
	klen = build_elf(k, sizeof(k), true, EM_X86_64, 0x7000, s5, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "below 1 MiB");
	tmem_free(&m);
}
END_TEST

START_TEST(elf_wrong_machine)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	struct tseg s[] = { { PT_LOAD, KBASE, KBASE, code, sizeof(code), sizeof(code), 0 } };
	size_t klen = build_elf(k, sizeof(k), true, EM_AARCH64, KBASE, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err,
		   "64-bit ELF for AArch64");
	/* ELF32 for x86-64 (x32) is not a payload either */
	klen = build_elf(k, sizeof(k), false, EM_X86_64, KBASE, s, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err,
		   "32-bit ELF for x86-64");
	/* relocatable object */
	klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 1);
	put16(k + 16, ET_REL);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "relocatable object");
	tmem_free(&m);
}
END_TEST

START_TEST(elf32_real_mode)
{
	struct tmem m;
	tmem_init(&m, 16 * MiB);
	memset(gptr(&m, LAYOUT_ZERO_PAGE, 4096), 0x5a, 4096);
	uint8_t k[4096];
	struct tseg s[] = { { PT_LOAD, 0x1000, 0x1000, code, sizeof(code), sizeof(code), 0 } };
	size_t klen = build_elf(k, sizeof(k), false, EM_386, 0x1002, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 16 * MiB, "ignored");
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_int_eq(info.kind, KERNEL_ELF32);
	ck_assert_int_eq(e.mode, BOOT_MODE_REAL16);
	ck_assert_uint_eq(e.entry, 0x1002);
	ck_assert_uint_eq(e.rsp, LAYOUT_REAL_STACK);
	ck_assert_uint_eq(e.rsi, 0);
	ck_assert_mem_eq(gptr(&m, 0x1000, sizeof(code)), code, sizeof(code));
	ck_assert_uint_eq(g8(&m, LAYOUT_ZERO_PAGE), 0x5a); /* no boot data for real mode */

	/* an entry CS=0 cannot reach */
	struct tseg s2[] = { { PT_LOAD, 0x20000, 0x20000, code, sizeof(code), sizeof(code), 0 } };
	klen = build_elf(k, sizeof(k), false, EM_386, 0x20000, s2, 1);
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "above 64 KiB");
	tmem_free(&m);
}
END_TEST

START_TEST(elf32_protected_mode)
{
	struct tmem m;
	tmem_init(&m, 16 * MiB);
	uint8_t k[4096];
	struct tseg s[] = { { PT_LOAD, 0x100000, 0x100000, code, sizeof(code), sizeof(code), 0 } };
	size_t klen = build_elf(k, sizeof(k), false, EM_386, 0x100000, s, 1);
	struct boot_config cfg;
	cfg_init(&cfg, 16 * MiB, "");
	struct boot_entry e;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err) == 0, "%s", err);
	ck_assert_int_eq(e.mode, BOOT_MODE_PVH32);
	ck_assert_uint_eq(e.entry, 0x100000);
	ck_assert_uint_eq(e.rbx, 0);
	ck_assert_uint_eq(e.rsp, LAYOUT_BOOT_STACK);
	tmem_free(&m);
}
END_TEST

/* A Xen "PHYS32_ENTRY" note (type 18), desc 8 bytes as Linux's _ASM_PTR. */
static size_t pvh_note(uint8_t *n, uint64_t entry, bool other_first)
{
	size_t off = 0;
	if (other_first) { /* a GNU note to skip */
		put32(n, 4), put32(n + 4, 4), put32(n + 8, 3);
		memcpy(n + 12, "GNU", 4);
		put32(n + 16, 0xdeadbeef);
		off = 20;
	}
	put32(n + off, 4);
	put32(n + off + 4, 8);
	put32(n + off + 8, 18);
	memcpy(n + off + 12, "Xen", 4);
	put64(n + off + 16, entry);
	return off + 24;
}

START_TEST(elf_pvh_note)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t note[64];
	size_t nlen = pvh_note(note, KBASE + 0x20, true);
	uint8_t k[4096];
	struct tseg s[] = {
		{ PT_LOAD, KBASE, KBASE, code, sizeof(code), 0x1000, 0x1000 },
		{ PT_NOTE, 0, 0, note, nlen, nlen, 4 },
	};
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 2);
	uint8_t rd[4096] = { 7 };
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "console=hvc0");
	struct boot_entry e;
	struct loader_info info;
	char err[256];

	/* Recorded, but the 64-bit entry is the default. */
	ck_assert_msg(load_buf(&cfg, &m, k, klen, rd, sizeof(rd), &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(info.pvh_entry, KBASE + 0x20);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	ck_assert_uint_eq(e.entry, KBASE);

	cfg.prefer_pvh = true;
	ck_assert_msg(load_buf(&cfg, &m, k, klen, rd, sizeof(rd), &e, &info, err) == 0, "%s", err);
	ck_assert_int_eq(e.mode, BOOT_MODE_PVH32);
	ck_assert_uint_eq(e.entry, KBASE + 0x20);
	ck_assert_uint_eq(e.rbx, LAYOUT_PVH_START_INFO);
	uint64_t si = LAYOUT_PVH_START_INFO;
	ck_assert_uint_eq(g32(&m, si), 0x336ec578);
	ck_assert_uint_eq(g32(&m, si + 4), 1);  /* version */
	ck_assert_uint_eq(g32(&m, si + 12), 1); /* nr_modules */
	uint64_t mod = g64(&m, si + 16);
	ck_assert_uint_eq(g64(&m, si + 24), LAYOUT_CMDLINE);
	ck_assert_uint_eq(g64(&m, si + 32), 0); /* rsdp */
	uint64_t mm = g64(&m, si + 40);
	uint32_t nmm = g32(&m, si + 48);
	ck_assert_uint_eq(g64(&m, mod), info.initrd_addr);
	ck_assert_uint_eq(g64(&m, mod + 8), sizeof(rd));
	struct boot_e820_entry want[BOOT_E820_MAX];
	ck_assert_uint_eq(nmm, boot_e820_build(128 * MiB, want));
	for (uint32_t i = 0; i < nmm; i++) {
		ck_assert_uint_eq(g64(&m, mm + i * 24), want[i].addr);
		ck_assert_uint_eq(g64(&m, mm + i * 24 + 8), want[i].size);
		ck_assert_uint_eq(g32(&m, mm + i * 24 + 16), want[i].type);
	}
	ck_assert_str_eq((const char *)gptr(&m, LAYOUT_CMDLINE, 13), "console=hvc0");

	/* A note pointing outside the kernel is ignored: back to 64-bit. */
	memset(note, 0, sizeof(note));
	pvh_note(note, 0x50000000, false);
	klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 2);
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(info.pvh_entry, 0);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	tmem_free(&m);
}
END_TEST

START_TEST(elf_malformed_note_is_safe)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t note[32] = { 0 };
	put32(note, 0xfffffff0); /* namesz huge */
	put32(note + 4, 8);
	put32(note + 8, 18);
	uint8_t k[4096];
	struct tseg s[] = {
		{ PT_LOAD, KBASE, KBASE, code, sizeof(code), 0x1000, 0x1000 },
		{ PT_NOTE, 0, 0, note, sizeof(note), sizeof(note), 4 },
	};
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 2);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	cfg.prefer_pvh = true;
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(info.pvh_entry, 0);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	tmem_free(&m);
}
END_TEST

START_TEST(elf_note_of_other_owner_ignored)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t note[64] = { 0 };
	size_t nlen = pvh_note(note, KBASE + 0x20, false);
	memcpy(note + 12, "Foo", 4); /* type 18, but not Xen's */
	uint8_t k[4096];
	struct tseg s[] = {
		{ PT_LOAD, KBASE, KBASE, code, sizeof(code), 0x1000, 0x1000 },
		{ PT_NOTE, 0, 0, note, nlen, nlen, 4 },
	};
	size_t klen = build_elf(k, sizeof(k), true, EM_X86_64, KBASE, s, 2);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	cfg.prefer_pvh = true;
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(info.pvh_entry, 0);
	ck_assert_int_eq(e.mode, BOOT_MODE_LONG64);
	tmem_free(&m);
}
END_TEST

START_TEST(not_a_kernel)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ASSERT_ERR(load_buf(&cfg, &m, "", 0, NULL, 0, &e, NULL, err), err,
		   "test-kernel: empty file");
	const char *text = "#!/bin/sh\necho hello\n";
	ASSERT_ERR(load_buf(&cfg, &m, text, strlen(text), NULL, 0, &e, NULL, err), err,
		   "a text file");
	uint8_t gz[64] = { 0x1f, 0x8b, 8, 0 };
	ASSERT_ERR(load_buf(&cfg, &m, gz, sizeof(gz), NULL, 0, &e, NULL, err), err,
		   "gzip-compressed");
	uint8_t xz[64] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	ASSERT_ERR(load_buf(&cfg, &m, xz, sizeof(xz), NULL, 0, &e, NULL, err), err,
		   "xz-compressed");
	uint8_t junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 31 + 7) | 0x80;
	ASSERT_ERR(load_buf(&cfg, &m, junk, sizeof(junk), NULL, 0, &e, NULL, err), err,
		   "not a kernel");
	ASSERT_ERR(load_buf(&cfg, &m, "\177ELF", 4, NULL, 0, &e, NULL, err), err,
		   "truncated ELF header");
	tmem_free(&m);
}
END_TEST

START_TEST(bad_config)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	cfg.ncpus = 0;
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "-smp 0");
	cfg.ncpus = 255;
	ASSERT_ERR(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err), err, "-smp 255");
	cfg.ncpus = 254;
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, NULL, err) == 0, "%s", err);
	tmem_free(&m);
}
END_TEST

START_TEST(dtb_in_setup_data)
{
	struct tmem m;
	tmem_init(&m, 128 * MiB);
	uint8_t k[4096];
	size_t klen = vmlinux_like(k, sizeof(k));
	struct boot_config cfg;
	cfg_init(&cfg, 128 * MiB, "console=ttyS0");
	cfg.want_dtb = true;
	cfg.ncpus = 2;
	boot_cfg_add_virtio(&cfg);
	struct boot_entry e;
	struct loader_info info;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, &info, err) == 0, "%s", err);
	ck_assert_uint_eq(g64(&m, LAYOUT_ZERO_PAGE + 0x250), LAYOUT_SETUP_DATA);
	ck_assert_uint_eq(g64(&m, LAYOUT_SETUP_DATA), 0);     /* next */
	ck_assert_uint_eq(g32(&m, LAYOUT_SETUP_DATA + 8), 2); /* SETUP_DTB */
	uint32_t len = g32(&m, LAYOUT_SETUP_DATA + 12);
	ck_assert_uint_eq(len, info.dtb_size);
	const void *dtb = gptr(&m, LAYOUT_SETUP_DATA + 16, len);
	ck_assert_int_eq(fdt_check_header(dtb), 0);
	ck_assert_uint_eq(fdt_totalsize(dtb), len);
	int chosen = fdt_path_offset(dtb, "/chosen");
	ck_assert_int_ge(chosen, 0);
	ck_assert_str_eq(fdt_getprop(dtb, chosen, "bootargs", NULL), "console=ttyS0");
	ck_assert_int_ge(fdt_path_offset(dtb, "/virtio_mmio@d0000000"), 0);
	tmem_free(&m);
}
END_TEST

/* ---- Linux or bare-metal ---- */

/* Loads kernel image k into 64 MiB of RAM; *info says what was found. */
static void load_info(const void *k, size_t klen, struct loader_info *info)
{
	struct tmem m;
	tmem_init(&m, 64 * MiB);
	struct boot_config cfg;
	cfg_init(&cfg, 64 * MiB, "");
	struct boot_entry e;
	char err[256];
	ck_assert_msg(load_buf(&cfg, &m, k, klen, NULL, 0, &e, info, err) == 0, "%s", err);
	tmem_free(&m);
}

static bool is_linux(const void *k, size_t klen)
{
	struct loader_info info;
	load_info(k, klen, &info);
	return info.linux_kernel;
}

/* An ELF64 at KBASE whose PT_NOTE segment holds notes[0, nlen). */
static size_t elf_with_notes(uint8_t *k, size_t cap, const uint8_t *notes, size_t nlen)
{
	struct tseg s[] = {
		{ PT_LOAD, KBASE, KBASE, code, sizeof(code), 0x1000, 0x1000 },
		{ PT_NOTE, 0, 0, notes, nlen, nlen, 4 },
	};
	return build_elf(k, cap, true, EM_X86_64, KBASE, s, 2);
}

START_TEST(linux_or_payload)
{
	uint8_t k[4096], n[256];
	size_t nlen;
	/* Linux's own notes. */
	ck_assert(is_linux(k, kimg_elf64(k, sizeof(k), true, 0x1000)));
	nlen = kimg_note(n, "Xen", 6, "linux", 6); /* XEN_ELFNOTE_GUEST_OS of a Xen-built vmlinux */
	ck_assert(is_linux(k, elf_with_notes(k, sizeof(k), n, nlen)));
	/* The bzImage header says Linux by itself. */
	struct bzopt o = bz_default();
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	ck_assert(is_linux(bz, len));
	free(bz);

	/* Payloads: no notes, someone else's, or only the PVH entry (which
	 * other kernels use too). */
	ck_assert(!is_linux(k, kimg_elf64(k, sizeof(k), false, 0x1000)));
	ck_assert(!is_linux(k, vmlinux_like(k, sizeof(k))));
	nlen = kimg_note(n, "GNU", 3, "0123456789abcdefghij", 20);
	ck_assert(!is_linux(k, elf_with_notes(k, sizeof(k), n, nlen)));
	nlen = kimg_note(n, "Xen", 6, "FreeBSD", 8);
	ck_assert(!is_linux(k, elf_with_notes(k, sizeof(k), n, nlen)));
	nlen = kimg_note(n, "Linu", 0x100, "salt", 4); /* not quite the owner */
	ck_assert(!is_linux(k, elf_with_notes(k, sizeof(k), n, nlen)));
	nlen = pvh_note(n, KBASE + 0x20, true);
	ck_assert(!is_linux(k, elf_with_notes(k, sizeof(k), n, nlen)));
	struct tseg s32[] = { { PT_LOAD, 0x1000, 0x1000, code, sizeof(code), sizeof(code), 0 } };
	ck_assert(!is_linux(k, build_elf(k, sizeof(k), false, EM_386, 0x1000, s32, 1)));

	/* Notes after the PVH one are still read, and the PVH entry kept. */
	nlen = pvh_note(n, KBASE + 0x20, true);
	nlen += kimg_note(n + nlen, "Linux", 0x101, "\0", 1);
	size_t klen = elf_with_notes(k, sizeof(k), n, nlen);
	ck_assert(is_linux(k, klen));
	struct loader_info info;
	load_info(k, klen, &info);
	ck_assert_uint_eq(info.pvh_entry, KBASE + 0x20);
}
END_TEST

/* ---- loader_probe: the load's checks without guest memory ---- */

/* loader_probe refuses what loader_load_ex refuses, with the same message,
 * and describes what the load puts where. */
static void probe_as_load(const struct boot_config *cfg, struct tmem *m, const char *needle)
{
	char perr[512], lerr[512];
	struct loader_info pi, li;
	struct boot_entry e;
	memset(&pi, 0, sizeof(pi));
	memset(&li, 0, sizeof(li));
	int pr = loader_probe(cfg, &pi, perr, sizeof(perr));
	int lr = loader_load_ex(cfg, m->gm, &e, &li, lerr, sizeof(lerr));
	ck_assert_msg(pr == lr, "probe %d ('%s'), load %d ('%s')", pr, pr ? perr : "", lr,
		      lr ? lerr : "");
	if (needle) {
		ck_assert_msg(lr < 0, "accepted; expected '%s'", needle);
		ASSERT_ERR(lr, lerr, needle);
		ck_assert_str_eq(perr, lerr);
		return;
	}
	ck_assert_int_eq(pi.kind, li.kind);
	ck_assert_int_eq(pi.mode, li.mode);
	ck_assert_int_eq(pi.mode, e.mode);
	ck_assert_int_eq(pi.linux_kernel, li.linux_kernel);
	ck_assert_uint_eq(pi.kernel_start, li.kernel_start);
	ck_assert_uint_eq(pi.kernel_end, li.kernel_end);
	ck_assert_uint_eq(pi.initrd_addr, li.initrd_addr);
	ck_assert_uint_eq(pi.initrd_size, li.initrd_size);
	ck_assert_uint_eq(pi.pvh_entry, li.pvh_entry);
	ck_assert_uint_eq(pi.boot_version, li.boot_version);
	ck_assert_uint_eq(pi.cmdline_max, li.cmdline_max);
	ck_assert_uint_eq(pi.dtb_size, li.dtb_size);
	ck_assert_uint_eq(pi.mptable_size, li.mptable_size);
}

START_TEST(probe_checks_as_load)
{
	struct tmem m;
	tmem_init(&m, 256 * MiB);
	uint8_t k[4096], rd[5000] = { 1 };
	struct bzopt o = bz_default();
	uint8_t *bz;
	size_t bzlen = build_bz(&o, &bz);
	char *vm = write_tmp(k, kimg_elf64(k, sizeof(k), true, 0x3000), 0);
	char *bzp = write_tmp(bz, bzlen, 0);
	char *rdp = write_tmp(rd, sizeof(rd), 0);
	char *big = write_tmp(NULL, 0, 300 * MiB);
	char *mid = write_tmp(NULL, 0, 16 * MiB);
	char *empty = write_tmp(NULL, 0, 0);
	struct tseg s[] = { { PT_LOAD, 300 * MiB, 300 * MiB, code, sizeof(code), 0x1000, 0 } };
	char *high = write_tmp(k, build_elf(k, sizeof(k), true, EM_X86_64, 300 * MiB, s, 1), 0);
	struct tseg s16[] = { { PT_LOAD, 0x1000, 0x1000, code, sizeof(code), sizeof(code), 0 } };
	char *real16 = write_tmp(k, build_elf(k, sizeof(k), false, EM_386, 0x1000, s16, 1), 0);
	char *cl = malloc(3000);
	memset(cl, 'a', 2999);
	cl[2999] = '\0';
	struct boot_config cfg;

	/* What loads: a vmlinux with an initrd, a bzImage, with a DTB. */
	cfg_init(&cfg, 256 * MiB, "console=ttyS0");
	cfg.kernel_path = vm;
	cfg.initrd_path = rdp;
	cfg.ncpus = 4;
	boot_cfg_add_virtio(&cfg);
	probe_as_load(&cfg, &m, NULL);
	cfg.want_dtb = true;
	probe_as_load(&cfg, &m, NULL);
	cfg.kernel_path = bzp;
	probe_as_load(&cfg, &m, NULL);
	cfg.want_dtb = false;
	probe_as_load(&cfg, &m, NULL);
	cfg.kernel_path = real16;
	cfg.initrd_path = NULL;
	cfg.cmdline = cl; /* real mode takes no command line */
	probe_as_load(&cfg, &m, NULL);

	/* What is refused. */
	cfg_init(&cfg, 256 * MiB, cl);
	cfg.kernel_path = vm;
	probe_as_load(&cfg, &m, "kernel command line is 2999 bytes but");
	cfg.cmdline_added = 300;
	probe_as_load(&cfg, &m, "(300 added by memvm");
	cfg.cmdline = "";
	cfg.initrd_path = big;
	probe_as_load(&cfg, &m, "300 MiB does not fit in 256 MiB of RAM");
	cfg.initrd_path = empty;
	probe_as_load(&cfg, &m, "empty file");
	cfg.initrd_path = "/nonexistent/initrd";
	probe_as_load(&cfg, &m, "-initrd /nonexistent/initrd: cannot open");
	cfg.initrd_path = "/tmp";
	probe_as_load(&cfg, &m, "is a directory");
	cfg.initrd_path = mid;
	cfg.ram_size = 20 * MiB; /* 16 MiB fit neither above nor below the kernel at 16 MiB */
	probe_as_load(&cfg, &m, "does not fit in RAM below");
	cfg.initrd_path = rdp;
	cfg.ram_size = 1 * MiB;
	probe_as_load(&cfg, &m, "needs more than 1 MiB");
	cfg.ram_size = 256 * MiB;
	cfg.kernel_path = real16;
	probe_as_load(&cfg, &m, "bare-metal payload without a way to receive an initrd");
	cfg.initrd_path = NULL;
	cfg.kernel_path = high;
	probe_as_load(&cfg, &m, "does not fit in 256 MiB of guest RAM; raise -m");
	cfg.kernel_path = bzp;
	cfg.ram_size = 16 * MiB; /* load address 16 MiB + init_size 4 MiB */
	probe_as_load(&cfg, &m, "needs memory up to 0x1400000");
	cfg.ram_size = 256 * MiB;
	cfg.kernel_path = "/nonexistent/vmlinux";
	probe_as_load(&cfg, &m, "-kernel /nonexistent/vmlinux: cannot open: No such file");
	cfg.kernel_path = empty;
	probe_as_load(&cfg, &m, "empty file; expected a vmlinux ELF or a bzImage");
	cfg.kernel_path = NULL;
	probe_as_load(&cfg, &m, "no kernel");
	cfg.kernel_path = vm;
	cfg.ncpus = 255;
	probe_as_load(&cfg, &m, "-smp 255");

	char *files[] = { vm, bzp, rdp, big, mid, empty, high, real16 };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		unlink(files[i]);
		free(files[i]);
	}
	free(cl);
	free(bz);
	tmem_free(&m);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("e820");
	tcase_add_test(tc, e820_128m);
	tcase_add_test(tc, e820_3g);
	tcase_add_test(tc, e820_5g);
	tcase_add_loop_test(tc, boot_params_vmlinux, 0, ARRAY_SIZE(ram_sizes));
	suite_add_tcase(s, tc);

	tc = tcase_create("elf");
	tcase_add_test(tc, bss_is_zeroed);
	tcase_add_test(tc, virtual_entry_translated);
	tcase_add_test(tc, elf_truncated_header);
	tcase_add_test(tc, elf_segment_beyond_file);
	tcase_add_test(tc, elf_segment_beyond_ram);
	tcase_add_test(tc, elf_wrong_machine);
	tcase_add_test(tc, elf32_real_mode);
	tcase_add_test(tc, elf32_protected_mode);
	tcase_add_test(tc, elf_pvh_note);
	tcase_add_test(tc, elf_malformed_note_is_safe);
	tcase_add_test(tc, elf_note_of_other_owner_ignored);
	tcase_add_test(tc, not_a_kernel);
	tcase_add_test(tc, bad_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("bzimage");
	tcase_add_test(tc, bz_valid);
	tcase_add_test(tc, bz_setup_sects_zero_means_4);
	tcase_add_test(tc, bz_not_relocatable_loads_at_code32_start);
	tcase_add_test(tc, bz_cmdline_size_from_header);
	tcase_add_loop_test(tc, bz_malformed, 0, ARRAY_SIZE(bad_bzs));
	suite_add_tcase(s, tc);

	tc = tcase_create("cmdline_initrd");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cmdline_limit_vmlinux);
	tcase_add_test(tc, initrd_highest_fit);
	tcase_add_test(tc, initrd_below_mmio_hole);
	tcase_add_test(tc, initrd_respects_initrd_addr_max);
	tcase_add_test(tc, initrd_avoids_kernel);
	tcase_add_test(tc, initrd_too_big);
	tcase_add_test(tc, files_load);
	tcase_add_test(tc, dtb_in_setup_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("probe");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, linux_or_payload);
	tcase_add_test(tc, probe_checks_as_load);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(loader_suite)
