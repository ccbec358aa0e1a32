/* The board's boot description (vmm/board/load.c): load_preflight refuses
 * from the configuration alone what loading would, and host quirks follow
 * the kind of kernel the loader detects, not -append or -initrd. Guest
 * memory is a sparse mapping; no /dev/kvm. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/virtio_rng.h"
#include "memory/guest_mem.h"
#include "tests/unit/check_main.h"
#include "tests/unit/kernel_img.h"
#include "vmm/board/devices.h"
#include "vmm/board/load.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/layout.h"
#include "vmm/config/config.h"

#define MiB (1024ull * 1024)
#define RAM (64 * MiB)

struct files {
	char *payload; /* ELF64 at 16 MiB, no Linux notes */
	char *vmlinux; /* the same with the "Linux" note */
	char *bzimage;
	char *initrd;
	char *huge_vmlinux; /* needs 100 MiB */
	char *huge_initrd;  /* 100 MiB, sparse */
};

static struct files fs;

static void files_setup(void)
{
	uint8_t k[4096], rd[4096] = { 1 };
	fs.payload = write_tmp(k, kimg_elf64(k, sizeof(k), false, 0x1000), 0);
	fs.vmlinux = write_tmp(k, kimg_elf64(k, sizeof(k), true, 0x1000), 0);
	fs.huge_vmlinux = write_tmp(k, kimg_elf64(k, sizeof(k), true, 100 * MiB), 0);
	struct bzopt o = bz_default();
	uint8_t *bz;
	size_t len = build_bz(&o, &bz);
	fs.bzimage = write_tmp(bz, len, 0);
	free(bz);
	fs.initrd = write_tmp(rd, sizeof(rd), 0);
	fs.huge_initrd = write_tmp(NULL, 0, 100 * MiB);
}

static void files_teardown(void)
{
	char *all[] = { fs.payload, fs.vmlinux,      fs.bzimage,
			fs.initrd,  fs.huge_vmlinux, fs.huge_initrd };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		unlink(all[i]);
		free(all[i]);
	}
}

