/* Unit tests for vmm/lib/evloop.c: the epoll event loop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/check_main.h"
#include "vmm/lib/evloop.h"

static struct evloop *loop;

static void setup(void)
{
	loop = evloop_new();
	ck_assert_ptr_nonnull(loop);
}

static void teardown(void)
{
	evloop_free(loop);
	loop = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int new_efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void kick(int fd)
{
	uint64_t one = 1;
	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
}

struct rec {
	int fd;
	unsigned calls;
	uint32_t events;
	uint64_t value; /* eventfd counter read by the callback */
	bool drain;
};

static void rec_cb(void *opaque, uint32_t events)
{
	struct rec *r = opaque;
	r->calls++;
	r->events = events;
	if (r->drain) {
		uint64_t v = 0;
		if (read(r->fd, &v, sizeof(v)) == sizeof(v))
			r->value += v;
	}
}

START_TEST(eventfd_callback)
{
	struct rec r = { .fd = new_efd(), .drain = true };
	ck_assert_int_eq(evloop_add(loop, r.fd, EPOLLIN, rec_cb, &r), 0);
	/* Nothing pending yet. */
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_uint_eq(r.calls, 0);

	uint64_t three = 3;
	ck_assert_int_eq(write(r.fd, &three, sizeof(three)), sizeof(three));
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(r.calls, 1);
	ck_assert_uint_eq(r.events & EPOLLIN, EPOLLIN);
	ck_assert_uint_eq(r.events & ~(uint32_t)EPOLLIN, 0);
	ck_assert_uint_eq(r.value, 3);
	/* Drained: no further callback. */
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_uint_eq(r.calls, 1);

	/* Level-triggered: an undrained fd fires on every batch. */
	r.drain = false;
	kick(r.fd);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(r.calls, 3);

	ck_assert_int_eq(evloop_del(loop, r.fd), 0);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_uint_eq(r.calls, 3);
	close(r.fd);
}
END_TEST

START_TEST(other_event_masks)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	struct rec w = { .fd = p[1] }, rd = { .fd = p[0] };
	ck_assert_int_eq(evloop_add(loop, p[1], EPOLLOUT, rec_cb, &w), 0);
	ck_assert_int_eq(evloop_add(loop, p[0], EPOLLIN, rec_cb, &rd), 0);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(w.calls, 1);
	ck_assert_uint_eq(w.events, EPOLLOUT);
	ck_assert_uint_eq(rd.calls, 0);
	ck_assert_int_eq(evloop_del(loop, p[1]), 0);
	/* Writer gone: the reader sees a hang-up. */
	close(p[1]);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(rd.calls, 1);
	ck_assert_uint_eq(rd.events & EPOLLHUP, EPOLLHUP);
	ck_assert_int_eq(evloop_del(loop, p[0]), 0);
	close(p[0]);
}
END_TEST

struct stopper {
	struct evloop *loop;
	unsigned delay_ms;
};

static void *stop_thread(void *arg)
{
	struct stopper *st = arg;
	usleep(st->delay_ms * 1000);
	evloop_stop(st->loop);
	return NULL;
}

