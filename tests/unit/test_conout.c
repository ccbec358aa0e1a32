/* The console output pump: everything written reaches the output in
 * order, a full pipe never blocks the writer, and closing does not wait
 * for a reader that never reads. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "vmm/board/conout.h"
#include "vmm/lib/util.h"

START_TEST(bytes_arrive_in_order)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	struct conout *c;
	ck_assert_int_eq(conout_open(p[1], &c), 0);
	int w = conout_fd(c);
	ck_assert_int_ne(fcntl(w, F_GETFL) & O_NONBLOCK, 0);
	char msg[3000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	ck_assert_int_eq(write(w, msg, sizeof(msg)), (int)sizeof(msg));
	conout_close(c, 2000); /* flushes */
	close(p[1]);
	char got[4000];
	size_t n = 0;
	ssize_t r;
	while ((r = read(p[0], got + n, sizeof(got) - n)) > 0)
		n += (size_t)r;
	ck_assert_uint_eq(n, sizeof(msg));
	ck_assert_mem_eq(got, msg, sizeof(msg));
	close(p[0]);
}
END_TEST

START_TEST(a_reader_that_never_reads)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	struct conout *c;
	ck_assert_int_eq(conout_open(p[1], &c), 0);
	int w = conout_fd(c);
	/* Fill everything: the writer gets EAGAIN, never blocks. */
	static char buf[65536];
	memset(buf, 'x', sizeof(buf));
	size_t total = 0;
	int eagain = 0;
	uint64_t t0 = clock_ms();
	while (clock_ms() - t0 < 5000) {
		ssize_t r = write(w, buf, sizeof(buf));
		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			if (++eagain > 50)
				break;
			usleep(10000);
			continue;
		}
		total += (size_t)r;
	}
	ck_assert_int_gt(eagain, 50);
	ck_assert_uint_ge(total, 65536); /* at least the output pipe's worth went through */
	t0 = clock_ms();
	conout_close(c, 200);
	ck_assert_uint_lt(clock_ms() - t0, 2000);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("conout");
	TCase *tc = tcase_create("pump");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, bytes_arrive_in_order);
	tcase_add_test(tc, a_reader_that_never_reads);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
