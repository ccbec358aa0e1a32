/* Monitor sockets: QMP (QEMU's JSON protocol, vmm/monitor/qmp.h) and the
 * human monitor (vmm/monitor/hmp.h) on UNIX sockets or stdio. Everything
 * runs on the event loop thread; only monitor_balloon_changed() may be
 * called from other threads.
 *
 * Sockets are created 0600. A socket file left by a dead process is
 * replaced; one with a live listener is refused. Up to MONITOR_MAX_CLIENTS
 * clients at once, each with its own QMP negotiation state. Client sockets
 * are non-blocking: a client that stops reading is dropped once
 * MONITOR_MAX_OUTPUT bytes of replies and events wait for it, and a QMP
 * message over MONITOR_MAX_MESSAGE bytes (QEMU takes several MiB) or an HMP
 * line over MONITOR_MAX_LINE gets an error and the connection is closed:
 * the error is sent, the write side shut down, and input read and dropped
 * for a while, so a client still writing reads the error rather than a
 * broken pipe. Buffers grow with what a client sends. */
#ifndef MEMVM_MONITOR_H
#define MEMVM_MONITOR_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"
#include "vmm/monitor/backend.h"

struct autopilot;
struct autopilot_event;
struct balloon;
struct chardev_spec;
struct evloop;
struct monitor;
struct ram;

#define MONITOR_MAX_CLIENTS 64
#define MONITOR_MAX_MESSAGE (16 * 1024 * 1024)
#define MONITOR_MAX_LINE    (64 * 1024)
/* One reply may echo a whole message (an error naming a huge argument). */
#define MONITOR_MAX_OUTPUT (MONITOR_MAX_MESSAGE + 1024 * 1024)
/* QEMU throttles BALLOON_CHANGE to one event a second, sending the latest
 * value at the end of the window; memvm's X_HOST_MEMORY_PRESSURE,
 * X_GUEST_MEMORY_PRESSURE and X_HUGEPAGE_POOL_LOW are throttled alike. */
#define MONITOR_EVENT_THROTTLE_MS          1000
#define MONITOR_BALLOON_CHANGE_THROTTLE_MS MONITOR_EVENT_THROTTLE_MS

enum monitor_proto { MONITOR_QMP, MONITOR_HMP };

/* Every command table beyond QMP's core, for qmp_ctx.extra: QOM, the
 * queries, HMP's human-monitor-command. */
struct qmp_command;
extern const struct qmp_command *const monitor_qmp_tables[];

/* loop may be NULL (fuzzing): then nothing is served and events are not
 * throttled. */
int monitor_new(const struct monitor_backend *be, struct evloop *loop, struct monitor **out) WUR;
/* Flushes what it can without blocking, closes every client, removes the
 * socket files this monitor created. NULL is a no-op. Nothing may call
 * monitor_balloon_changed() on it any more (stop or detach the balloon's
 * callback first). */
void monitor_free(struct monitor *mon);

/* The devices commands act on, once they exist (NULL: none again); the
 * backend's balloon and ram until then. Loop thread; NULL mon is a no-op. */
/* -runas: hands the socket files to the user memvm becomes, so it can
 * still remove them at exit. 0 or -errno. */
int monitor_chown_sockets(struct monitor *mon, uid_t uid, gid_t gid) WUR;

void monitor_set_balloon(struct monitor *mon, struct balloon *balloon);
void monitor_set_ram(struct monitor *mon, struct ram *ram);
void monitor_set_autopilot(struct monitor *mon, struct autopilot *ap);

/* -qmp / -monitor: listens on spec->path (or serves stdin/stdout when
 * spec->stdio). 0 or -errno with one line in err (no "memvm: " prefix). */
int monitor_add_qmp(struct monitor *mon, const struct chardev_spec *spec, char *err,
		    size_t errlen) WUR;
int monitor_add_hmp(struct monitor *mon, const struct chardev_spec *spec, char *err,
		    size_t errlen) WUR;
/* Serves one client on already-open descriptors (stdio, tests). With
 * `owned` the monitor closes them when the client goes. 0 or -errno. */
int monitor_attach_fd(struct monitor *mon, enum monitor_proto proto, int in_fd, int out_fd,
		      bool owned) WUR;
/* Connected clients (tests). */
unsigned monitor_client_count(const struct monitor *mon);

/* SHUTDOWN / RESET for causes the monitor did not start itself (it sends
 * host-qmp-quit and host-qmp-system-reset on its own). Loop thread; NULL
 * mon is a no-op. */
void monitor_event_shutdown(struct monitor *mon, bool guest, enum shutdown_cause cause);
void monitor_event_reset(struct monitor *mon, bool guest, enum shutdown_cause cause);
/* The guest changed the balloon's actual size: BALLOON_CHANGE with
 * {"actual": guest_bytes}, throttled. It has the type of struct
 * balloon_config's on_actual_change, so it can be that callback with the
 * monitor as its opaque. Any thread (hands over to the loop through an
 * eventfd); a NULL monitor is a no-op. */
void monitor_balloon_changed(void *monitor, uint64_t guest_bytes);
/* The memory autopilot's events (struct autopilot_config's on_event, the
 * monitor its opaque): X_BALLOON_AUTOPILOT, X_HOST_MEMORY_PRESSURE,
 * X_GUEST_MEMORY_PRESSURE, X_BALLOON_STALLED, X_HUGEPAGE_POOL_LOW. Loop
 * thread; a NULL monitor is a no-op. */
void monitor_autopilot_event(void *monitor, const struct autopilot_event *ev);
/* Throttle interval of a throttled event (BALLOON_CHANGE and the pressure
 * events); 0 disables throttling. -ENOENT for events that are not
 * throttled. */
int monitor_set_event_throttle(struct monitor *mon, const char *event, uint32_t ms) WUR;

#endif
