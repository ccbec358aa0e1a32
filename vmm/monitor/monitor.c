/* Monitor sockets and client connections on the event loop; the QMP and
 * HMP sides meet here (HMP's human-monitor-command joins QMP's table). */
#include "vmm/monitor/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "balloon/autopilot.h"
#include "balloon/balloon.h"
#include "vmm/config/config.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/sigbus.h"
#include "vmm/monitor/autopilot_qmp.h"
#include "vmm/monitor/hmp.h"
#include "vmm/monitor/qmp.h"
#include "vmm/monitor/qom.h"
#include "vmm/monitor/query.h"

#define MAX_LISTENERS      4
#define READ_CHUNK         16384
#define READS_PER_WAKEUP   4 /* bounds one client's share of a loop turn */
#define ACCEPTS_PER_WAKEUP 16

struct listener {
	struct monitor *mon;
	enum monitor_proto proto;
	int fd;
	bool watched;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
};

struct client {
	struct monitor *mon;
	enum monitor_proto proto;
	int in_fd, out_fd;
	bool owned;     /* close the fds when the client goes */
	bool is_socket; /* out_fd: non-blocking buffered output; else blocking writes */
	bool in_socket; /* in_fd: recv(MSG_DONTWAIT); else one read() per wake-up */
	bool watched;
	uint32_t events; /* what the loop watches in_fd for */
	bool dead;       /* reaped at the end of the current callback */
	bool closing;    /* flush what is queued, then close */
	bool lingering;  /* closing: shut the write side, drop input until EOF */
	bool shut;       /* lingering: the write side is shut down */
	size_t dropped;  /* lingering: input read and dropped */
	struct qmp_session qmp;
	struct qmp_framer *framer;
	char *line; /* HMP: the line being read */
	size_t line_len;
	bool after_cr; /* HMP: the last byte ended a line with CR */
	char *out;     /* queued output: [out_off, out_len) */
	size_t out_off, out_len, out_cap;
};

struct monitor {
	struct monitor_backend be; /* the caller's, copied; ctx.be points here */
	struct evloop *loop;
	struct qmp_ctx ctx;
	struct listener listeners[MAX_LISTENERS];
	unsigned nlisteners;
	struct client *clients[MONITOR_MAX_CLIENTS];

	/* BALLOON_CHANGE hand-over from other threads. */
	pthread_mutex_t lock;
	int efd;
	bool bc_pending;
	uint64_t bc_bytes;
	uint64_t reached;     /* the target X_BALLOON_TARGET_REACHED last named */
	uint64_t prev_actual; /* the guest's size before the latest change */
	bool oom_deflating;   /* X_BALLOON_OOM_DEFLATE sent, not over yet */

	/* Throttled events (QEMU's monitor_qapi_event_queue), one window each. */
	struct throttle {
		struct monitor *mon;
		const char *name;
		int tfd;
		uint32_t ms;
		bool throttling;
		char *line;
	} throttles[4];
};

/* QEMU throttles BALLOON_CHANGE; memvm's pressure events alike. */
static const char *const throttled_events[] = {
	"BALLOON_CHANGE",
	"X_HOST_MEMORY_PRESSURE",
	"X_GUEST_MEMORY_PRESSURE",
	"X_HUGEPAGE_POOL_LOW",
};
static const char *const throttled_event = "BALLOON_CHANGE";

const struct qmp_command *const monitor_qmp_tables[] = {
	qom_commands, query_commands, autopilot_commands, hmp_qmp_commands, NULL,
};

/* ---- output ----------------------------------------------------------- */

static size_t queued(const struct client *c)
{
	return c->out_len - c->out_off;
}

static void client_kill(struct client *c, const char *why)
{
	if (!c->dead && why)
		log_debug("monitor: dropping a client: %s", why);
	c->dead = true;
}

