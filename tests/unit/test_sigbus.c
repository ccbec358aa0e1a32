/* The SIGBUS guard (vmm/lib/sigbus): a fault on registered guest RAM ends
 * the process with one line, status 1, the terminal hook run and the
 * socket files gone; a fault anywhere else still kills with SIGBUS. Each
 * case runs in a child process, since the guard exits. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "tests/unit/unit_util.h"
#include "vmm/lib/sigbus.h"

static int hook_fd = -1;
static void fatal_hook(void)
{
	if (write(hook_fd, "hook", 4) != 4) {
		/* the parent then sees no "hook" */
	}
}

static int touch_guarded(void *path)
{
	hook_fd = STDERR_FILENO;
	uint8_t *p = unit_map_half_backed();
	if (sigbus_guard_add_ram(p, 8192, 0x7f000000) || sigbus_guard_init())
		_exit(43);
	sigbus_guard_add_path(path);
	sigbus_guard_add_path("/nonexistent/never-there");
	sigbus_guard_on_fatal(fatal_hook);
	p[0] = 1;                                 /* backed: fine */
	((volatile uint8_t *)p)[4096 + 0x10] = 1; /* not backed */
	return 42;                                /* not reached */
}

START_TEST(fault_on_guest_ram_exits_cleanly)
{
	char path[] = "/tmp/memvm-sigbus-test.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char err[1024];
	int st = unit_run_child(touch_guarded, path, err, sizeof(err));
	ck_assert_msg(WIFEXITED(st), "child did not exit: status %#x, stderr: %s", st, err);
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	ck_assert_ptr_nonnull(strstr(err, "memvm: error: guest RAM at 0x7f001010 has no backing "
					  "page (SIGBUS)"));
	ck_assert_ptr_nonnull(strstr(err, "nr_hugepages"));
	ck_assert_ptr_nonnull(strstr(err, "hook")); /* after the line */
	ck_assert_ptr_eq(strchr(err, '\n'), strrchr(err, '\n'));
	ck_assert_int_eq(access(path, F_OK), -1); /* the socket file went */
}
END_TEST

static int touch_unguarded(void *unused)
{
	(void)unused;
	uint8_t *guarded = unit_map_half_backed();
	uint8_t *other = unit_map_half_backed();
	if (sigbus_guard_add_ram(guarded, 8192, 0) || sigbus_guard_init())
		_exit(43);
	((volatile uint8_t *)other)[4096] = 1;
	return 42; /* not reached */
}

START_TEST(fault_elsewhere_still_kills)
{
	char err[1024];
	int st = unit_run_child(touch_unguarded, NULL, err, sizeof(err));
	ck_assert_msg(WIFSIGNALED(st), "status %#x, stderr: %s", st, err);
	ck_assert_int_eq(WTERMSIG(st), SIGBUS);
	ck_assert_ptr_null(strstr(err, "memvm: error"));
}
END_TEST

static int table_limits(void *unused)
{
	(void)unused;
	static uint8_t page[4096];
	int n = 0;
	while (sigbus_guard_add_ram(page, sizeof(page), 0) == 0)
		n++;
	/* Full: later ranges are refused, not written past the table. */
	if (n < 2 || sigbus_guard_add_ram(page, sizeof(page), 0) != -ENOSPC)
		_exit(3);
	sigbus_guard_clear_ram();
	if (sigbus_guard_add_ram(page, sizeof(page), 0) != 0)
		_exit(4);
	if (sigbus_guard_add_ram(page, 0, 0) != -EINVAL)
		_exit(5);
	return 0;
}

START_TEST(ram_table_limits)
{
	char err[256];
	int st = unit_run_child(table_limits, NULL, err, sizeof(err));
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sigbus");
	TCase *tc = tcase_create("sigbus");
	tcase_add_test(tc, fault_on_guest_ram_exits_cleanly);
	tcase_add_test(tc, fault_elsewhere_still_kills);
	tcase_add_test(tc, ram_table_limits);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
