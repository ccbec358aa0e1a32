/* libFuzzer target for the monitor's command dispatcher: the input is a
 * client's byte stream, framed as the QMP socket frames it and run through
 * negotiation and dispatch (or, by the first byte, run line by line as
 * human monitor commands) on a fake VM with a real balloon. Invariants:
 * every message gets exactly one reply, each reply and event is a JSON
 * object of the right shape, and no message exceeds the framing limit. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "balloon/balloon.h"
#include "memory/guest_mem.h"
#include "vmm/monitor/hmp.h"
#include "vmm/monitor/monitor.h"
#include "vmm/monitor/qmp.h"

#define CHECK(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)
#define MAX_MESSAGE 4096

static bool running = true;
static int f_stop(void *o)
{
	(void)o;
	running = false;
	return 0;
}
static int f_cont(void *o)
{
	(void)o;
	running = true;
	return 0;
}
static bool f_running(void *o)
{
	(void)o;
	return running;
}
static void f_quit(void *o)
{
	(void)o;
}
static int f_reset(void *o)
{
	(void)o;
	return 0;
}
static int f_powerdown(void *o)
{
	(void)o;
	return -95; /* -ENOTSUP */
}
static int f_tid(void *o, unsigned i)
{
	(void)o;
	return (int)i;
}
static int f_discard(void *o, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	(void)o;
	(void)gpa;
	*freed = len;
	return 0;
}

static void on_event(void *o, const char *name, const char *line)
{
	(void)o;
	json_t *e = json_loads(line, 0, NULL);
	CHECK(e && json_is_object(e));
	CHECK(!strcmp(json_string_value(json_object_get(e, "event")), name));
	CHECK(json_is_object(json_object_get(e, "timestamp")));
	json_decref(e);
}

static struct monitor_backend be = {
	.stop = f_stop,
	.cont = f_cont,
	.running = f_running,
	.quit = f_quit,
	.reset = f_reset,
	.powerdown = f_powerdown,
	.cpu_thread_id = f_tid,
	.ram_size = 64 << 20,
	.ncpus = 2,
};
/* With HMP's table, as the monitor wires it: human-monitor-command too. */
static struct qmp_ctx ctx = { .be = &be, .event = on_event, .extra = monitor_qmp_tables };
static struct qmp_session sess;
static struct balloon *bal;

static int on_message(void *opaque, const char *msg, size_t len)
{
	int *count = opaque;
	CHECK(len > 0 && len <= MAX_MESSAGE);
	char *out = qmp_handle(&ctx, &sess, msg, len);
	CHECK(out && !strchr(out, '\n'));
	json_t *r = json_loads(out, 0, NULL);
	CHECK(r && json_is_object(r));
	json_t *err = json_object_get(r, "error");
	CHECK(!!err != !!json_object_get(r, "return"));
	if (err) {
		CHECK(json_is_string(json_object_get(err, "class")));
		CHECK(json_is_string(json_object_get(err, "desc")));
	}
	json_decref(r);
	free(out);
	(*count)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!bal) {
		static struct guest_mem *gm;
		gm = guest_mem_new();
		static const struct guest_ram_ops mem = { .discard = f_discard };
		struct balloon_config bc = { .ram_size = 64 << 20, .gm = gm, .mem = &mem };
		if (!gm || balloon_new(&bc, &bal))
			abort();
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	running = true;
	sess.negotiated = mode & 1;
	be.balloon = mode & 2 ? bal : NULL;

	if (mode & 4) {
		/* Human monitor: one command per line. */
		char *buf = malloc(size + 1);
		if (!buf)
			return 0;
		memcpy(buf, data, size);
		buf[size] = '\0';
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *out = hmp_run(&ctx, line);
			CHECK(out);
			char *crlf = hmp_crlf(out);
			CHECK(crlf);
			free(crlf);
			free(out);
		}
		free(buf);
		return 0;
	}

	struct qmp_framer *f = qmp_framer_new(MAX_MESSAGE);
	if (!f)
		return 0;
	int count = 0;
	/* Split the stream at an input-chosen point: framing must not care. */
	size_t cut = size ? (mode >> 3) % (size + 1) : 0;
	int ret = qmp_framer_feed(f, (const char *)data, cut, on_message, &count);
	if (ret == 0)
		ret = qmp_framer_feed(f, (const char *)data + cut, size - cut, on_message, &count);
	CHECK(ret == 0 || ret == -7 /* -E2BIG */);
	qmp_framer_free(f);
	return 0;
}