/* Writes what the socket takes now. */
static void client_flush(struct client *c)
{
	while (queued(c) && !c->dead) {
		ssize_t n = send(c->out_fd, c->out + c->out_off, queued(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_kill(c, strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	if (!queued(c))
		c->out_off = c->out_len = 0;
}

static void client_send(struct client *c, const char *data, size_t len)
{
	if (c->dead || !len)
		return;
	if (!c->is_socket) {
		if (write_full(c->out_fd, data, len))
			client_kill(c, "write failed");
		return;
	}
	if (!queued(c)) {
		ssize_t n;
		do {
			n = send(c->out_fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			client_kill(c, strerror(errno));
			return;
		}
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		if (!len)
			return;
	}
	/* A client that does not read is dropped rather than buffered for. */
	if (queued(c) + len > MONITOR_MAX_OUTPUT) {
		client_kill(c, "too much unread output");
		return;
	}
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, queued(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = MAX(c->out_cap * 2, c->out_len + len);
		char *p = realloc(c->out, MAX(cap, (size_t)4096));
		if (!p) {
			client_kill(c, "out of memory");
			return;
		}
		c->out = p;
		c->out_cap = MAX(cap, (size_t)4096);
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
}

static void client_send_line(struct client *c, const char *line)
{
	if (!line) {
		client_kill(c, "out of memory");
		return;
	}
	client_send(c, line, strlen(line));
	client_send(c, "\r\n", 2);
}

static void client_send_text(struct client *c, const char *text)
{
	char *crlf = hmp_crlf(text);
	if (!crlf) {
		client_kill(c, "out of memory");
		return;
	}
	client_send(c, crlf, strlen(crlf));
	free(crlf);
}

/* ---- client lifecycle ------------------------------------------------- */

static void on_client(void *opaque, uint32_t events);
static void listeners_resume(struct monitor *mon);

/* Watches for input, and for writability while output is queued. */
static void client_update_watch(struct client *c)
{
	if (c->dead || !c->mon->loop || !c->is_socket)
		return;
	if (c->closing && !queued(c)) {
		if (!c->lingering) {
			c->dead = true;
			return;
		}
		if (!c->shut) {
			shutdown(c->out_fd, SHUT_WR); /* the client reads EOF after the error */
			c->shut = true;
		}
	}
	uint32_t want = (c->closing && !c->lingering ? 0 : EPOLLIN) | (queued(c) ? EPOLLOUT : 0);
	if (c->watched && want == c->events)
		return;
	if (c->watched)
		evloop_del(c->mon->loop, c->in_fd);
	c->watched = false;
	if (evloop_add(c->mon->loop, c->in_fd, want, on_client, c)) {
		client_kill(c, "cannot watch the socket");
		return;
	}
	c->watched = true;
	c->events = want;
}

static void client_free(struct client *c)
{
	struct monitor *mon = c->mon;
	if (c->watched && mon->loop)
		evloop_del(mon->loop, c->in_fd);
	if (c->owned) {
		close(c->in_fd);
		if (c->out_fd != c->in_fd)
			close(c->out_fd);
	}
	qmp_framer_free(c->framer);
	free(c->line);
	free(c->out);
	free(c);
}

static void monitor_reap(struct monitor *mon)
{
	bool freed = false;
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++) {
		if (mon->clients[i] && mon->clients[i]->dead) {
			client_free(mon->clients[i]);
			mon->clients[i] = NULL;
			freed = true;
		}
	}
	if (freed)
		listeners_resume(mon);
}

static int client_new(struct monitor *mon, enum monitor_proto proto, int in_fd, int out_fd,
		      bool owned, struct client **out)
{
	unsigned slot;
	for (slot = 0; slot < MONITOR_MAX_CLIENTS && mon->clients[slot]; slot++) {
	}
	if (slot == MONITOR_MAX_CLIENTS)
		return -EMFILE;
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	struct stat st;
	*c = (struct client){
		.mon = mon,
		.proto = proto,
		.in_fd = in_fd,
		.out_fd = out_fd,
		.owned = owned,
		/* Buffered output is watched on in_fd, so it needs one socket. */
		.is_socket = in_fd == out_fd && !fstat(out_fd, &st) && S_ISSOCK(st.st_mode),
	};
	c->in_socket = !fstat(in_fd, &st) && S_ISSOCK(st.st_mode);
	if (proto == MONITOR_QMP) {
		c->framer = qmp_framer_new(MONITOR_MAX_MESSAGE);
		if (!c->framer) {
			free(c);
			return -ENOMEM;
		}
	} else {
		c->line = malloc(MONITOR_MAX_LINE + 1);
		if (!c->line) {
			free(c);
			return -ENOMEM;
		}
	}
	if (mon->loop) {
		int ret = evloop_add(mon->loop, in_fd, EPOLLIN, on_client, c);
		/* A regular file or /dev/null on stdin: nothing to read. */
		if (ret && !(ret == -EPERM && !c->in_socket)) {
			c->owned = false;
			client_free(c);
			return ret;
		}
		c->watched = ret == 0;
		c->events = EPOLLIN;
	}
	mon->clients[slot] = c;
	*out = c;
	return 0;
}

static void client_greet(struct client *c)
{
	if (c->proto == MONITOR_QMP) {
		char *g = qmp_greeting();
		client_send_line(c, g);
		free(g);
	} else {
		client_send_text(c, HMP_GREETING HMP_PROMPT);
	}
}

int monitor_attach_fd(struct monitor *mon, enum monitor_proto proto, int in_fd, int out_fd,
		      bool owned)
{
	struct client *c;
	int ret = client_new(mon, proto, in_fd, out_fd, owned, &c);
	if (ret)
		return ret;
	client_greet(c);
	client_update_watch(c);
	monitor_reap(mon);
	return 0;
}

unsigned monitor_client_count(const struct monitor *mon)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++)
		n += mon->clients[i] && !mon->clients[i]->dead;
	return n;
}

/* ---- input ------------------------------------------------------------ */

static int on_qmp_message(void *opaque, const char *msg, size_t len)
{
	struct client *c = opaque;
	char *reply = qmp_handle(&c->mon->ctx, &c->qmp, msg, len);
	client_send_line(c, reply);
	free(reply);
	return c->dead ? 1 : 0;
}

static void hmp_line(struct client *c)
{
	c->line[c->line_len] = '\0';
	c->line_len = 0;
	char *out = hmp_run(&c->mon->ctx, c->line);
	if (!out) {
		client_kill(c, "out of memory");
		return;
	}
	client_send_text(c, out);
	free(out);
	client_send_text(c, HMP_PROMPT);
}

/* After an error that ends the connection: a client still writing would
 * get EPIPE and, like socat, never read the error, so its input is read and
 * dropped (up to a bound) until it sees our EOF and closes. */
static void client_linger(struct client *c)
{
	c->closing = true;
	c->lingering = c->is_socket;
}

static void client_drop_input(struct client *c)
{
	char buf[READ_CHUNK];
	for (int i = 0; i < READS_PER_WAKEUP && !c->dead; i++) {
		ssize_t n = recv(c->in_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (c->dropped += (size_t)n) > MONITOR_MAX_MESSAGE) {
			client_kill(c, n <= 0 ? NULL : "kept writing after an error");
			return;
		}
	}
}

static void client_input(struct client *c, const char *buf, size_t n)
{
	if (c->proto == MONITOR_QMP) {
		int ret = qmp_framer_feed(c->framer, buf, n, on_qmp_message, c);
		if (ret == -E2BIG || ret == -ENOMEM) {
			char *e = qmp_error_line(
				"GenericError",
				ret == -E2BIG
					? QMP_TOO_LARGE_DESC
					: "out of memory for a JSON message, closing the connection");
			client_send_line(c, e);
			free(e);
			client_linger(c);
		}
		return;
	}
	/* CR, LF and CR LF all end a line, as in QEMU's readline; on a socket
	 * the printable bytes are echoed as they come, a run at a time. */
	size_t echo_from = 0, echo_len = 0;
	for (size_t i = 0; i < n && !c->dead && !c->closing; i++) {
		bool after_cr = c->after_cr;
		c->after_cr = buf[i] == '\r';
		bool eol = buf[i] == '\n' || buf[i] == '\r';
		if (echo_len && (eol || echo_from + echo_len != i)) {
			client_send(c, buf + echo_from, echo_len);
			echo_len = 0;
		}
		if (buf[i] == '\n' && after_cr)
			continue;
		if (eol) {
			if (c->is_socket)
				client_send(c, "\r\n", 2);
			hmp_line(c);
		} else if (c->line_len == MONITOR_MAX_LINE) {
			client_send_text(c,
					 "line too long (limit 64 KiB), closing the connection\n");
			client_linger(c);
		} else if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			/* readline's editing keys: ignored, neither kept nor echoed */
		} else {
			c->line[c->line_len++] = buf[i];
			if (c->is_socket && (unsigned char)buf[i] < 0x80) {
				if (!echo_len)
					echo_from = i;
				echo_len++;
			}
		}
	}
	client_send(c, buf + echo_from, echo_len);
}

static void client_read(struct client *c)
{
	char buf[READ_CHUNK];
	for (int i = 0; i < READS_PER_WAKEUP && !c->dead && !c->closing; i++) {
		ssize_t n = c->in_socket ? recv(c->in_fd, buf, sizeof(buf), MSG_DONTWAIT)
					 : read(c->in_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_kill(c, strerror(errno));
			return;
		}
		if (n == 0) {
			/* Replies to what was sent still go out, then we close. */
			c->closing = true;
			if (!c->is_socket || !queued(c))
				c->dead = true;
			return;
		}
		client_input(c, buf, (size_t)n);
		/* A blocking descriptor is only known readable once. */
		if (!c->in_socket)
			return;
	}
}

static void on_client(void *opaque, uint32_t events)
{
	struct client *c = opaque;
	struct monitor *mon = c->mon;
	if (events & EPOLLOUT)
		client_flush(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (!c->closing)
			client_read(c);
		else if (c->lingering)
			client_drop_input(c);
		else if (events & (EPOLLHUP | EPOLLERR))
			client_kill(c, "hung up");
	}
	client_update_watch(c);
	monitor_reap(mon);
}

/* ---- listening sockets ------------------------------------------------ */

static void on_accept(void *opaque, uint32_t events)
{
	struct listener *l = opaque;
	struct monitor *mon = l->mon;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Out of descriptors: stop accepting until a client
				 * goes, instead of spinning on a pending connection. */
				static struct ratelimit rl = RATELIMIT_INIT(5000, 1);
				if (ratelimit_ok(&rl))
					log_warn("monitor %s: accept: %s", l->path,
						 strerror(errno));
				evloop_del(mon->loop, l->fd);
				l->watched = false;
			}
			break;
		}
		struct client *c;
		if (client_new(mon, l->proto, fd, fd, true, &c)) {
			close(fd); /* too many clients */
			continue;
		}
		client_greet(c);
		client_update_watch(c);
	}
	monitor_reap(mon);
}

