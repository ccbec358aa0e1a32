/* Device tree: built with libfdt, decompiled with dtc (device-tree-compiler)
 * and checked node by node. */
#include <check.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/boot_cfg.h"
#include "tests/unit/check_main.h"
#include "vmm/boot/fdt.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

static void cfg_with(struct boot_config *cfg, uint64_t ram, unsigned ncpus, size_t nvirtio,
		     const char *cmdline)
{
	loader_config_init(cfg);
	cfg->ram_size = ram;
	cfg->ncpus = ncpus;
	cfg->cmdline = cmdline;
	for (size_t i = 0; i < nvirtio; i++)
		boot_cfg_add_virtio(cfg);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t cap = 1 << 16, len = 0;
	char *s = malloc(cap);
	size_t n;
	while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap)
			s = realloc(s, cap *= 2);
	}
	s[len] = '\0';
	fclose(f);
	return s;
}

/* Writes the DTB with fdt_write_file and returns `dtc -I dtb -O dts` of it;
 * dtc must exit 0 without a single warning. */
static char *decompile(const struct boot_config *cfg)
{
	char dir[] = "/tmp/memvm-test-fdt-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char dtb[64], dts[64], log[64], cmd[256];
	snprintf(dtb, sizeof(dtb), "%s/m.dtb", dir);
	snprintf(dts, sizeof(dts), "%s/m.dts", dir);
	snprintf(log, sizeof(log), "%s/dtc.log", dir);
	char err[256] = "";
	ck_assert_msg(fdt_write_file(cfg, dtb, err, sizeof(err)) == 0, "%s", err);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o %s %s 2>%s", dts, dtb, log);
	int st = system(cmd);
	char *warnings = slurp(log);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dtc failed (%d): %s", st, warnings);
	ck_assert_msg(warnings[0] == '\0', "dtc warnings: %s", warnings);
	free(warnings);
	char *text = slurp(dts);
	unlink(dtb);
	unlink(dts);
	unlink(log);
	rmdir(dir);
	return text;
}

/* The text of node `name` (its line "name {" up to the matching "};"). */
static char *node(const char *dts, const char *name)
{
	char open[128];
	snprintf(open, sizeof(open), "\t%s {\n", name);
	const char *p = strstr(dts, open);
	ck_assert_msg(p != NULL, "node %s missing in:\n%s", name, dts);
	int depth = 0;
	const char *q = p;
	for (; *q; q++) {
		if (*q == '{')
			depth++;
		else if (*q == '}' && --depth == 0)
			break;
	}
	ck_assert_msg(*q, "unterminated node %s", name);
	return strndup(p, (size_t)(q - p + 1));
}

static unsigned count(const char *s, const char *needle)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define HAS(text, needle) \
	ck_assert_msg(strstr((text), (needle)) != NULL, "missing '%s' in:\n%s", (needle), (text))

START_TEST(dts_contents)
{
	struct boot_config cfg;
	cfg_with(&cfg, 256 * MiB, 2, 2, "console=ttyS0 reboot=k");
	char *dts = decompile(&cfg);

	char *n = node(dts, "chosen");
	HAS(n, "bootargs = \"console=ttyS0 reboot=k\";");
	free(n);

	n = node(dts, "memory@0");
	HAS(n, "device_type = \"memory\";");
	HAS(n, "reg = <0x00 0x00 0x00 0x9fc00>;");
	free(n);
	n = node(dts, "memory@100000");
	HAS(n, "reg = <0x00 0x100000 0x00 0xff00000>;");
	free(n);
	ck_assert_uint_eq(count(dts, "device_type = \"memory\""), 2);

	n = node(dts, "cpus");
	ck_assert_uint_eq(count(n, "device_type = \"cpu\";"), 2);
	free(n);
	n = node(dts, "cpu@1");
	HAS(n, "reg = <0x01>;");
	free(n);

	n = node(dts, "interrupt-controller@fec00000");
	HAS(n, "compatible = \"intel,ce4100-ioapic\";");
	HAS(n, "interrupt-controller;");
	HAS(n, "#interrupt-cells = <0x02>;");
	HAS(n, "reg = <0x00 0xfec00000 0x00 0x1000>;");
	HAS(n, "phandle = <0x01>;");
	free(n);
	n = node(dts, "lapic@fee00000");
	HAS(n, "compatible = \"intel,ce4100-lapic\";");
	HAS(n, "reg = <0x00 0xfee00000 0x00 0x1000>;");
	free(n);

	n = node(dts, "serial@i3f8");
	HAS(n, "compatible = \"ns16550a\";");
	HAS(n, "reg = <0x01 0x3f8 0x08>;");
	HAS(n, "interrupts = <0x04 0x03>;");
	HAS(n, "clock-frequency = <0x1c2000>;");
	free(n);
	n = node(dts, "isa@i0");
	HAS(n, "compatible = \"isa\";");
	HAS(n, "ranges = <0x01 0x00 0x00 0x00 0x10000>;");
	free(n);

	n = node(dts, "virtio_mmio@d0000000");
	HAS(n, "compatible = \"virtio,mmio\";");
	HAS(n, "reg = <0x00 0xd0000000 0x00 0x1000>;");
	HAS(n, "interrupts = <0x05 0x03>;");
	HAS(n, "interrupt-parent = <0x01>;");
	free(n);
	n = node(dts, "virtio_mmio@d0001000");
	HAS(n, "reg = <0x00 0xd0001000 0x00 0x1000>;");
	HAS(n, "interrupts = <0x06 0x03>;");
	free(n);
	ck_assert_uint_eq(count(dts, "\"virtio,mmio\""), 2);
	free(dts);
}
END_TEST

