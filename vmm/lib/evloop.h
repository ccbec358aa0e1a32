/* One epoll-based event loop, run by the main thread: devices (virtio
 * queue notifications, timers), the serial console input and the monitor
 * register their file descriptors here. */
#ifndef MEMVM_EVLOOP_H
#define MEMVM_EVLOOP_H

#include <stdint.h>

#include "vmm/lib/util.h"

struct evloop;

/* Called on the loop thread with the epoll event mask (EPOLLIN, ...). */
typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop *evloop_new(void) WUR;
void evloop_free(struct evloop *loop);

/* Watches fd for `events` (EPOLLIN etc.). One registration per fd. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque) WUR;
/* Stops watching fd; safe from inside a callback (pending events for it
 * in the current batch are dropped). */
int evloop_del(struct evloop *loop, int fd);

/* Runs callbacks until evloop_stop(); returns 0 or -errno. */
int evloop_run(struct evloop *loop) WUR;
/* Runs one batch, waiting at most timeout_ms (-1: forever): 0 or -errno. */
int evloop_run_once(struct evloop *loop, int timeout_ms) WUR;
/* Makes evloop_run() return; async-signal-safe and callable from any thread. */
void evloop_stop(struct evloop *loop);

#endif