static void listeners_resume(struct monitor *mon)
{
	for (unsigned i = 0; i < mon->nlisteners; i++) {
		struct listener *l = &mon->listeners[i];
		if (!l->watched && l->fd >= 0 && mon->loop &&
		    !evloop_add(mon->loop, l->fd, EPOLLIN, on_accept, l))
			l->watched = true;
	}
}

/* Is something listening on path? 1 yes, 0 no (stale), -errno unknown. */
static int socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(fd);
	if (ret == 0 || e == EAGAIN || e == EINPROGRESS)
		return 1; /* EAGAIN: a full backlog is still a live listener */
	if (e == ECONNREFUSED || e == ENOENT)
		return 0;
	return -e;
}

static int listen_unix(struct listener *l, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int ret, fd = -1;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path empty or too long (at most %zu bytes)",
			 path ? path : "", sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket; not replacing it",
				 path);
			return -EEXIST;
		}
		ret = socket_alive(&sa);
		if (ret > 0) {
			snprintf(err, errlen,
				 "%s is in use by a running process (another memvm?); "
				 "stop it or choose another path",
				 path);
			return -EADDRINUSE;
		}
		if (ret < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			return ret;
		}
		/* Left behind by a process that died: replace it. */
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "cannot remove stale socket %s: %s", path,
				 strerror(errno));
			return ret;
		}
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return ret;
	}
	/* 0600 from the start: the socket inode's mode and the umask both
	 * shape the file bind() creates; no window where others could
	 * connect. */
	if (fchmod(fd, 0600)) {
		/* not fatal: the umask below still applies */
	}
	mode_t old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (ret) {
		snprintf(err, errlen, "cannot create socket %s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (stat(path, &st) || listen(fd, 16)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return ret;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	memcpy(l->path, path, strlen(path) + 1);
	sigbus_guard_add_path(l->path);
	return 0;
}

static int monitor_add(struct monitor *mon, enum monitor_proto proto,
		       const struct chardev_spec *spec, char *err, size_t errlen)
{
	const char *what = proto == MONITOR_QMP ? "-qmp" : "-monitor";
	int ret;

	if (spec->stdio) {
		ret = monitor_attach_fd(mon, proto, STDIN_FILENO, STDOUT_FILENO, false);
		if (ret)
			snprintf(err, errlen, "%s stdio: %s", what, strerror(-ret));
		return ret;
	}
	if (mon->nlisteners == MAX_LISTENERS) {
		snprintf(err, errlen, "%s: too many monitor sockets", what);
		return -ENOSPC;
	}
	struct listener *l = &mon->listeners[mon->nlisteners];
	*l = (struct listener){ .mon = mon, .proto = proto, .fd = -1 };
	char msg[256];
	ret = listen_unix(l, spec->path, msg, sizeof(msg));
	if (ret) {
		snprintf(err, errlen, "%s: %s", what, msg);
		return ret;
	}
	if (mon->loop) {
		ret = evloop_add(mon->loop, l->fd, EPOLLIN, on_accept, l);
		if (ret) {
			snprintf(err, errlen, "%s: cannot watch %s: %s", what, l->path,
				 strerror(-ret));
			sigbus_guard_remove_path(l->path);
			unlink(l->path);
			close(l->fd);
			return ret;
		}
		l->watched = true;
	}
	mon->nlisteners++;
	return 0;
}

int monitor_add_qmp(struct monitor *mon, const struct chardev_spec *spec, char *err, size_t errlen)
{
	return monitor_add(mon, MONITOR_QMP, spec, err, errlen);
}

int monitor_add_hmp(struct monitor *mon, const struct chardev_spec *spec, char *err, size_t errlen)
{
	return monitor_add(mon, MONITOR_HMP, spec, err, errlen);
}

/* ---- events ----------------------------------------------------------- */

static void broadcast_now(struct monitor *mon, const char *line)
{
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++) {
		struct client *c = mon->clients[i];
		if (c && c->proto == MONITOR_QMP && c->qmp.negotiated && !c->dead) {
			client_send_line(c, line);
			client_update_watch(c);
		}
	}
}