START_TEST(dts_high_memory_and_many_cpus)
{
	struct boot_config cfg;
	cfg_with(&cfg, 5 * GiB, 8, 0, "");
	cfg.serial = false;
	char *dts = decompile(&cfg);
	char *n = node(dts, "memory@100000");
	HAS(n, "reg = <0x00 0x100000 0x00 0xbff00000>;");
	free(n);
	n = node(dts, "memory@100000000");
	HAS(n, "reg = <0x01 0x00 0x00 0x80000000>;");
	free(n);
	ck_assert_uint_eq(count(dts, "device_type = \"cpu\";"), 8);
	ck_assert_ptr_null(strstr(dts, "serial@"));
	ck_assert_ptr_null(strstr(dts, "virtio,mmio"));
	n = node(dts, "chosen");
	HAS(n, "bootargs = [00];"); /* dtc prints an empty string as bytes */
	free(n);
	free(dts);
}
END_TEST

START_TEST(libfdt_view)
{
	struct boot_config cfg;
	cfg_with(&cfg, 3 * GiB, 4, 16, "a=b");
	void *dtb = NULL;
	size_t len = 0;
	ck_assert_int_eq(fdt_build_alloc(&cfg, &dtb, &len), 0);
	ck_assert_int_eq(fdt_check_header(dtb), 0);
	ck_assert_uint_eq(fdt_totalsize(dtb), len);
	int cpus = fdt_path_offset(dtb, "/cpus"), ncpu = 0, child;
	ck_assert_int_ge(cpus, 0);
	fdt_for_each_subnode(child, dtb, cpus)
		ncpu++;
	ck_assert_int_eq(ncpu, 4);
	int nvirtio = 0;
	for (int off = fdt_node_offset_by_compatible(dtb, -1, "virtio,mmio"); off >= 0;
	     off = fdt_node_offset_by_compatible(dtb, off, "virtio,mmio"))
		nvirtio++;
	ck_assert_int_eq(nvirtio, 16);
	int ioapic = fdt_node_offset_by_phandle(dtb, FDT_PHANDLE_IOAPIC);
	ck_assert_int_ge(ioapic, 0);
	ck_assert_int_eq(fdt_node_check_compatible(dtb, ioapic, "intel,ce4100-ioapic"), 0);
	/* exactly 3 GiB: no memory above 4 GiB */
	ck_assert_int_lt(fdt_path_offset(dtb, "/memory@100000000"), 0);
	free(dtb);
}
END_TEST

START_TEST(errors)
{
	struct boot_config cfg;
	cfg_with(&cfg, 128 * MiB, 2, 1, "x");
	uint8_t small[256];
	size_t len = 0;
	ck_assert_int_eq(fdt_build(&cfg, small, sizeof(small), &len), -ENOSPC);
	uint8_t big[8192];
	ck_assert_int_eq(fdt_build(&cfg, big, sizeof(big), &len), 0);
	ck_assert_int_eq(fdt_build(&cfg, big, len - 1, &len), -ENOSPC);
	cfg.ncpus = 0;
	ck_assert_int_eq(fdt_build(&cfg, big, sizeof(big), &len), -EINVAL);
	cfg.ncpus = 1;
	char err[256] = "";
	ck_assert_int_eq(fdt_write_file(&cfg, "/nonexistent-memvm-dir/x.dtb", err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "dumpdtb=/nonexistent-memvm-dir/x.dtb: cannot create"), "%s",
		      err);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

static Suite *fdt_suite(void)
{
	Suite *s = suite_create("fdt");
	TCase *tc = tcase_create("fdt");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, dts_contents);
	tcase_add_test(tc, dts_high_memory_and_many_cpus);
	tcase_add_test(tc, libfdt_view);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fdt_suite)
