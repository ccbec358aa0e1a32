#include "memory/prealloc.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Chunks big enough that claiming one costs nothing, small enough that two
 * threads finish together and the bar moves. */
#define CHUNK_BYTES       (16ull << 20)
#define MAX_THREADS       256u
#define PROGRESS_DELAY_MS 500u
#define PROGRESS_TICK_NS  100000000ull

struct job {
	uint8_t *base;
	uint64_t len;
	uint64_t page_size;
	uint64_t chunk;
	bool force_touch;
	bool (*cancelled)(void *opaque);
	void *cancel_opaque;

	_Atomic uint64_t next; /* next unclaimed offset */
	_Atomic uint64_t done; /* bytes populated, for the bar */
	_Atomic int err;       /* first error (negative errno), 0 if none */
	_Atomic uint64_t fail_offset;
	_Atomic bool touched; /* MADV_POPULATE_WRITE missing: touch pages */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* gate opened / a worker finished */
	bool go;
	unsigned finished;
};

/* One SIGBUS handler for the whole process, so preallocations run one at
 * a time; each thread has its own jump target. */
static pthread_mutex_t prealloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_sigbus;
/* volatile: the stores around the touch loop must not be optimised away. */
static __thread sigjmp_buf *volatile tls_jmp;

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)si;
	(void)uctx;
	if (tls_jmp)
		siglongjmp(*tls_jmp, 1);
	/* Not a page we are touching: put the old handler back and return,
	 * so the faulting access runs again and gets the usual treatment. */
	sigaction(SIGBUS, &old_sigbus, NULL);
}