static void arm_throttle(struct throttle *t)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = t->ms / 1000, .tv_nsec = (long)(t->ms % 1000) * 1000000 },
	};
	if (timerfd_settime(t->tfd, 0, &its, NULL))
		t->throttling = false;
}

static struct throttle *throttle_of(struct monitor *mon, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(mon->throttles); i++)
		if (!strcmp(mon->throttles[i].name, name))
			return &mon->throttles[i];
	return NULL;
}

/* QEMU's rule: the first event goes out at once and opens a window; the
 * last one queued during the window goes out when it closes (and opens
 * another). */
static void on_event(void *opaque, const char *name, const char *line)
{
	struct monitor *mon = opaque;
	struct throttle *t = throttle_of(mon, name);
	if (!t || !t->ms || t->tfd < 0) {
		broadcast_now(mon, line);
		return;
	}
	if (!t->throttling) {
		broadcast_now(mon, line);
		t->throttling = true;
		arm_throttle(t);
		return;
	}
	char *copy = strdup(line);
	if (copy) {
		free(t->line);
		t->line = copy;
	}
}

static void on_throttle_timer(void *opaque, uint32_t events)
{
	struct throttle *t = opaque;
	uint64_t n;
	(void)events;
	if (read(t->tfd, &n, sizeof(n)) != sizeof(n))
		return;
	if (t->line) {
		broadcast_now(t->mon, t->line);
		free(t->line);
		t->line = NULL;
		arm_throttle(t);
	} else {
		t->throttling = false;
	}
	monitor_reap(t->mon);
}

