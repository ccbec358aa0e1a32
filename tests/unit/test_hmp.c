/* Human monitor: QEMU's command spelling and output text, memvm's memory
 * and KSM summaries, on a fake VM backend with a real balloon and (for
 * the memory summary) real anonymous RAM. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/balloon.h"
#include "memory/guest_mem.h"
#include "memory/ram.h"
#include "tests/unit/check_main.h"
#include "vmm/monitor/hmp.h"
#include "vmm/monitor/monitor.h"
#include "vmm/lib/size.h"

#define MiB (1ull << 20)
#define RAM (256 * MiB)

static bool running;
static int stops, conts, resets, quits;
static struct monitor_backend be;
static struct guest_mem *gm;
static struct balloon *bal;
static struct qmp_ctx ctx;
static char last_event[512];
static int nevents;

static int f_stop(void *o)
{
	(void)o;
	stops++;
	running = false;
	return 0;
}
static int f_cont(void *o)
{
	(void)o;
	conts++;
	running = true;
	return 0;
}
static bool f_running(void *o)
{
	(void)o;
	return running;
}
static void f_quit(void *o)
{
	(void)o;
	quits++;
}
static int f_reset(void *o)
{
	(void)o;
	resets++;
	return 0;
}
static int f_tid(void *o, unsigned i)
{
	(void)o;
	return 100 + (int)i;
}
static int f_discard(void *o, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	(void)o;
	(void)gpa;
	*freed = len;
	return 0;
}

static void on_event(void *o, const char *name, const char *line)
{
	(void)o;
	(void)name;
	nevents++;
	snprintf(last_event, sizeof(last_event), "%s", line);
}

static void setup(void)
{
	running = true;
	stops = conts = resets = quits = nevents = 0;
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
	static const struct guest_ram_ops mem = { .discard = f_discard };
	struct balloon_config bc = { .ram_size = RAM, .gm = gm, .mem = &mem };
	ck_assert_int_eq(balloon_new(&bc, &bal), 0);
	be = (struct monitor_backend){
		.stop = f_stop,
		.cont = f_cont,
		.running = f_running,
		.quit = f_quit,
		.reset = f_reset,
		.cpu_thread_id = f_tid,
		.ram_size = RAM,
		.ncpus = 2,
		.balloon = bal,
	};
	ctx = (struct qmp_ctx){ .be = &be, .event = on_event, .extra = monitor_qmp_tables };
}

static void teardown(void)
{
	balloon_free(bal);
	guest_mem_free(gm);
}

/* Runs a line and compares the whole output. */
static void expect_out(const char *line, const char *want)
{
	char *out = hmp_run(&ctx, line);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(!strcmp(out, want), "'%s' printed '%s', wanted '%s'", line, out, want);
	free(out);
}

static void expect_has(const char *line, const char *needle)
{
	char *out = hmp_run(&ctx, line);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, needle) != NULL, "'%s' printed '%s', lacking '%s'", line, out,
		      needle);
	free(out);
}

START_TEST(test_info_status)
{
	expect_out("info status", "VM status: running\n");
	expect_out("  info   status  \r\n", "VM status: running\n");
	running = false;
	expect_out("info status", "VM status: paused\n");
}
END_TEST

START_TEST(test_stop_cont_aliases)
{
	expect_out("stop", "");
	ck_assert_int_eq(stops, 1);
	ck_assert_ptr_nonnull(strstr(last_event, "\"STOP\""));
	expect_out("info status", "VM status: paused\n");
	expect_out("c", "");
	ck_assert_int_eq(conts, 1);
	ck_assert_ptr_nonnull(strstr(last_event, "\"RESUME\""));
	expect_out("s", "");
	expect_out("cont", "");
	ck_assert_int_eq(stops, 2);
	ck_assert_int_eq(conts, 2);
	expect_out("system_reset", "");
	ck_assert_int_eq(resets, 1);
	ck_assert_ptr_nonnull(strstr(last_event, "host-qmp-system-reset"));
	expect_has("system_powerdown", "Error: system_powerdown is not supported");
	expect_out("stop now", "stop|s: extraneous characters at the end of line\n"
			       "Try \"help stop\" for more information\n");
	ck_assert_int_eq(stops, 2);
	expect_out("quit", "");
	ck_assert_int_eq(quits, 1);
	ck_assert_ptr_nonnull(strstr(last_event, "host-qmp-quit"));
	expect_out("q", "");
	ck_assert_int_eq(quits, 2);
}
END_TEST