START_TEST(stop_from_another_thread)
{
	struct stopper st = { .loop = loop, .delay_ms = 30 };
	pthread_t t;
	uint64_t t0 = now_ms();
	ck_assert_int_eq(pthread_create(&t, NULL, stop_thread, &st), 0);
	ck_assert_int_eq(evloop_run(loop), 0);
	uint64_t dt = now_ms() - t0;
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* It waited for the stop, and returned promptly after it. */
	ck_assert_uint_ge(dt, 25);
	ck_assert_uint_lt(dt, 500);

	/* The loop can be run again and stopped again. */
	ck_assert_int_eq(pthread_create(&t, NULL, stop_thread, &st), 0);
	ck_assert_int_eq(evloop_run(loop), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

START_TEST(stop_before_run)
{
	/* A stop requested before evloop_run() is not lost. */
	evloop_stop(loop);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(evloop_run(loop), 0);
	ck_assert_uint_lt(now_ms() - t0, 500);
	/* Several stops collapse into one: the run after that waits again. */
	evloop_stop(loop);
	evloop_stop(loop);
	ck_assert_int_eq(evloop_run(loop), 0);
	struct stopper st = { .loop = loop, .delay_ms = 30 };
	pthread_t t;
	t0 = now_ms();
	ck_assert_int_eq(pthread_create(&t, NULL, stop_thread, &st), 0);
	ck_assert_int_eq(evloop_run(loop), 0);
	ck_assert_uint_ge(now_ms() - t0, 25);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

struct self_stop {
	int fd;
	unsigned calls;
};

static void self_stop_cb(void *opaque, uint32_t events)
{
	struct self_stop *ss = opaque;
	(void)events;
	uint64_t v;
	ck_assert_int_eq(read(ss->fd, &v, sizeof(v)), sizeof(v));
	if (++ss->calls == 3)
		evloop_stop(loop);
	else
		kick(ss->fd);
}

START_TEST(stop_from_callback)
{
	struct self_stop ss = { .fd = new_efd() };
	ck_assert_int_eq(evloop_add(loop, ss.fd, EPOLLIN, self_stop_cb, &ss), 0);
	kick(ss.fd);
	ck_assert_int_eq(evloop_run(loop), 0);
	ck_assert_uint_eq(ss.calls, 3);
	evloop_del(loop, ss.fd);
	close(ss.fd);
}
END_TEST

/* Two readable eventfds whose callbacks each remove the other one and
 * register a third fd, which most likely lands in the freed slot. */
struct pair {
	int fd[2];
	unsigned calls[2];
	struct rec c;
	int add_ret;
};
static struct pair pr;

static void pair_cb(unsigned me)
{
	pr.calls[me]++;
	ck_assert_int_eq(evloop_del(loop, pr.fd[!me]), 0);
	pr.add_ret = evloop_add(loop, pr.c.fd, EPOLLIN, rec_cb, &pr.c);
}
static void pair_cb0(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
	pair_cb(0);
}
static void pair_cb1(void *opaque, uint32_t events)
{
	(void)opaque;
	(void)events;
	pair_cb(1);
}

START_TEST(del_inside_callback_drops_pending)
{
	memset(&pr, 0, sizeof(pr));
	pr.fd[0] = new_efd();
	pr.fd[1] = new_efd();
	pr.c = (struct rec){ .fd = new_efd(), .drain = true };
	ck_assert_int_eq(evloop_add(loop, pr.fd[0], EPOLLIN, pair_cb0, NULL), 0);
	ck_assert_int_eq(evloop_add(loop, pr.fd[1], EPOLLIN, pair_cb1, NULL), 0);
	kick(pr.fd[0]);
	kick(pr.fd[1]);
	kick(pr.c.fd);
	/* Both are ready in the same batch, yet only the first one runs. */
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(pr.calls[0] + pr.calls[1], 1);
	ck_assert_int_eq(pr.add_ret, 0);
	/* The stale event of the removed fd did not reach the new watch. */
	ck_assert_uint_eq(pr.c.calls, 0);

	/* Next batch: the survivor (undrained) and the new fd both run; the
	 * survivor's del of the already removed fd fails, which pair_cb
	 * asserts, so drop the survivor first. */
	unsigned survivor = pr.calls[0] ? 0 : 1;
	ck_assert_int_eq(evloop_del(loop, pr.fd[survivor]), 0);
	ck_assert_int_eq(evloop_del(loop, pr.fd[!survivor]), -ENOENT);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(pr.c.calls, 1);
	ck_assert_uint_eq(pr.c.value, 1);
	ck_assert_uint_eq(pr.calls[0] + pr.calls[1], 1);
	ck_assert_int_eq(evloop_del(loop, pr.c.fd), 0);
	close(pr.fd[0]);
	close(pr.fd[1]);
	close(pr.c.fd);
}
END_TEST

static void del_self_cb(void *opaque, uint32_t events)
{
	struct rec *r = opaque;
	rec_cb(opaque, events);
	ck_assert_int_eq(evloop_del(loop, r->fd), 0);
}

START_TEST(del_self_inside_callback)
{
	struct rec r = { .fd = new_efd() };
	ck_assert_int_eq(evloop_add(loop, r.fd, EPOLLIN, del_self_cb, &r), 0);
	kick(r.fd);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	/* Still readable, but no longer watched. */
	ck_assert_uint_eq(r.calls, 1);
	/* The same fd can be watched again. */
	r.drain = true;
	ck_assert_int_eq(evloop_add(loop, r.fd, EPOLLIN, rec_cb, &r), 0);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(r.calls, 2);
	ck_assert_uint_eq(r.value, 1);
	evloop_del(loop, r.fd);
	close(r.fd);
}
END_TEST

START_TEST(add_twice_fails)
{
	struct rec a = { .fd = new_efd(), .drain = true }, b = { .fd = a.fd, .drain = true };
	ck_assert_int_eq(evloop_add(loop, a.fd, EPOLLIN, rec_cb, &a), 0);
	ck_assert_int_eq(evloop_add(loop, a.fd, EPOLLIN, rec_cb, &b), -EEXIST);
	/* The first registration is intact. */
	kick(a.fd);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(a.calls, 1);
	ck_assert_uint_eq(b.calls, 0);
	/* One del removes it; a second del finds nothing. */
	ck_assert_int_eq(evloop_del(loop, a.fd), 0);
	ck_assert_int_eq(evloop_del(loop, a.fd), -ENOENT);
	/* Bad fds. */
	ck_assert_int_eq(evloop_add(loop, -1, EPOLLIN, rec_cb, &a), -EBADF);
	ck_assert_int_eq(evloop_del(loop, 12345), -ENOENT);
	close(a.fd);
}
END_TEST

START_TEST(run_once_idle_timeout)
{
	struct rec r = { .fd = new_efd() };
	ck_assert_int_eq(evloop_add(loop, r.fd, EPOLLIN, rec_cb, &r), 0);
	uint64_t t0 = now_ms();
	ck_assert_int_eq(evloop_run_once(loop, 30), 0);
	uint64_t dt = now_ms() - t0;
	ck_assert_uint_ge(dt, 25);
	ck_assert_uint_lt(dt, 500);
	ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	ck_assert_uint_eq(r.calls, 0);
	evloop_del(loop, r.fd);
	close(r.fd);
}
END_TEST

#define MAXW 256 /* EVLOOP_MAX_WATCHES in evloop.c */

START_TEST(table_full)
{
	static int fds[MAXW + 1];
	static struct rec recs[MAXW + 1];
	int added = 0, ret = 0;
	for (int i = 0; i <= MAXW; i++) {
		fds[i] = new_efd();
		recs[i] = (struct rec){ .fd = fds[i], .drain = true };
		ret = evloop_add(loop, fds[i], EPOLLIN, rec_cb, &recs[i]);
		if (ret)
			break;
		added++;
	}
	/* The table is finite and says so with -ENOSPC. */
	ck_assert_int_eq(ret, -ENOSPC);
	ck_assert_int_ge(added, 64);
	/* Freeing one slot makes room again. */
	ck_assert_int_eq(evloop_del(loop, fds[0]), 0);
	ck_assert_int_eq(evloop_add(loop, fds[added], EPOLLIN, rec_cb, &recs[added]), 0);
	kick(fds[added]);
	kick(fds[1]);
	ck_assert_int_eq(evloop_run_once(loop, 500), 0);
	ck_assert_uint_eq(recs[added].calls, 1);
	ck_assert_uint_eq(recs[1].calls, 1);
	ck_assert_uint_eq(recs[0].calls, 0);
	for (int i = 0; i <= added; i++) {
		evloop_del(loop, fds[i]);
		close(fds[i]);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("evloop");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, eventfd_callback);
	tcase_add_test(tc, other_event_masks);
	tcase_add_test(tc, stop_from_another_thread);
	tcase_add_test(tc, stop_before_run);
	tcase_add_test(tc, stop_from_callback);
	tcase_add_test(tc, del_inside_callback_drops_pending);
	tcase_add_test(tc, del_self_inside_callback);
	tcase_add_test(tc, add_twice_fails);
	tcase_add_test(tc, run_once_idle_timeout);
	tcase_add_test(tc, table_full);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