/* memvm's own balloon events (unthrottled): X_BALLOON_TARGET_REACHED once
 * per target, what a controller waits for instead of polling
 * query-balloon; X_BALLOON_OOM_DEFLATE when the guest takes memory back by
 * itself. */
static void balloon_target_check(struct monitor *mon, uint64_t actual)
{
	if (!mon->be.balloon)
		return;
	struct balloon_info i;
	balloon_query(mon->be.balloon, &i);
	uint64_t target = i.target_bytes;
	/* The guest grew past its target by itself: deflate-on-oom at work
	 * (once per episode, until it is back within the target). */
	bool oom = actual > target && actual > mon->prev_actual;
	mon->prev_actual = actual;
	if (oom && !mon->oom_deflating) {
		json_t *d = json_pack("{s:I,s:I}", "target", (json_int_t)target, "actual",
				      (json_int_t)actual);
		if (d)
			qmp_emit(&mon->ctx, "X_BALLOON_OOM_DEFLATE", d);
		json_decref(d);
	}
	mon->oom_deflating = actual > target && (oom || mon->oom_deflating);
	if (actual != target) {
		mon->reached = UINT64_MAX;
		return;
	}
	if (mon->reached == target)
		return;
	mon->reached = target;
	json_t *data = json_pack("{s:I,s:I}", "target", (json_int_t)target, "actual",
				 (json_int_t)actual);
	if (data)
		qmp_emit(&mon->ctx, "X_BALLOON_TARGET_REACHED", data);
	json_decref(data);
}