START_TEST(test_balloon)
{
	struct balloon_info bi;
	expect_out("info balloon", "balloon: actual=256\n");
	expect_out("balloon 128", "");
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, 128 * MiB / 4096);
	expect_out("balloon 1G", ""); /* above RAM: capped */
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, 0);
	expect_out("balloon 192M", "");
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, 64 * MiB / 4096);
	expect_out("balloon 0", "Error: Parameter 'target' expects a size\n");
	expect_out("balloon", "unexpected end of expression\n"
			      "Try \"help balloon\" for more information\n");
	expect_out("balloon abc",
		   "invalid size 'abc'\nTry \"help balloon\" for more information\n");
	expect_out("balloon -5", "invalid size '-5'\nTry \"help balloon\" for more information\n");
	expect_out("balloon 99999999999999999999999",
		   "invalid size '99999999999999999999999'\n"
		   "Try \"help balloon\" for more information\n");
	expect_out("balloon 12 13", "balloon: extraneous characters at the end of line\n"
				    "Try \"help balloon\" for more information\n");
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, 64 * MiB / 4096);
	be.balloon = NULL;
	expect_out("info balloon", "Error: No balloon device has been activated\n");
	expect_out("balloon 100", "Error: No balloon device has been activated\n");
}
END_TEST

START_TEST(test_help_and_unknown)
{
	char *out = hmp_run(&ctx, "help");
	static const char *const lines[] = {
		"autopilot [on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE] -- turn the memory autopilot on or off, set its limits, show it\n",
		"balloon target -- request VM to change its memory allocation (in MB)\n",
		"cont|c  -- resume emulation\n",
		"help|? [cmd] -- show the help\n",
		"info [subcommand] -- show various information about the system state\n",
		"quit|q  -- quit the emulator\n",
		"stop|s  -- stop emulation\n",
		"system_powerdown  -- send system power down event\n",
		"system_reset  -- reset the system\n",
	};
	size_t total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		ck_assert_msg(strstr(out, lines[i]) != NULL, "help lacks %s", lines[i]);
		total += strlen(lines[i]);
	}
	ck_assert_uint_eq(strlen(out), total);
	free(out);
	expect_out(
		"?",
		"autopilot [on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE] -- turn the memory autopilot on or off, set its limits, show it\n"
		"balloon target -- request VM to change its memory allocation (in MB)\n"
		"cont|c  -- resume emulation\n"
		"help|? [cmd] -- show the help\n"
		"info [subcommand] -- show various information about the system state\n"
		"quit|q  -- quit the emulator\n"
		"stop|s  -- stop emulation\n"
		"system_powerdown  -- send system power down event\n"
		"system_reset  -- reset the system\n");
	expect_out("help stop", "stop|s  -- stop emulation\n");
	expect_out("help s", "stop|s  -- stop emulation\n");
	expect_out("help balloon",
		   "balloon target -- request VM to change its memory allocation (in MB)\n");
	expect_out("help info balloon", "info balloon  -- show balloon information\n");
	expect_out("help info nope", "unknown command: 'info nope'\n");
	expect_out("help nope", "unknown command: 'nope'\n");
	expect_has("help info", "info status  -- show the current VM status (running|paused)\n");
	expect_has("info", "info balloon  -- show balloon information\n");
	expect_has("info", "info memory  -- ");
	expect_has("info", "info ksm  -- ");
	expect_out("foo", "unknown command: 'foo'\n");
	expect_out("foo bar baz", "unknown command: 'foo'\n");
	expect_out("info foo", "unknown command: 'info foo'\n");
	expect_out("info status extra", "info status: extraneous characters at the end of line\n");
	expect_out("", "");
	expect_out("   \t ", "");
	expect_has("a b c d e f g h i j k", "unknown command: 'a'");
	expect_has("help a b c d e f g h", "extraneous characters");
	ck_assert_int_eq(stops + conts + resets + quits, 0);
}
END_TEST

START_TEST(test_info_misc)
{
	expect_out("info cpus", "* CPU #0: thread_id=100\n  CPU #1: thread_id=101\n");
	expect_out("info kvm", "kvm support: enabled\n");
	/* QEMU's format: the QEMU version, then the package with no space. */
	expect_out("info version", "7.2.0memvm-" MEMVM_VERSION "\n");
	expect_out("info uuid", "00000000-0000-0000-0000-000000000000\n");
	expect_out("info name", "");
	expect_out("info memdev",
		   "memory backend: microvm.ram\n  size:  268435456\n  merge: true\n"
		   "  dump: true\n  prealloc: false\n  share: false\n  reserve: true\n"
		   "  policy: default\n  host nodes: \n\n");
	expect_out("info memory_size_summary", "base memory: 268435456\nplugged memory: 0\n");
}
END_TEST