static void cfg_init(struct vm_config *cfg, const char *kernel)
{
	config_defaults(cfg);
	cfg->ram_size = RAM;
	cfg->kernel = kernel;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int preflight(const struct vm_config *cfg, bool emulated, char *err, size_t errlen)
{
	struct load_params p = { .cfg = cfg, .emulated_kernel = emulated };
	err[0] = '\0';
	int ret = load_preflight(&p, err, errlen);
	if (ret)
		ck_assert_msg(err[0] && !strchr(err, '\n'), "error must be one line: '%s'", err);
	return ret;
}

#define ASSERT_ERR(ret, err, needle)                                                           \
	do {                                                                                   \
		ck_assert_msg((ret) < 0, "accepted; expected '%s'", (needle));                 \
		ck_assert_msg(strstr((err), (needle)) != NULL, "error '%s' lacks '%s'", (err), \
			      (needle));                                                       \
	} while (0)

/* ---- guest memory and a device manager, as the machine has them ---- */

struct tmachine {
	uint8_t *hva;
	struct guest_mem *gm;
	struct bus *pio, *mmio;
	struct devmgr *dm;
	struct virtio_rng *rng[VM_MAX_VIRTIO];
	unsigned nrng;
};

static void tm_init(struct tmachine *t)
{
	memset(t, 0, sizeof(*t));
	t->hva = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(t->hva, MAP_FAILED);
	t->gm = guest_mem_new();
	ck_assert_ptr_nonnull(t->gm);
	ck_assert_int_eq(guest_mem_add(t->gm, 0, RAM, t->hva, NULL), 0);
	t->pio = bus_new("pio");
	t->mmio = bus_new("mmio");
	struct devmgr_env env = { .pio = t->pio, .mmio = t->mmio, .gm = t->gm };
	ck_assert_int_eq(devmgr_new(&env, &t->dm), 0);
}

static void tm_add_rng(struct tmachine *t)
{
	char err[128];
	t->rng[t->nrng] = virtio_rng_new();
	ck_assert_ptr_nonnull(t->rng[t->nrng]);
	ck_assert_int_eq(devmgr_add_virtio(t->dm, virtio_rng_device(t->rng[t->nrng]), NULL, err,
					   sizeof(err)),
			 0);
	t->nrng++;
}

static void tm_free(struct tmachine *t)
{
	devmgr_free(t->dm);
	for (unsigned i = 0; i < t->nrng; i++)
		virtio_rng_free(t->rng[i]);
	bus_free(t->pio);
	bus_free(t->mmio);
	guest_mem_free(t->gm);
	munmap(t->hva, RAM);
}

/* Loads cfg (devices from dm, or NULL: the ones cfg asks for) and returns
 * the command line the kernel finds, malloc'd. */
static char *loaded_cmdline(const struct vm_config *cfg, const struct devmgr *dm, bool emulated)
{
	struct tmachine t;
	tm_init(&t);
	struct load_params p = { .cfg = cfg, .dm = dm, .emulated_kernel = emulated };
	struct boot_entry e;
	char err[512];
	ck_assert_msg(load_guest(&p, t.gm, &e, err, sizeof(err)) == 0, "%s", err);
	char *cl = strdup(guest_mem_ptr(t.gm, LAYOUT_CMDLINE, 1));
	ck_assert_ptr_nonnull(cl);
	tm_free(&t);
	return cl;
}

static bool has_quirks(const char *cmdline)
{
	return strstr(cmdline, "noxsave") && strstr(cmdline, "clearcpuid=");
}

/* ---- preflight ---- */

START_TEST(preflight_command_line_with_devices)
{
	struct vm_config cfg;
	char err[512];
	char *append = repeat('a', 1900);
	cfg_init(&cfg, fs.payload);
	cfg.append = append;
	cfg.rng = 8; /* 8 announcements of 34 or 35 bytes: past the 2047 an ELF takes */
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err,
		   "kernel command line is 2184 bytes (284 added by memvm for devices");
	ck_assert_msg(strstr(err, "-kernel ") && strstr(err, "accepts at most 2047"), "%s", err);
	/* The same -append fits without the devices, or with them in a DTB. */
	cfg.rng = 0;
	ck_assert_msg(preflight(&cfg, false, err, sizeof(err)) == 0, "%s", err);
	cfg.rng = 8;
	cfg.dt = TRI_ON;
	ck_assert_msg(preflight(&cfg, false, err, sizeof(err)) == 0, "%s", err);
	/* memvm's own room for the line. */
	free(append);
	append = repeat('a', 70000);
	cfg.append = append;
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err,
		   "-append: the kernel command line is longer than 65535 bytes");
	free(append);
}
END_TEST

START_TEST(preflight_refuses_files)
{
	struct vm_config cfg;
	char err[512];
	cfg_init(&cfg, "/nonexistent/vmlinux");
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err,
		   "-kernel /nonexistent/vmlinux: cannot open: No such file or directory");
	cfg.kernel = "/tmp";
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err, "is a directory");
	cfg.kernel = fs.huge_vmlinux;
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err,
		   "does not fit in 64 MiB of guest RAM; raise -m");
	cfg.ram_size = 128 * MiB;
	ck_assert_msg(preflight(&cfg, false, err, sizeof(err)) == 0, "%s", err);
	cfg.ram_size = RAM;
	cfg.kernel = fs.vmlinux;
	cfg.initrd = "/nonexistent/initrd";
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err,
		   "-initrd /nonexistent/initrd: cannot open");
	cfg.initrd = fs.huge_initrd;
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err, "-initrd ");
	ck_assert_msg(strstr(err, "100 MiB does not fit in 64 MiB of RAM; raise -m"), "%s", err);
	cfg.initrd = fs.initrd;
	ck_assert_msg(preflight(&cfg, false, err, sizeof(err)) == 0, "%s", err);
	/* A FIFO is refused at once, not waited on. */
	char fifo[] = "/tmp/memvm-test-fifo-XXXXXX";
	int fd = mkstemp(fifo);
	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(fifo);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	cfg.initrd = fifo;
	ASSERT_ERR(preflight(&cfg, false, err, sizeof(err)), err, "is a device or pipe");
	unlink(fifo);
}
END_TEST