static void on_balloon_efd(void *opaque, uint32_t events)
{
	struct monitor *mon = opaque;
	uint64_t n;
	(void)events;
	if (read(mon->efd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&mon->lock);
	bool pending = mon->bc_pending;
	uint64_t bytes = mon->bc_bytes;
	mon->bc_pending = false;
	pthread_mutex_unlock(&mon->lock);
	if (pending) {
		json_t *data = json_pack("{s:I}", "actual", (json_int_t)bytes);
		if (data)
			qmp_emit(&mon->ctx, throttled_event, data);
		json_decref(data);
		balloon_target_check(mon, bytes);
	}
	monitor_reap(mon);
}

void monitor_balloon_changed(void *monitor, uint64_t guest_bytes)
{
	struct monitor *mon = monitor;
	if (!mon || mon->efd < 0)
		return;
	pthread_mutex_lock(&mon->lock);
	mon->bc_bytes = guest_bytes;
	mon->bc_pending = true;
	pthread_mutex_unlock(&mon->lock);
	uint64_t one = 1;
	if (write(mon->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: a wake-up is already pending */
	}
}

int monitor_set_event_throttle(struct monitor *mon, const char *event, uint32_t ms)
{
	struct throttle *t = throttle_of(mon, event);
	if (!t)
		return -ENOENT;
	t->ms = ms;
	return 0;
}

/* The autopilot's events, in memvm's x- namespace (QEMU has none). */
void monitor_autopilot_event(void *monitor, const struct autopilot_event *ev)
{
	struct monitor *mon = monitor;
	json_t *d = NULL;
	const char *name = NULL;
	if (!mon)
		return;
	switch (ev->kind) {
	case AUTOPILOT_EV_ACTION:
		name = "X_BALLOON_AUTOPILOT";
		d = json_pack("{s:s,s:s,s:I,s:I}", "action",
			      ev->cause ? ev->cause : autopilot_action_name(ev->action), "reason",
			      ev->cause ? "none" : autopilot_reason_name(ev->why), "target",
			      (json_int_t)ev->target, "actual", (json_int_t)ev->actual);
		break;
	case AUTOPILOT_EV_HOST_PRESSURE:
		name = "X_HOST_MEMORY_PRESSURE";
		d = json_pack("{s:s,s:s,s:I,s:I,s:i}", "level", autopilot_level_name(ev->level),
			      "source", ev->source ? ev->source : "none", "usage",
			      (json_int_t)ev->usage, "limit", (json_int_t)ev->limit,
			      "stall-permille", (int)ev->stall_permille);
		break;
	case AUTOPILOT_EV_GUEST_PRESSURE:
		name = "X_GUEST_MEMORY_PRESSURE";
		d = json_pack("{s:s,s:s,s:I}", "level", autopilot_level_name(ev->level), "cause",
			      ev->cause ? ev->cause : "none", "available",
			      (json_int_t)ev->available);
		break;
	case AUTOPILOT_EV_STALLED:
		name = "X_BALLOON_STALLED";
		d = json_pack("{s:I,s:I,s:I}", "target", (json_int_t)ev->target, "actual",
			      (json_int_t)ev->actual, "waited-ms", (json_int_t)ev->waited_ms);
		break;
	case AUTOPILOT_EV_HUGE_POOL:
		name = "X_HUGEPAGE_POOL_LOW";
		d = json_pack("{s:b,s:I,s:I,s:I}", "low", ev->low, "page-size",
			      (json_int_t)ev->page_size, "free", (json_int_t)ev->free_pages,
			      "needed", (json_int_t)ev->needed_pages);
		break;
	}
	if (d)
		qmp_emit(&mon->ctx, name, d);
	json_decref(d);
	monitor_reap(mon);
}

static void emit_cause(struct monitor *mon, const char *event, bool guest,
		       enum shutdown_cause cause)
{
	if (!mon)
		return;
	qmp_emit_cause(&mon->ctx, event, guest, cause);
	monitor_reap(mon);
}

void monitor_event_shutdown(struct monitor *mon, bool guest, enum shutdown_cause cause)
{
	emit_cause(mon, "SHUTDOWN", guest, cause);
}

void monitor_event_reset(struct monitor *mon, bool guest, enum shutdown_cause cause)
{
	emit_cause(mon, "RESET", guest, cause);
}

/* ---- set-up and teardown ---------------------------------------------- */

int monitor_new(const struct monitor_backend *be, struct evloop *loop, struct monitor **out)
{
	int ret;
	struct monitor *mon = calloc(1, sizeof(*mon));
	if (!mon)
		return -ENOMEM;
	mon->be = *be;
	mon->loop = loop;
	mon->ctx = (struct qmp_ctx){
		.be = &mon->be,
		.event = on_event,
		.opaque = mon,
		.extra = monitor_qmp_tables,
	};
	mon->efd = -1;
	mon->reached = be->ram_size; /* a full balloon at start is no news */
	mon->prev_actual = be->ram_size;
	size_t nt = 0;
	for (; nt < ARRAY_SIZE(mon->throttles); nt++)
		mon->throttles[nt] = (struct throttle){ .mon = mon,
							.name = throttled_events[nt],
							.tfd = -1,
							.ms = MONITOR_EVENT_THROTTLE_MS };
	pthread_mutex_init(&mon->lock, NULL);
	if (loop) {
		mon->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (mon->efd < 0) {
			ret = -errno;
			goto err;
		}
		ret = evloop_add(loop, mon->efd, EPOLLIN, on_balloon_efd, mon);
		if (ret)
			goto err;
		for (nt = 0; nt < ARRAY_SIZE(mon->throttles); nt++) {
			struct throttle *t = &mon->throttles[nt];
			t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
			if (t->tfd < 0) {
				ret = -errno;
				goto err_del;
			}
			if ((ret = evloop_add(loop, t->tfd, EPOLLIN, on_throttle_timer, t))) {
				close(t->tfd);
				t->tfd = -1;
				goto err_del;
			}
		}
	}
	*out = mon;
	return 0;
err_del:
	while (nt-- > 0) {
		evloop_del(loop, mon->throttles[nt].tfd);
		close(mon->throttles[nt].tfd);
	}
	evloop_del(loop, mon->efd);
err:
	if (mon->efd >= 0)
		close(mon->efd);
	pthread_mutex_destroy(&mon->lock);
	free(mon);
	return ret;
}

int monitor_chown_sockets(struct monitor *mon, uid_t uid, gid_t gid)
{
	for (unsigned i = 0; mon && i < mon->nlisteners; i++)
		if (chown(mon->listeners[i].path, uid, gid))
			return -errno;
	return 0;
}

void monitor_set_balloon(struct monitor *mon, struct balloon *balloon)
{
	if (mon)
		mon->be.balloon = balloon;
}

void monitor_set_ram(struct monitor *mon, struct ram *ram)
{
	if (mon)
		mon->be.ram = ram;
}

void monitor_set_autopilot(struct monitor *mon, struct autopilot *ap)
{
	if (mon)
		mon->be.autopilot = ap;
}

void monitor_free(struct monitor *mon)
{
	if (!mon)
		return;
	for (unsigned i = 0; i < MONITOR_MAX_CLIENTS; i++) {
		struct client *c = mon->clients[i];
		if (!c)
			continue;
		if (c->is_socket && !c->dead)
			client_flush(c); /* e.g. the reply to quit */
		client_free(c);
		mon->clients[i] = NULL;
	}
	for (unsigned i = 0; i < mon->nlisteners; i++) {
		struct listener *l = &mon->listeners[i];
		struct stat st;
		if (l->watched && mon->loop)
			evloop_del(mon->loop, l->fd);
		close(l->fd);
		sigbus_guard_remove_path(l->path);
		/* Only our own file: a newer process may have replaced it. */
		if (!lstat(l->path, &st) && st.st_dev == l->dev && st.st_ino == l->ino)
			unlink(l->path);
	}
	if (mon->loop)
		evloop_del(mon->loop, mon->efd);
	if (mon->efd >= 0)
		close(mon->efd);
	for (size_t i = 0; i < ARRAY_SIZE(mon->throttles); i++) {
		struct throttle *t = &mon->throttles[i];
		if (t->tfd >= 0) {
			if (mon->loop)
				evloop_del(mon->loop, t->tfd);
			close(t->tfd);
		}
		free(t->line);
	}
	pthread_mutex_destroy(&mon->lock);
	free(mon);
}