START_TEST(test_info_memory_without_ram)
{
	expect_out("info memory",
		   "guest RAM: 256 MiB\n"
		   "balloon: target=256 MiB actual=256 MiB (guest driver not ready)\n"
		   "balloon pages: inflated 0, deflated 0, rejected 0; reported free: 0 B\n");
	expect_out("info ksm", "KSM: no RAM information\n");
	ck_assert_int_eq(balloon_set_target(bal, 100 * MiB), 0);
	expect_has("info memory", "balloon: target=100 MiB actual=256 MiB");
	be.balloon = NULL;
	expect_out("info memory", "guest RAM: 256 MiB\nballoon: none\n");
}
END_TEST

START_TEST(test_info_memory_with_ram)
{
	struct ram_config rc;
	struct ram *ram;
	char err[256];
	ram_config_init(&rc, 8 * MiB);
	rc.progress = false;
	ck_assert_int_eq(ram_map(&rc, &ram, err, sizeof(err)), 0);
	memset(ram_base(ram), 1, 2 * MiB); /* make some of it resident */
	be.ram = ram;
	be.ram_size = 8 * MiB;
	char *out = hmp_run(&ctx, "info memory");
	ck_assert_msg(strstr(out, "guest RAM: 8 MiB (anonymous, private, 4 KiB pages)\n"), "%s",
		      out);
	ck_assert_msg(strstr(out, "\nresident: "), "%s", out);
	ck_assert_msg(strstr(out, "\npreallocated: no\n"), "%s", out);
	ck_assert_msg(strstr(out, "\nmerging (KSM): "), "%s", out);
	ck_assert_msg(strstr(out, "\ntransparent huge pages: "), "%s", out);
	ck_assert_msg(strstr(out, "\ndiscarded: 0 B\n"), "%s", out);
	free(out);
	out = hmp_run(&ctx, "info ksm");
	ck_assert_msg(!strncmp(out, "KSM: ", 5), "%s", out);
	ck_assert_msg(strstr(out, "\nguest RAM mergeable: "), "%s", out);
	ck_assert_msg(strstr(out, "\nmerged pages: "), "%s", out);
	free(out);
	/* The QMP form carries the same facts. */
	struct qmp_error e = { 0 };
	json_t *m = qmp_execute(&ctx, "x-query-memvm-memory", NULL, &e);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(m, "backing")), "anonymous");
	ck_assert_int_eq(json_integer_value(json_object_get(m, "page-size")), 4096);
	ck_assert_int_ge(json_integer_value(json_object_get(m, "rss")), 2 * (json_int_t)MiB);
	ck_assert(json_is_boolean(json_object_get(m, "merge-effective")));
	ck_assert(json_is_integer(json_object_get(m, "ksm-merging-pages")));
	json_decref(m);
	ram_unmap(ram);
}
END_TEST

START_TEST(test_helpers)
{
	char b[32];
	ck_assert_str_eq(size_format(b, sizeof(b), 0), "0 B");
	ck_assert_str_eq(size_format(b, sizeof(b), 1023), "1023 B");
	ck_assert_str_eq(size_format(b, sizeof(b), 4096), "4 KiB");
	ck_assert_str_eq(size_format(b, sizeof(b), 256 * MiB), "256 MiB");
	ck_assert_str_eq(size_format(b, sizeof(b), 1536 * MiB), "1.5 GiB");
	ck_assert_str_eq(size_format(b, sizeof(b), UINT64_MAX), "16.0 EiB");
	char *c = hmp_crlf("a\nb\r\nc");
	ck_assert_str_eq(c, "a\r\nb\r\nc");
	free(c);
	c = hmp_crlf("\n\n");
	ck_assert_str_eq(c, "\r\n\r\n");
	free(c);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("hmp");
	TCase *tc = tcase_create("hmp");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_info_status);
	tcase_add_test(tc, test_stop_cont_aliases);
	tcase_add_test(tc, test_balloon);
	tcase_add_test(tc, test_help_and_unknown);
	tcase_add_test(tc, test_info_misc);
	tcase_add_test(tc, test_info_memory_without_ram);
	tcase_add_test(tc, test_info_memory_with_ram);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
