/* memvm-ctl: a small QMP client for memvm's monitor socket. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmm/lib/size.h"
#include "vmm/lib/util.h"
#include "vmm/sandbox/sandbox.h"

#define MAX_LINE  (4 << 20)
#define BAR_WIDTH 30

struct conn {
	int fd;
	const char *path;
	int timeout_ms;
	char *buf;
	size_t len;
	bool closed; /* memvm closed the connection */
};

static void die(const char *fmt, ...) PRINTF(1, 2) __attribute__((noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("memvm-ctl: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f)
{
	fputs("usage: memvm-ctl [-s SOCKET] [-t SECONDS] COMMAND [ARGS]\n"
	      "Talks QMP to memvm's -qmp unix:SOCKET,server=on,wait=off socket.\n"
	      "\n"
	      "  status                  run state (running or paused)\n"
	      "  stop | cont             pause or resume the vCPUs\n"
	      "  system_reset            reset the machine\n"
	      "  system_powerdown        ask the guest to power off (Ctrl-Alt-Del)\n"
	      "  quit                    stop memvm\n"
	      "  balloon SIZE [--wait[=S]] set the guest's target size (MiB unless K/M/G/T\n"
	      "                          given); --wait: until the guest reaches it, or fail\n"
	      "                          once it has not moved for S seconds (default 10)\n"
	      "  info balloon            the guest's current size, as QEMU's monitor prints it\n"
	      "  stats                   guest memory statistics (from the balloon driver)\n"
	      "  stats-interval SECONDS  poll guest statistics every SECONDS (0: off)\n"
	      "  memory                  memvm's guest memory summary\n"
	      "  autopilot [on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE]\n"
	      "                          the memory autopilot: turn it on or off, set its\n"
	      "                          limits; then show its state\n"
	      "  hmp COMMAND-LINE        run a human monitor command, print its output\n"
	      "  watch [-n N]            balloon target, actual size and guest RAM resident in\n"
	      "                          host memory, every 0.5 s (N updates; q or EOF quits)\n"
	      "\n"
	      "  -s SOCKET   QMP socket (default: $MEMVM_QMP)\n"
	      "  -t SECONDS  how long to wait for a reply (default 10)\n",
	      f);
}

/* ---- QMP connection ---------------------------------------------------- */

static void conn_open(struct conn *c, const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	*c = (struct conn){ .path = path, .timeout_ms = timeout_s * 1000 };
	c->buf = malloc(MAX_LINE);
	if (!c->buf)
		die("out of memory");
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;
		struct stat st;
		if (e == ENOENT)
			die("cannot connect to %s: no such socket (is memvm running with "
			    "-qmp unix:%s,server=on,wait=off?)",
			    path, path);
		if (!stat(path, &st) && !S_ISSOCK(st.st_mode))
			die("cannot connect to %s: not a socket (give memvm's -qmp socket path)",
			    path);
		if (e == ECONNREFUSED)
			die("cannot connect to %s: connection refused (memvm is not running "
			    "there any more: stale socket)",
			    path);
		die("cannot connect to %s: %s", path, strerror(e));
	}
}

/* jansson's integers are signed: an unsigned one over INT64_MAX (QEMU's
 * never-sent statistic, 2^64-1) becomes -1, "not known", before parsing.
 * Only whole number tokens outside strings; the text shrinks or stays. */
static size_t big_ints_to_minus_one(char *s, size_t n)
{
	size_t w = 0;
	bool in_str = false, esc = false;
	for (size_t r = 0; r < n;) {
		char ch = s[r];
		if (in_str) {
			esc = !esc && ch == '\\';
			in_str = esc || ch != '"';
		} else if (ch == '"') {
			in_str = true;
		} else if (ch >= '0' && ch <= '9' && (r == 0 || !strchr("-.eE+", s[r - 1]))) {
			size_t d = r;
			while (d < n && s[d] >= '0' && s[d] <= '9')
				d++;
			bool frac = d < n && strchr(".eE", s[d]);
			/* 19 digits fit an int64 up to 9223372036854775807. */
			if (!frac &&
			    (d - r > 19 ||
			     (d - r == 19 && strncmp(s + r, "9223372036854775807", 19) > 0))) {
				memcpy(s + w, "-1", 2);
				w += 2;
				r = d;
				continue;
			}
			memmove(s + w, s + r, d - r);
			w += d - r;
			r = d;
			continue;
		}
		s[w++] = s[r++];
	}
	return w;
}

/* Next message from memvm; NULL when the connection closed. With
 * `lenient`, a line that is not JSON yields json_null() and a timeout NULL. */
static json_t *conn_read_any(struct conn *c, int timeout_ms, bool lenient)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf) + 1;
			json_error_t jerr;
			json_t *j = json_loadb(c->buf, big_ints_to_minus_one(c->buf, n), 0, &jerr);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (!j && lenient)
				return json_null();
			if (!j)
				die("%s: bad reply from memvm: %s", c->path, jerr.text);
			return j;
		}
		if (c->len == MAX_LINE)
			die("%s: reply too long", c->path);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && lenient)
			return NULL; /* no greeting in time: the caller says what that means */
		if (r == 0)
			die("%s: no reply from memvm within %d s", c->path, timeout_ms / 1000);
		ssize_t n = read(c->fd, c->buf + c->len, MAX_LINE - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->closed = true;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

static json_t *conn_read(struct conn *c, int timeout_ms)
{
	return conn_read_any(c, timeout_ms, false);
}

static void conn_send(struct conn *c, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		die("out of memory");
	size_t len = strlen(s);
	s[len] = '\n'; /* json_dumps leaves room for the NUL we replace */
	ssize_t n = send(c->fd, s, len + 1, MSG_NOSIGNAL);
	free(s);
	if (n != (ssize_t)(len + 1))
		die("%s: connection to memvm lost", c->path);
}

/* Runs one command; returns the "return" value or exits with memvm's
 * error text. quit may see the connection close instead of a reply. */
static json_t *qmp_call(struct conn *c, const char *cmd, json_t *args)
{
	json_t *msg = json_pack("{s:s}", "execute", cmd);
	if (!msg || (args && json_object_set_new(msg, "arguments", args)))
		die("out of memory");
	conn_send(c, msg);
	json_decref(msg);
	for (;;) {
		json_t *r = conn_read(c, c->timeout_ms);
		if (!r) {
			if (!strcmp(cmd, "quit"))
				return json_object();
			die("%s: memvm closed the connection", c->path);
		}
		json_t *ret = json_object_get(r, "return");
		json_t *err = json_object_get(r, "error");
		if (ret) {
			json_incref(ret);
			json_decref(r);
			return ret;
		}
		if (err) {
			const char *desc = json_string_value(json_object_get(err, "desc"));
			die("%s", desc ? desc : "memvm returned an error");
		}
		json_decref(r); /* an event */
	}
}

static void conn_negotiate(struct conn *c)
{
	json_t *g = conn_read_any(c, c->timeout_ms, true);
	if (!g || !json_object_get(g, "QMP"))
		die("%s: not a QMP socket (no greeting; is it the -monitor one?)", c->path);
	json_decref(g);
	json_decref(qmp_call(c, "qmp_capabilities", NULL));
}

/* ---- commands ---------------------------------------------------------- */

static int64_t jint(json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

static const char *size_str(char *buf, size_t n, int64_t bytes)
{
	if (bytes < 0)
		return "?";
	return size_format(buf, n, (uint64_t)bytes);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* balloon --wait: follows the guest through BALLOON_CHANGE and
 * X_BALLOON_TARGET_REACHED events (no polling) until actual reaches the
 * target; fails once the guest has not moved for stall_s seconds. */
static void balloon_wait(struct conn *c, int stall_s)
{
	char a[32], t[32];
	json_t *mem = qmp_call(c, "x-query-memvm-memory", NULL);
	json_t *bal = json_object_get(mem, "balloon");
	if (!bal)
		die("No balloon device has been activated");
	int64_t target = jint(bal, "target"), actual = jint(bal, "actual");
	bool driver = json_is_true(json_object_get(bal, "driver-ready"));
	json_decref(mem);
	if (!driver && actual != target)
		die("balloon --wait: the guest has no balloon driver running: actual stays %s "
		    "(target %s)",
		    size_str(a, sizeof(a), actual), size_str(t, sizeof(t), target));
	int64_t moved = mono_ms();
	while (actual != target) {
		int64_t left = (int64_t)stall_s * 1000 - (mono_ms() - moved);
		if (left <= 0)
			die("balloon --wait: the guest stopped following: actual %s, target %s, no "
			    "change for %d s",
			    size_str(a, sizeof(a), actual), size_str(t, sizeof(t), target),
			    stall_s);
		json_t *ev = conn_read_any(c, (int)left, true);
		if (!ev && c->closed)
			die("%s: memvm closed the connection while the balloon moved", c->path);
		const char *name = json_string_value(json_object_get(ev, "event"));
		json_t *data = json_object_get(ev, "data");
		if (name && (!strcmp(name, "BALLOON_CHANGE") ||
			     !strcmp(name, "X_BALLOON_TARGET_REACHED"))) {
			int64_t now = jint(data, "actual");
			if (now != actual)
				moved = mono_ms();
			actual = now;
		}
		json_decref(ev);
	}
	printf("balloon: actual=%" PRId64 " (target reached)\n", actual >> 20);
}

static void cmd_stats(struct conn *c)
{
	json_t *mem = qmp_call(c, "x-query-memvm-memory", NULL);
	json_t *bal = json_object_get(mem, "balloon");
	if (!bal)
		die("No balloon device has been activated");
	json_t *args = json_pack("{s:O,s:s}", "path", json_object_get(bal, "qom-path"), "property",
				 "guest-stats");
	json_t *st = qmp_call(c, "qom-get", args);
	json_t *stats = json_object_get(st, "stats");
	const char *key;
	json_t *v;
	json_object_foreach(stats, key, v) {
		json_int_t x = json_integer_value(v);
		if (x < 0)
			printf("%s: n/a\n", key);
		else
			printf("%s: %" PRId64 "\n", key, (int64_t)x);
	}
	int64_t last = jint(st, "last-update");
	if (last)
		printf("last-update: %" PRId64 " (%" PRId64 " s ago)\n", last,
		       (int64_t)time(NULL) - last);
	else
		printf("last-update: never (turn polling on with: memvm-ctl -s %s stats-interval 2)\n",
		       c->path);
	json_decref(st);
	json_decref(mem);
}

static void cmd_stats_interval(struct conn *c, const char *arg)
{
	char *end;
	errno = 0;
	long long v = strtoll(arg, &end, 10);
	if (errno || *end || end == arg || v < 0)
		die("stats-interval: expected seconds, got '%s'", arg);
	json_t *mem = qmp_call(c, "x-query-memvm-memory", NULL);
	json_t *bal = json_object_get(mem, "balloon");
	if (!bal)
		die("No balloon device has been activated");
	json_decref(qmp_call(c, "qom-set",
			     json_pack("{s:O,s:s,s:I}", "path", json_object_get(bal, "qom-path"),
				       "property", "guest-stats-polling-interval", "value",
				       (json_int_t)v)));
	json_decref(mem);
}

static void cmd_hmp(struct conn *c, const char *line)
{
	json_t *r = qmp_call(c, "human-monitor-command", json_pack("{s:s}", "command-line", line));
	const char *text = json_string_value(r);
	/* HMP text comes with QEMU's "\r\n": print plain lines. */
	for (const char *p = text ? text : ""; *p; p++)
		if (*p != '\r')
			putchar(*p);
	/* HMP reports errors as text; make them fail the command. */
	bool failed = text &&
		      (!strncmp(text, "Error: ", 7) || !strncmp(text, "unknown command", 15));
	json_decref(r);
	if (failed)
		exit(1);
}

/* ---- watch ------------------------------------------------------------- */

static bool stdin_watchable(void)
{
	struct stat st;
	if (isatty(STDIN_FILENO))
		return true;
	/* A pipe or socket that closes ends the watch; /dev/null or a file
	 * would end it at once, so those are ignored. */
	return !fstat(STDIN_FILENO, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static int print_or_exit(const char *line, bool tty)
{
	int r = tty ? printf("\r%s\033[K", line) : printf("%s\n", line);
	if (r < 0 || fflush(stdout))
		exit(0); /* reader went away */
	return 0;
}

static void cmd_watch(struct conn *c, long count)
{
	bool tty = isatty(STDOUT_FILENO);
	bool watch_in = stdin_watchable();
	int64_t start = -1, last_target = -1;
	char line[256], a[32], b[32], r[32];

	for (long n = 0; count <= 0 || n < count; n++) {
		json_t *mem = qmp_call(c, "x-query-memvm-memory", NULL);
		json_t *bal = json_object_get(mem, "balloon");
		int64_t rss = json_object_get(mem, "rss") ? jint(mem, "rss") : -1;
		int len;
		if (bal) {
			int64_t target = jint(bal, "target"), actual = jint(bal, "actual");
			if (target != last_target) {
				start = actual;
				last_target = target;
			}
			len = snprintf(line, sizeof(line), "target %10s  actual %10s  RSS %10s",
				       size_str(a, sizeof(a), target),
				       size_str(b, sizeof(b), actual), size_str(r, sizeof(r), rss));
			int64_t ram = jint(mem, "ram-size");
			if (actual != target && start != target) {
				/* Inflating: how full the balloon is against its target
				 * size; deflating: how far it came since we started. */
				double f = target < actual && ram > target
						   ? (double)(ram - actual) / (double)(ram - target)
						   : (double)(start - actual) /
							     (double)(start - target);
				f = f < 0 ? 0 : f > 1 ? 1 : f;
				int fill = (int)(f * BAR_WIDTH + 0.5);
				snprintf(line + len, sizeof(line) - (size_t)len,
					 "  [%.*s%*s] %3d%% %s", fill,
					 "##############################", BAR_WIDTH - fill, "",
					 (int)(f * 100),
					 target < actual ? "inflating" : "deflating");
			} else {
				snprintf(line + len, sizeof(line) - (size_t)len, "  (at target)");
			}
		} else {
			snprintf(line, sizeof(line), "no balloon device  RSS %10s",
				 size_str(r, sizeof(r), rss));
		}
		json_decref(mem);
		print_or_exit(line, tty);
		if (count > 0 && n + 1 >= count)
			break;

		/* Sleep 0.5 s, waking for stdin (quit) or memvm closing. */
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			long left = 500 - ((t1.tv_sec - t0.tv_sec) * 1000 +
					   (t1.tv_nsec - t0.tv_nsec) / 1000000);
			if (left <= 0)
				break;
			struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
					       { .fd = STDIN_FILENO, .events = POLLIN } };
			int k = poll(p, watch_in ? 2 : 1, (int)left);
			if (k <= 0)
				continue;
			if (p[0].revents) {
				json_t *ev = conn_read(c, c->timeout_ms); /* events */
				if (!ev) {
					if (tty)
						putchar('\n');
					printf("memvm closed the connection\n");
					return;
				}
				json_decref(ev);
			}
			if (watch_in && p[1].revents) {
				char in[64];
				ssize_t got = read(STDIN_FILENO, in, sizeof(in));
				if (got <= 0 || in[0] == 'q') {
					if (tty)
						putchar('\n');
					return;
				}
			}
		}
	}
	if (tty)
		putchar('\n');
}

/* ---- main -------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *sock = getenv("MEMVM_QMP");
	int timeout_s = 10;
	int i = 1;

	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
			sock = argv[++i];
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			char *end;
			errno = 0;
			long t = strtol(argv[++i], &end, 10);
			if (errno || *end || t <= 0 || t > 86400)
				die("-t %s: expected a number of seconds from 1 to 86400", argv[i]);
			timeout_s = (int)t;
		} else {
			fprintf(stderr, "memvm-ctl: error: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!sock || !*sock)
		die("no socket: give -s SOCKET (memvm's -qmp unix:SOCKET,...) or set MEMVM_QMP");

	const char *cmd = argv[i++];
	int nargs = argc - i;
	char **args = argv + i;

	/* Check the arguments before connecting. */
	uint64_t bytes = 0;
	long count = 0, wait_s = 0;
	json_t *ap_args = NULL;
	static const char *const simple[] = { "status", "stop",         "cont",
					      "quit",   "system_reset", "system_powerdown",
					      "stats",  "memory" };
	bool known = false;
	for (size_t k = 0; k < ARRAY_SIZE(simple); k++)
		known |= !strcmp(cmd, simple[k]);
	if (known) {
		if (nargs)
			die("%s takes no arguments", cmd);
	} else if (!strcmp(cmd, "balloon")) {
		if (nargs == 2 && !strncmp(args[1], "--wait", 6)) {
			char *end;
			wait_s = args[1][6] == '=' ? strtol(args[1] + 7, &end, 10) : 10;
			if ((args[1][6] && args[1][6] != '=') ||
			    (args[1][6] == '=' && (*end || wait_s <= 0 || wait_s > 3600)))
				die("balloon: --wait=SECONDS takes 1 to 3600");
			nargs = 1;
		}
		if (nargs != 1)
			die("usage: balloon SIZE [--wait[=SECONDS]] (e.g. 512M, 1G; plain numbers are "
			    "MiB)");
		int ret = size_parse(args[0], 1ull << 20, &bytes);
		if (ret || bytes == 0 || bytes > INT64_MAX)
			die("balloon: invalid size '%s' (e.g. 512M, 1G; plain numbers are MiB)",
			    args[0]);
	} else if (!strcmp(cmd, "autopilot")) {
		if (!(ap_args = json_object()))
			die("out of memory");
		for (int k = 0; k < nargs; k++) {
			const char *w = args[k], *eq = strchr(w, '=');
			uint64_t v;
			if (!strcmp(w, "on") || !strcmp(w, "off")) {
				json_object_set_new(ap_args, "enabled",
						    json_boolean(!strcmp(w, "on")));
				continue;
			}
			size_t kl = eq ? (size_t)(eq - w) : 0;
			if (!eq || !((kl == 5 && !strncmp(w, "floor", 5)) ||
				     (kl == 4 && !strncmp(w, "step", 4)) ||
				     (kl == 7 && !strncmp(w, "reserve", 7))))
				die("usage: autopilot [on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE]");
			if (size_parse(eq + 1, 1ull << 20, &v) || v > INT64_MAX)
				die("autopilot: invalid size '%s' (e.g. 64M, 1G; plain numbers are MiB)",
				    eq + 1);
			char key[8];
			snprintf(key, sizeof(key), "%.*s", (int)kl, w);
			json_object_set_new(ap_args, key, json_integer((json_int_t)v));
		}
	} else if (!strcmp(cmd, "info")) {
		if (nargs != 1 || strcmp(args[0], "balloon"))
			die("usage: info balloon");
	} else if (!strcmp(cmd, "stats-interval")) {
		if (nargs != 1)
			die("usage: stats-interval SECONDS");
	} else if (!strcmp(cmd, "hmp")) {
		if (nargs < 1)
			die("usage: hmp COMMAND-LINE");
	} else if (!strcmp(cmd, "watch")) {
		for (int k = 0; k < nargs; k++) {
			char *end;
			if (!strcmp(args[k], "-n") && k + 1 < nargs) {
				count = strtol(args[++k], &end, 10);
				if (*end || count <= 0)
					die("watch -n: expected a count > 0");
			} else {
				die("usage: watch [-n N]");
			}
		}
	} else {
		fprintf(stderr, "memvm-ctl: error: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}

	struct conn c;
	conn_open(&c, sock, timeout_s);
	/* memvm's replies are untrusted input: parse them inside a filter
	 * that allows little more than reading, writing and polling. The hash
	 * seed is drawn now, before the filter forbids opening /dev/urandom. */
	json_object_seed(0);
	char serr[256];
	if (sandbox_enter_ctl(serr, sizeof(serr)))
		die("%s", serr);
	conn_negotiate(&c);

	if (!strcmp(cmd, "status")) {
		json_t *r = qmp_call(&c, "query-status", NULL);
		printf("VM status: %s\n", json_string_value(json_object_get(r, "status")));
		json_decref(r);
	} else if (!strcmp(cmd, "stop") || !strcmp(cmd, "cont") || !strcmp(cmd, "quit") ||
		   !strcmp(cmd, "system_reset") || !strcmp(cmd, "system_powerdown")) {
		json_decref(qmp_call(&c, cmd, NULL));
	} else if (!strcmp(cmd, "balloon")) {
		json_decref(
			qmp_call(&c, "balloon", json_pack("{s:I}", "value", (json_int_t)bytes)));
		if (wait_s)
			balloon_wait(&c, (int)wait_s);
	} else if (!strcmp(cmd, "info")) {
		json_t *r = qmp_call(&c, "query-balloon", NULL);
		printf("balloon: actual=%" PRId64 "\n", jint(r, "actual") >> 20);
		json_decref(r);
	} else if (!strcmp(cmd, "stats")) {
		cmd_stats(&c);
	} else if (!strcmp(cmd, "stats-interval")) {
		cmd_stats_interval(&c, args[0]);
	} else if (!strcmp(cmd, "memory")) {
		cmd_hmp(&c, "info memory");
	} else if (!strcmp(cmd, "autopilot")) {
		if (json_object_size(ap_args))
			json_decref(qmp_call(&c, "x-memvm-autopilot", ap_args));
		else
			json_decref(ap_args);
		cmd_hmp(&c, "info autopilot");
	} else if (!strcmp(cmd, "hmp")) {
		char line[4096] = "";
		size_t len = 0;
		for (int k = 0; k < nargs; k++) {
			int w = snprintf(line + len, sizeof(line) - len, "%s%s", k ? " " : "",
					 args[k]);
			if (w < 0 || (size_t)w >= sizeof(line) - len)
				die("hmp: command line too long");
			len += (size_t)w;
		}
		cmd_hmp(&c, line);
	} else if (!strcmp(cmd, "watch")) {
		cmd_watch(&c, count);
	}
	close(c.fd);
	free(c.buf);
	if (fflush(stdout))
		return 1;
	return 0;
}
