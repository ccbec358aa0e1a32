#include "vmm/board/conout.h"
#include "vmm/sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CONOUT_PIPE_SIZE (1 << 20)
/* Interrupts the thread's blocked write when it must stop (no
 * pthread_cancel: unwinding a thread confuses ASan, and is not needed). */
#define CONOUT_SIGNAL SIGUSR2

struct conout {
	int out_fd;
	int rd, wr;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	bool stop; /* atomic: give up on the output */
};

static void conout_wake(int sig)
{
	(void)sig;
}

/* write() of all of buf; false once the output is gone or stop is set. */
static bool conout_write(struct conout *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(c->out_fd, buf, len);
		if (n < 0 && errno == EINTR) {
			if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE))
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static void *conout_thread(void *arg)
{
	struct conout *c = arg;
	char buf[4096];
	bool gone = false;
	sigset_t set;

	sandbox_set_thread_name("console output");
	sigemptyset(&set);
	sigaddset(&set, CONOUT_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = read(c->rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF: the UART is done */
		/* An output that is gone (EPIPE) is drained and discarded, so
		 * the pipe never fills for that reason. */
		if (!gone && !conout_write(c, buf, (size_t)n))
			gone = true;
	}
	pthread_mutex_lock(&c->lock);
	c->done = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int conout_open(int out_fd, struct conout **out)
{
	int p[2], ret;
	struct sigaction sa = { .sa_handler = conout_wake };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the blocked write must return EINTR. */
	if (sigaction(CONOUT_SIGNAL, &sa, NULL) < 0)
		return -errno;
	struct conout *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->out_fd = out_fd;
	c->rd = c->wr = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pipe2(p, O_CLOEXEC) < 0) {
		ret = -errno;
		goto err;
	}
	c->rd = p[0];
	c->wr = p[1];
	/* Deep enough for a burst; failing to grow it only makes drops come
	 * sooner. */
	(void)fcntl(c->wr, F_SETPIPE_SZ, CONOUT_PIPE_SIZE);
	if (fcntl(c->wr, F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		goto err;
	}
	if ((ret = -pthread_create(&c->thread, NULL, conout_thread, c)))
		goto err;
	c->started = true;
	*out = c;
	return 0;
err:
	conout_close(c, 0);
	return ret;
}

int conout_fd(const struct conout *c)
{
	return c->wr;
}

void conout_close(struct conout *c, int timeout_ms)
{
	if (!c)
		return;
	if (c->wr >= 0)
		close(c->wr);
	if (c->started) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&c->lock);
		while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
			;
		/* A reader that never reads: stop, and interrupt the blocked
		 * write until the thread notices (a signal can land just before
		 * the write blocks, so repeat). */
		__atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
		while (!c->done) {
			pthread_kill(c->thread, CONOUT_SIGNAL);
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 20 * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->cond, &c->lock, &until);
		}
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	if (c->rd >= 0)
		close(c->rd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