START_TEST(preflight_dumpdtb_without_kernel)
{
	struct vm_config cfg;
	char err[512];
	cfg_init(&cfg, NULL);
	cfg.dumpdtb = "/tmp/unused.dtb";
	cfg.rng = 3;
	cfg.balloon.enabled = true;
	ck_assert_msg(preflight(&cfg, true, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

/* ---- host quirks follow the kernel ---- */

START_TEST(quirks_only_for_linux)
{
	struct vm_config cfg;
	char *cl;
	/* A bare-metal payload, even with -append and -initrd. */
	cfg_init(&cfg, fs.payload);
	cfg.append = "x=1";
	cfg.initrd = fs.initrd;
	cl = loaded_cmdline(&cfg, NULL, true);
	ck_assert_str_eq(cl, "x=1");
	free(cl);
	/* Linux, even without -append or -initrd: a vmlinux with Linux's note,
	 * a bzImage. */
	cfg_init(&cfg, fs.vmlinux);
	cl = loaded_cmdline(&cfg, NULL, true);
	ck_assert_msg(has_quirks(cl), "'%s'", cl);
	free(cl);
	cfg_init(&cfg, fs.bzimage);
	cl = loaded_cmdline(&cfg, NULL, true);
	ck_assert_msg(has_quirks(cl), "'%s'", cl);
	ck_assert_msg(cl[0] != ' ', "'%s'", cl);
	free(cl);
	/* Only on a host that emulates kernel mode, and not with
	 * host-quirks=off. */
	cfg_init(&cfg, fs.vmlinux);
	cfg.append = "x=1";
	cl = loaded_cmdline(&cfg, NULL, false);
	ck_assert_str_eq(cl, "x=1");
	free(cl);
	cfg.host_quirks = false;
	cl = loaded_cmdline(&cfg, NULL, true);
	ck_assert_str_eq(cl, "x=1");
	free(cl);
}
END_TEST

/* Preflight refuses exactly the command lines the load refuses: the quirk
 * words are counted for a Linux kernel and not for a payload. */
START_TEST(preflight_counts_what_load_adds)
{
	struct vm_config cfg;
	char err[512], lerr[512];
	cfg_init(&cfg, fs.vmlinux);
	cfg.rng = 2;
	char *words = loaded_cmdline(&cfg, NULL, true); /* devices and quirks */
	size_t n = 2047 - strlen(words) - 1;            /* -append, a space, memvm's words */
	free(words);
	char *append = repeat('a', n + 1);
	cfg.append = append + 1;
	ck_assert_msg(preflight(&cfg, true, err, sizeof(err)) == 0, "%s", err);
	free(loaded_cmdline(&cfg, NULL, true));
	cfg.append = append;
	ASSERT_ERR(preflight(&cfg, true, err, sizeof(err)), err,
		   "kernel command line is 2048 bytes");
	ck_assert_msg(strstr(err, "host-quirks=off"), "%s", err);
	struct tmachine t;
	tm_init(&t);
	struct load_params p = { .cfg = &cfg, .emulated_kernel = true };
	struct boot_entry e;
	ASSERT_ERR(load_guest(&p, t.gm, &e, lerr, sizeof(lerr)), lerr, "2048 bytes");
	ck_assert_str_eq(err, lerr);
	tm_free(&t);
	/* A payload gets no quirks, so the same -append fits. */
	cfg.kernel = fs.payload;
	ck_assert_msg(preflight(&cfg, true, err, sizeof(err)) == 0, "%s", err);
	free(append);
}
END_TEST

/* Preflight describes the devices before they exist: the command line is
 * the one the device manager's devices give. */
START_TEST(preflight_devices_as_built)
{
	struct vm_config cfg;
	cfg_init(&cfg, fs.vmlinux);
	cfg.append = "console=ttyS0";
	cfg.rng = 3;
	cfg.balloon.enabled = true;
	struct tmachine t;
	tm_init(&t);
	for (int i = 0; i < 4; i++)
		tm_add_rng(&t);
	char *planned = loaded_cmdline(&cfg, NULL, false);
	char *built = loaded_cmdline(&cfg, t.dm, false);
	ck_assert_str_eq(planned, built);
	ck_assert_msg(strstr(built, "virtio_mmio.device=4K@0xd0003000:9"), "'%s'", built);
	free(planned);
	free(built);
	tm_free(&t);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("load");
	TCase *tc = tcase_create("preflight");
	tcase_add_unchecked_fixture(tc, files_setup, files_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, preflight_command_line_with_devices);
	tcase_add_test(tc, preflight_refuses_files);
	tcase_add_test(tc, preflight_dumpdtb_without_kernel);
	tcase_add_test(tc, quirks_only_for_linux);
	tcase_add_test(tc, preflight_counts_what_load_adds);
	tcase_add_test(tc, preflight_devices_as_built);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
