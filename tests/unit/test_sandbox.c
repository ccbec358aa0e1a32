/* The sandbox (vmm/sandbox): each case forks, enters the sandbox in the
 * child and reports through its exit status and stderr, since a filter
 * cannot be removed again. Runs without /dev/kvm. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "tests/unit/unit_util.h"
#include "vmm/sandbox/sandbox.h"

/* "Key:\tvalue" of /proc/self/status, read before the filter forbids
 * nothing we use here (openat is on the process list). */
static long status_field(const char *key, int base)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t k = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtol(line + k + 1, NULL, base);
	if (f)
		fclose(f);
	return v;
}

static int enter(bool log)
{
	char err[256];
	struct sandbox_opts o = { .enabled = true, .log = log };
	if (sandbox_enter(&o, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 10;
	}
	return 0;
}

static int child_state(void *unused)
{
	(void)unused;
	int r = enter(false);
	if (r)
		return r;
	if (status_field("Seccomp", 10) != 2)
		return 11;
	if (status_field("NoNewPrivs", 10) != 1)
		return 12;
	if (status_field("CapEff", 16) != 0 || status_field("CapPrm", 16) != 0)
		return 13;
	/* Root had CAP_SETPCAP: the bounding set is empty too. */
	if (getuid() == 0 && status_field("CapBnd", 16) != 0)
		return 14;
	return 0;
}

START_TEST(enter_drops_everything)
{
	char err[512];
	int st = unit_run_child(child_state, NULL, err, sizeof(err));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
	ck_assert_str_eq(err, ""); /* all well: nothing printed */
}
END_TEST

static int child_probe(void *unused)
{
	(void)unused;
	int r = enter(false);
	if (r)
		return r;
	sandbox_probe_forbidden();
	return 20; /* not reached */
}

START_TEST(forbidden_call_names_it_and_dies)
{
	char err[512];
	int st = unit_run_child(child_probe, NULL, err, sizeof(err));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x: %s", st, err);
	ck_assert_ptr_nonnull(strstr(err, "memvm: error: sandbox: the main thread made system "
					  "call personality ("));
	ck_assert_ptr_nonnull(strstr(err, "-sandbox off"));
	ck_assert_ptr_eq(strchr(err, '\n'), strrchr(err, '\n'));
}
END_TEST

static int child_log(void *unused)
{
	(void)unused;
	int r = enter(true);
	if (r)
		return r;
	sandbox_probe_forbidden(); /* logged by the kernel, then allowed */
	return 0;
}

START_TEST(log_mode_lets_the_call_through)
{
	char err[512];
	int st = unit_run_child(child_log, NULL, err, sizeof(err));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
}
END_TEST

/* A vCPU thread's own filter: KVM ioctls and memory calls. A terminal
 * ioctl, or mincore (the balloon's, on the main thread), kills on the
 * vCPU thread; sanitizer builds allow any ioctl, so mincore decides there. */
static void *vcpu_like(void *arg)
{
	(void)arg;
	sandbox_set_thread_name("vCPU 0");
	if (sandbox_enter_vcpu())
		return (void *)1;
#if !defined(__SANITIZE_ADDRESS__)
	struct termios t;
	ioctl(STDERR_FILENO, TCGETS, &t);
#endif
	static uint8_t page[4096] __attribute__((aligned(4096)));
	unsigned char vec;
	mincore(page, sizeof(page), &vec);
	return NULL;
}

static int child_vcpu(void *unused)
{
	(void)unused;
	int r = enter(false);
	if (r)
		return r;
	struct termios t;
	ioctl(STDERR_FILENO, TCGETS, &t); /* allowed on the main thread */
	static uint8_t page[4096] __attribute__((aligned(4096)));
	unsigned char vec;
	if (mincore(page, sizeof(page), &vec))
		return 33;
	pthread_t th;
	void *res;
	if (pthread_create(&th, NULL, vcpu_like, NULL) || pthread_join(th, &res))
		return 30;
	return res ? 31 : 32; /* the thread's ioctl must have killed us */
}

START_TEST(vcpu_filter_allows_only_kvm_ioctls)
{
	char err[512];
	int st = unit_run_child(child_vcpu, NULL, err, sizeof(err));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x: %s", st, err);
#if defined(__SANITIZE_ADDRESS__)
	const char *call = "mincore";
#else
	const char *call = "ioctl";
#endif
	char want[96];
	snprintf(want, sizeof(want), "the vCPU 0 thread made system call %s (", call);
	ck_assert_msg(strstr(err, want), "%s", err);
}
END_TEST

static int child_off(void *unused)
{
	(void)unused;
	char err[256];
	struct sandbox_opts o = { .enabled = false };
	if (sandbox_enter(&o, err, sizeof(err)) || sandbox_enter_vcpu())
		return 40;
	if (status_field("Seccomp", 10) != 0)
		return 41;
	sandbox_probe_forbidden(); /* harmless without a filter */
	return 0;
}

START_TEST(off_installs_nothing)
{
	char err[512];
	int st = unit_run_child(child_off, NULL, err, sizeof(err));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st, err);
}
END_TEST

static int child_ctl(void *unused)
{
	(void)unused;
	char err[256];
	if (sandbox_enter_ctl(err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 50;
	}
	printf("%s", ""); /* stdio still works */
	fflush(stdout);
	/* memvm-ctl changes no file once connected. */
	return unlink("/nonexistent/memvm-ctl-test") ? 51 : 52;
}

START_TEST(ctl_filter_forbids_file_changes)
{
	char err[512];
	int st = unit_run_child(child_ctl, NULL, err, sizeof(err));
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x: %s", st, err);
	ck_assert_msg(strstr(err, "memvm-ctl: error: sandbox: the main thread made system call "
				  "unlink ("),
		      "%s", err);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");
	tcase_add_test(tc, enter_drops_everything);
	tcase_add_test(tc, forbidden_call_names_it_and_dies);
	tcase_add_test(tc, log_mode_lets_the_call_through);
	tcase_add_test(tc, vcpu_filter_allows_only_kvm_ioctls);
	tcase_add_test(tc, off_installs_nothing);
	tcase_add_test(tc, ctl_filter_forbids_file_changes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
