/* The memvm binary ($BUILD/memvm beside $BUILD/tests/): a configuration
 * error is reported before memvm opens /dev/kvm, maps RAM or builds
 * devices, as one line and exit status 1. Every run here is refused
 * before a guest could start: -mem-path names a missing directory, so a
 * check that came too late would fail on RAM (with KVM) or on /dev/kvm
 * (without) instead of giving the expected message. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "tests/unit/kernel_img.h"
#include "vmm/lib/util.h"

#define MiB    (1024ull * 1024)
#define NO_RAM "/nonexistent-memvm-test/ram"

static char memvm[PATH_MAX];
static char *payload, *vmlinux, *huge_kernel, *huge_initrd;

static void setup(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	snprintf(memvm, sizeof(memvm), "%s/memvm", dirname(dirname(self)));
	uint8_t k[4096];
	payload = write_tmp(k, kimg_elf64(k, sizeof(k), false, 0x1000), 0);
	vmlinux = write_tmp(k, kimg_elf64(k, sizeof(k), true, 0x1000), 0);
	huge_kernel = write_tmp(k, kimg_elf64(k, sizeof(k), true, 100 * MiB), 0);
	huge_initrd = write_tmp(NULL, 0, 100 * MiB);
}

static void teardown(void)
{
	char *all[] = { payload, vmlinux, huge_kernel, huge_initrd };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		unlink(all[i]);
		free(all[i]);
	}
}

/* Runs memvm with -mem-path NO_RAM and args (NULL-terminated), stdin
 * from /dev/null; its stderr in out. Returns the exit status. */
static int run(const char *const *args, char *out, size_t outlen)
{
	const char *argv[64] = { memvm, "-mem-path", NO_RAM };
	size_t n = 3;
	for (size_t i = 0; args[i]; i++) {
		ck_assert_uint_lt(n, ARRAY_SIZE(argv) - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ck_assert_msg(access(memvm, X_OK) == 0, "%s: %s (build it first: make all)", memvm,
		      strerror(errno));
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		alarm(20); /* a memvm that went on to run a guest must not hang the test */
		execv(memvm, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t r;
	while (len < outlen - 1 && (r = read(p[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "memvm died of signal %d: %s", WTERMSIG(status), out);
	return WEXITSTATUS(status);
}

/* memvm refuses args with one line holding needle, before /dev/kvm. */
static void refused(const char *needle, const char *const *args)
{
	char out[4096];
	int status = run(args, out, sizeof(out));
	ck_assert_msg(status == 1, "exit status %d, expected 1: %s", status, out);
	ck_assert_msg(strncmp(out, "memvm: error: ", 14) == 0 && strstr(out, needle),
		      "stderr '%s' lacks '%s'", out, needle);
	ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "not one line: '%s'", out);
}
#define REFUSED(needle, ...) refused((needle), (const char *const[]){ __VA_ARGS__, NULL })

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(long_append_refused_first)
{
	char *a = repeat('a', 3000);
	/* The case of the issue: big RAM to preallocate, then the error. */
	REFUSED("kernel command line is 3000 bytes but -kernel ", "-m", "4G", "-mem-prealloc",
		"-smp", "254", "-kernel", payload, "-append", a);
	REFUSED("accepts at most 2047; shorten -append", "-m", "4G", "-mem-prealloc", "-kernel",
		payload, "-append", a);
	free(a);
}
END_TEST

START_TEST(devices_count_against_append)
{
	char *a = repeat('a', 1950);
	/* 4 announcements of 34 bytes and their spaces. */
	REFUSED("2090 bytes (140 added by memvm for devices and host quirks)", "-m", "64M",
		"-kernel", payload, "-device", "virtio-rng", "-device", "virtio-rng", "-device",
		"virtio-rng", "-device", "virtio-balloon", "-machine", "host-quirks=off", "-append",
		a);
	free(a);
}
END_TEST

START_TEST(missing_files_refused_first)
{
	REFUSED("-kernel /nonexistent/vmlinux: cannot open: No such file or directory", "-m", "64M",
		"-kernel", "/nonexistent/vmlinux");
	REFUSED("-initrd /nonexistent/initrd: cannot open", "-m", "64M", "-kernel", vmlinux,
		"-initrd", "/nonexistent/initrd");
}
END_TEST

START_TEST(too_big_for_ram_refused_first)
{
	REFUSED("does not fit in 64 MiB of guest RAM; raise -m", "-m", "64M", "-kernel",
		huge_kernel);
	REFUSED("100 MiB does not fit in 64 MiB of RAM; raise -m", "-m", "64M", "-kernel", vmlinux,
		"-initrd", huge_initrd);
}
END_TEST

START_TEST(board_refusals_first)
{
	REFUSED("-device isa-debug-exit,iobase=0x3fc: port range in use by another device", "-m",
		"64M", "-kernel", payload, "-device", "isa-debug-exit,iobase=0x3fc");
	REFUSED("-serial file:/nonexistent-memvm-test/out: No such file or directory", "-m", "64M",
		"-kernel", payload, "-serial", "file:/nonexistent-memvm-test/out");
}
END_TEST

/* A configuration preflight accepts goes on to the host: /dev/kvm, or with
 * KVM, RAM (the missing -mem-path). Preflight must not refuse it. */
START_TEST(good_config_passes_preflight)
{
	char out[4096];
	const char *const args[] = { "-m",      "64M",           "-kernel", vmlinux,
				     "-device", "virtio-rng",    "-device", "isa-debug-exit",
				     "-append", "console=ttyS0", NULL };
	int status = run(args, out, sizeof(out));
	ck_assert_msg(status == 1, "exit status %d: %s", status, out);
	ck_assert_msg(strstr(out, "/dev/kvm") || strstr(out, "-mem-path " NO_RAM), "'%s'", out);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("memvm");
	TCase *tc = tcase_create("preflight");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, long_append_refused_first);
	tcase_add_test(tc, devices_count_against_append);
	tcase_add_test(tc, missing_files_refused_first);
	tcase_add_test(tc, too_big_for_ram_refused_first);
	tcase_add_test(tc, board_refusals_first);
	tcase_add_test(tc, good_config_passes_preflight);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