unsigned prealloc_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Reads and writes back one byte per page: keeps existing contents (a
 * user's file, pages already in use) and still forces a writable page. */
static int touch_range(uint8_t *p, uint64_t n, uint64_t page_size, uint64_t *fail_at)
{
	sigjmp_buf jb;
	volatile uint64_t i = 0;

	if (sigsetjmp(jb, 1)) {
		tls_jmp = NULL;
		*fail_at = i;
		return -EFAULT;
	}
	tls_jmp = &jb;
	for (; i < n; i += page_size) {
		volatile uint8_t *q = p + i;
		*q = *q;
	}
	tls_jmp = NULL;
	return 0;
}

static int populate_chunk(struct job *j, uint64_t off, uint64_t n, uint64_t *fail_at)
{
	if (!j->force_touch && !atomic_load(&j->touched)) {
		int again = 0;
		for (;;) {
			if (madvise(j->base + off, n, MADV_POPULATE_WRITE) == 0)
				return 0;
			if (errno == EINTR || (errno == EAGAIN && ++again < 100))
				continue;
			break;
		}
		if (errno != EINVAL) {
			/* The kernel does not say which page failed. */
			*fail_at = off;
			return -errno;
		}
		/* EINVAL: kernel older than 5.14. */
		atomic_store(&j->touched, true);
	}
	uint64_t rel = 0;
	int ret = touch_range(j->base + off, n, j->page_size, &rel);
	if (ret)
		*fail_at = off + rel;
	return ret;
}

static void run_worker(struct job *j)
{
	for (;;) {
		if (atomic_load(&j->err))
			break;
		if (j->cancelled && j->cancelled(j->cancel_opaque)) {
			int zero = 0;
			if (atomic_compare_exchange_strong(&j->err, &zero, -EINTR))
				atomic_store(&j->fail_offset, atomic_load(&j->done));
			break;
		}
		uint64_t off = atomic_fetch_add(&j->next, j->chunk);
		if (off >= j->len)
			break;
		uint64_t n = MIN(j->chunk, j->len - off);
		uint64_t fail_at = 0;
		int ret = populate_chunk(j, off, n, &fail_at);
		if (ret) {
			int zero = 0;
			if (atomic_compare_exchange_strong(&j->err, &zero, ret))
				atomic_store(&j->fail_offset, fail_at);
			break;
		}
		atomic_fetch_add(&j->done, n);
	}
}

static void *worker(void *arg)
{
	struct job *j = arg;

	/* Nobody populates before every thread exists: thread creation does
	 * not then compete with page faults for the mmap lock. */
	pthread_mutex_lock(&j->lock);
	while (!j->go)
		pthread_cond_wait(&j->cond, &j->lock);
	pthread_mutex_unlock(&j->lock);

	run_worker(j);

	pthread_mutex_lock(&j->lock);
	j->finished++;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static void draw_progress(const struct job *j, const char *what, bool last)
{
	char bar[31];
	char line[256];
	uint64_t done = atomic_load(&j->done);
	unsigned pct = (unsigned)(done * 100 / j->len);
	unsigned fill = (unsigned)(done * 30 / j->len);

	for (unsigned i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	int n = snprintf(line, sizeof(line), "\rmemvm: preallocating %s [%s] %3u%%%s",
			 what ? what : "memory", bar, pct, last ? "\n" : "");
	if (n > 0)
		(void)!write(STDERR_FILENO, line, MIN((size_t)n, sizeof(line) - 1));
}

int prealloc_populate(void *base, uint64_t len, uint64_t page_size,
		      const struct prealloc_opts *opts, struct prealloc_result *res)
{
	static const struct prealloc_opts defaults = { 0 };
	const struct prealloc_opts *o = opts ? opts : &defaults;
	struct prealloc_result r = { 0 };
	pthread_t tids[MAX_THREADS];
	unsigned started = 0;
	int ret;

	if (res)
		*res = r;
	if (!base || page_size < 4096 || !IS_POW2(page_size) || len % page_size ||
	    (uintptr_t)base % page_size)
		return -EINVAL;
	if (len == 0)
		return 0;

	struct job j = {
		.base = base,
		.len = len,
		.page_size = page_size,
		.chunk = MAX(ALIGN_UP(CHUNK_BYTES, page_size), page_size),
		.force_touch = o->force_touch,
		.cancelled = o->cancelled,
		.cancel_opaque = o->cancel_opaque,
	};
	atomic_init(&j.next, 0);
	atomic_init(&j.done, 0);
	atomic_init(&j.err, 0);
	atomic_init(&j.fail_offset, 0);
	atomic_init(&j.touched, o->force_touch);

	uint64_t nchunks = len / j.chunk + (len % j.chunk != 0);
	unsigned threads = o->threads ? o->threads : prealloc_default_threads();
	threads = (unsigned)MIN((uint64_t)threads, nchunks);
	threads = MIN(threads, MAX_THREADS);

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&j.lock, NULL);
	ret = -pthread_cond_init(&j.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret) {
		pthread_mutex_destroy(&j.lock);
		return ret;
	}

	pthread_mutex_lock(&prealloc_lock);
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_sigbus);

	uint64_t t0 = clock_ns();

	/* Workers take no asynchronous signals: those stay with the caller. */
	sigset_t all, saved;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	for (; started < threads; started++)
		if (pthread_create(&tids[started], NULL, worker, &j))
			break; /* fewer threads still cover every chunk */
	pthread_sigmask(SIG_SETMASK, &saved, NULL);

	pthread_mutex_lock(&j.lock);
	j.go = true;
	pthread_cond_broadcast(&j.cond);
	pthread_mutex_unlock(&j.lock);

	if (started == 0)
		run_worker(&j);

	bool may_show = o->progress && isatty(STDERR_FILENO);
	uint64_t next_draw =
		t0 + (o->progress_delay_ms ? o->progress_delay_ms : PROGRESS_DELAY_MS) * 1000000ull;
	pthread_mutex_lock(&j.lock);
	while (j.finished < started) {
		if (!may_show) {
			pthread_cond_wait(&j.cond, &j.lock);
			continue;
		}
		uint64_t now = clock_ns();
		if (now >= next_draw) {
			pthread_mutex_unlock(&j.lock);
			draw_progress(&j, o->what, false);
			r.progress_shown = true;
			next_draw = now + PROGRESS_TICK_NS;
			pthread_mutex_lock(&j.lock);
			continue;
		}
		/* clock_ns() is CLOCK_MONOTONIC, the condition's clock. */
		struct timespec ts = { .tv_sec = (time_t)(next_draw / 1000000000ull),
				       .tv_nsec = (long)(next_draw % 1000000000ull) };
		pthread_cond_timedwait(&j.cond, &j.lock, &ts);
	}
	pthread_mutex_unlock(&j.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (r.progress_shown)
		draw_progress(&j, o->what, true);

	sigaction(SIGBUS, &old_sigbus, NULL);
	pthread_mutex_unlock(&prealloc_lock);

	pthread_cond_destroy(&j.cond);
	pthread_mutex_destroy(&j.lock);

	ret = atomic_load(&j.err);
	r.threads = started;
	r.touched = atomic_load(&j.touched);
	r.elapsed_ns = clock_ns() - t0;
	r.fail_offset = ret ? atomic_load(&j.fail_offset) : 0;
	if (res)
		*res = r;
	return ret;
}
