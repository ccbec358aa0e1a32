#include "vmm/lib/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVLOOP_MAX_WATCHES 256

struct watch {
	int fd;
	evloop_fn fn;
	void *opaque;
	uint64_t gen; /* bumped on removal so stale events are ignored */
	bool used;
};

struct evloop {
	int epfd;
	int stopfd;
	volatile int stopping;
	struct watch w[EVLOOP_MAX_WATCHES];
	pthread_mutex_t lock;
};

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->stopfd < 0)
		goto err;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stopfd, &ev) < 0)
		goto err;
	pthread_mutex_init(&loop->lock, NULL);
	return loop;
err:
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->stopfd >= 0)
		close(loop->stopfd);
	free(loop);
	return NULL;
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	close(loop->stopfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	int ret = -ENOSPC;
	pthread_mutex_lock(&loop->lock);
	for (size_t i = 0; i < EVLOOP_MAX_WATCHES; i++) {
		if (loop->w[i].used)
			continue;
		struct epoll_event ev = { .events = events, .data.u64 = i };
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			ret = -errno;
			break;
		}
		loop->w[i] = (struct watch){
			.fd = fd, .fn = fn, .opaque = opaque, .gen = loop->w[i].gen, .used = true
		};
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_del(struct evloop *loop, int fd)
{
	int ret = -ENOENT;
	pthread_mutex_lock(&loop->lock);
	for (size_t i = 0; i < EVLOOP_MAX_WATCHES; i++) {
		if (loop->w[i].used && loop->w[i].fd == fd) {
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
			loop->w[i].used = false;
			loop->w[i].gen++;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	uint64_t gens[32];
	int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;

	pthread_mutex_lock(&loop->lock);
	for (int i = 0; i < n; i++) {
		uint64_t idx = evs[i].data.u64;
		gens[i] = idx < EVLOOP_MAX_WATCHES ? loop->w[idx].gen : 0;
	}
	pthread_mutex_unlock(&loop->lock);

	for (int i = 0; i < n; i++) {
		uint64_t idx = evs[i].data.u64;
		if (idx == UINT64_MAX) {
			uint64_t v;
			if (read(loop->stopfd, &v, sizeof(v)) < 0) { /* already drained */
			}
			loop->stopping = 1;
			continue;
		}
		pthread_mutex_lock(&loop->lock);
		struct watch w = loop->w[idx];
		pthread_mutex_unlock(&loop->lock);
		/* Skip events for a watch removed by an earlier callback. */
		if (!w.used || w.gen != gens[i])
			continue;
		w.fn(w.opaque, evs[i].events);
	}
	return 0;
}

int evloop_run(struct evloop *loop)
{
	while (!loop->stopping) {
		int ret = evloop_run_once(loop, -1);
		if (ret < 0)
			return ret;
	}
	loop->stopping = 0;
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;
	if (write(loop->stopfd, &one, sizeof(one)) < 0) {
		/* counter saturated: a stop is already pending */
	}
}
