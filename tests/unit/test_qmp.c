/* QMP dispatcher, framer and monitor sockets on a fake VM backend (no
 * /dev/kvm): negotiation, every command's reply shape, the command table
 * (extra commands, HMP's human-monitor-command), id echo, QEMU's error
 * classes and texts, bad input in bulk, events (ShutdownCause names) and
 * BALLOON_CHANGE throttling, and the socket side (0600, stale/live
 * sockets, 16 clients, slow and oversized clients, devices attached
 * after the monitor). */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "memory/guest_mem.h"
#include "memory/ram.h"
#include "tests/unit/check_main.h"
#include "vmm/config/config.h"
#include "vmm/lib/version.h"
#include "vmm/lib/evloop.h"
#include "vmm/monitor/hmp.h"
#include "vmm/monitor/monitor.h"
#include "vmm/monitor/qmp.h"

#define MiB (1ull << 20)
#define RAM (256 * MiB)

/* ---- fake VM ---------------------------------------------------------- */

struct fake {
	bool running;
	int stops, conts, resets, quits, powerdowns;
	int reset_ret; /* what reset returns */
	int powerdown_ret;
};

static struct fake fk;
static struct monitor_backend be;
static struct guest_mem *gm;
static struct balloon *bal;
static struct qmp_ctx ctx;
static struct qmp_session sess;
static char *events[256];
static int nevents;

static int f_stop(void *o)
{
	(void)o;
	fk.stops++;
	fk.running = false;
	return 0;
}
static int f_cont(void *o)
{
	(void)o;
	fk.conts++;
	fk.running = true;
	return 0;
}
static bool f_running(void *o)
{
	(void)o;
	return fk.running;
}
static void f_quit(void *o)
{
	(void)o;
	fk.quits++;
}
static int f_reset(void *o)
{
	(void)o;
	fk.resets++;
	return fk.reset_ret;
}
static int f_powerdown(void *o)
{
	(void)o;
	if (fk.powerdown_ret)
		return fk.powerdown_ret;
	fk.powerdowns++;
	return 0;
}
static int f_tid(void *o, unsigned i)
{
	(void)o;
	return 4000 + (int)i;
}
static int f_counters(void *o, unsigned i, struct monitor_cpu_counters *c)
{
	(void)o;
	/* vCPU 1 failing must drop it from the list, not the reply */
	if (i == 1)
		return -ENOENT;
	*c = (struct monitor_cpu_counters){ .exits = 7, .run_ns = 5000000000ull, .insn_fixups = 2 };
	return 0;
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
	(void)name;
	if (nevents < (int)ARRAY_SIZE(events))
		events[nevents++] = strdup(line);
}

static void clear_events(void)
{
	for (int i = 0; i < nevents; i++)
		free(events[i]);
	nevents = 0;
}

static void setup(void)
{
	fk = (struct fake){ .running = true, .powerdown_ret = -ENOTSUP };
	gm = guest_mem_new();
	ck_assert_ptr_nonnull(gm);
	static const struct guest_ram_ops mem = { .discard = f_discard };
	struct balloon_config bc = { .ram_size = RAM, .gm = gm, .mem = &mem };
	ck_assert_int_eq(balloon_new(&bc, &bal), 0);
	be = (struct monitor_backend){
		.stop = f_stop,
		.cont = f_cont,
		.running = f_running,
		.quit = f_quit,
		.reset = f_reset,
		.powerdown = f_powerdown,
		.cpu_thread_id = f_tid,
		.cpu_counters = f_counters,
		.ram_size = RAM,
		.ncpus = 2,
		.balloon = bal,
	};
	ctx = (struct qmp_ctx){ .be = &be, .event = on_event, .extra = monitor_qmp_tables };
	sess = (struct qmp_session){ 0 };
}

static void teardown(void)
{
	clear_events();
	balloon_free(bal);
	guest_mem_free(gm);
}

/* Sends one message through the dispatcher; returns the parsed reply. */
static json_t *req(const char *msg)
{
	char *out = qmp_handle(&ctx, &sess, msg, strlen(msg));
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_null(strchr(out, '\n'));
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	ck_assert_msg(j != NULL, "reply is not JSON: %s", out);
	ck_assert(json_is_object(j));
	free(out);
	return j;
}

static int count_msg(void *opaque, const char *msg, size_t len)
{
	(void)msg;
	(void)len;
	(*(int *)opaque)++;
	return 0;
}

static void negotiate(void)
{
	json_t *r = req("{\"execute\": \"qmp_capabilities\"}");
	ck_assert_ptr_nonnull(json_object_get(r, "return"));
	json_decref(r);
}

/* Asserts an error reply of class cls (and desc, if given). */
static void expect_error(const char *msg, const char *cls, const char *desc)
{
	json_t *r = req(msg);
	json_t *e = json_object_get(r, "error");
	ck_assert_msg(e != NULL, "no error for %s", msg);
	ck_assert_ptr_null(json_object_get(r, "return"));
	ck_assert_str_eq(json_string_value(json_object_get(e, "class")), cls);
	if (desc)
		ck_assert_str_eq(json_string_value(json_object_get(e, "desc")), desc);
	json_decref(r);
}

/* Runs a command expected to succeed; returns the "return" value. */
static json_t *ok(const char *msg)
{
	json_t *r = req(msg);
	json_t *ret = json_object_get(r, "return");
	ck_assert_msg(ret != NULL, "error for %s: %s", msg,
		      json_string_value(json_object_get(json_object_get(r, "error"), "desc")));
	json_incref(ret);
	json_decref(r);
	return ret;
}

static void expect_keys(json_t *obj, const char *const *keys)
{
	size_t n = 0;
	for (; keys[n]; n++)
		ck_assert_msg(json_object_get(obj, keys[n]) != NULL, "missing key %s", keys[n]);
	ck_assert_uint_eq(json_object_size(obj), n);
}

static json_t *event_json(int i)
{
	ck_assert_int_lt(i, nevents);
	json_t *j = json_loads(events[i], 0, NULL);
	ck_assert_ptr_nonnull(j);
	return j;
}

static void expect_event(int i, const char *name)
{
	json_t *j = event_json(i);
	ck_assert_str_eq(json_string_value(json_object_get(j, "event")), name);
	json_decref(j);
}

/* ---- greeting and negotiation ----------------------------------------- */

START_TEST(test_greeting_shape)
{
	char *g = qmp_greeting();
	json_t *j = json_loads(g, 0, NULL);
	ck_assert_ptr_nonnull(j);
	json_t *qmp = json_object_get(j, "QMP");
	expect_keys(qmp, (const char *[]){ "version", "capabilities", NULL });
	json_t *v = json_object_get(qmp, "version");
	expect_keys(v, (const char *[]){ "qemu", "package", NULL });
	expect_keys(json_object_get(v, "qemu"),
		    (const char *[]){ "micro", "minor", "major", NULL });
	/* The QEMU whose QMP memvm speaks; memvm's own version is the package. */
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(v, "qemu"), "major")),
			 7);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(v, "qemu"), "minor")),
			 2);
	ck_assert_str_eq(json_string_value(json_object_get(v, "package")), "memvm-" MEMVM_VERSION);
	/* oob offered, as QEMU offers it on every QMP monitor. */
	json_t *caps = json_object_get(qmp, "capabilities");
	ck_assert_uint_eq(json_array_size(caps), 1);
	ck_assert_str_eq(json_string_value(json_array_get(caps, 0)), "oob");
	/* QEMU's spacing. */
	ck_assert_ptr_nonnull(strstr(g, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "));
	ck_assert_ptr_nonnull(strstr(g, "\"capabilities\": [\"oob\"]}}"));
	json_decref(j);
	free(g);
}
END_TEST

START_TEST(test_negotiation)
{
	expect_error("{\"execute\": \"query-status\"}", "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	expect_error("{\"execute\": \"no-such-command\"}", "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	expect_error("{\"execute\": \"stop\"}", "CommandNotFound", NULL);
	ck_assert_int_eq(fk.stops, 0);
	expect_error("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"foo\"]}}",
		     "GenericError", "Parameter 'null' does not accept value 'foo'");
	/* exec-oob is no member before oob is enabled (QEMU's text). */
	expect_error("{\"exec-oob\": \"query-status\"}", "GenericError",
		     "QMP input member 'exec-oob' is unexpected");
	expect_error("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
		     "GenericError", "Invalid parameter type for 'enable', expected: array");
	expect_error("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}",
		     "GenericError", "Parameter 'x' is unexpected");
	ck_assert(!sess.negotiated);
	json_t *r = req(
		"{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}, \"id\": 1}");
	ck_assert_uint_eq(json_object_size(json_object_get(r, "return")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
	json_decref(r);
	ck_assert(sess.negotiated);
	expect_error("{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
		     "Capabilities negotiation is already complete, command ignored");
	json_decref(ok("{\"execute\": \"query-status\"}"));
	expect_error("{\"exec-oob\": \"query-status\", \"id\": 1}", "GenericError",
		     "QMP input member 'exec-oob' is unexpected");
	/* Another session starts over. */
	struct qmp_session other = { 0 };
	char *out = qmp_handle(&ctx, &other, "{\"execute\":\"query-kvm\"}", 23);
	ck_assert_ptr_nonnull(strstr(out, "Expecting capabilities negotiation"));
	free(out);
	/* With oob enabled: exec-oob is taken, and refused as QEMU refuses it
	 * for a command without allow-oob (id first), execute works as ever. */
	static const char *const oob[][2] = {
		{ "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
		  "{\"return\": {}}" },
		{ "{\"exec-oob\": \"query-status\", \"id\": \"o1\"}",
		  "{\"id\": \"o1\", \"error\": {\"class\": \"GenericError\", \"desc\": \"The command "
		  "query-status does not support OOB\"}}" },
		{ "{\"exec-oob\": \"nosuch\", \"id\": \"o3\"}",
		  "{\"id\": \"o3\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
		  "nosuch has not been found\"}}" },
		{ "{\"execute\": \"query-status\", \"id\": 1}",
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
		  "\"id\": 1}" },
	};
	struct qmp_session o = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(oob); i++) {
		out = qmp_handle(&ctx, &o, oob[i][0], strlen(oob[i][0]));
		ck_assert_str_eq(out, oob[i][1]);
		free(out);
	}
	ck_assert(o.oob);
}
END_TEST

/* QEMU's JSON: single quotes (qmp-shell sends them), \' escapes, and
 * integers up to 2^64-1, as QEMU parses them; the id comes back as sent. */
START_TEST(test_qemu_json)
{
	static const char *const cases[][2] = {
		{ "{'execute': 'qmp_capabilities', 'id': 'a\\'b\"c'}",
		  "{\"return\": {}, \"id\": \"a'b\\\"c\"}" },
		{ "{\"execute\": \"query-status\", \"id\": \"it\\'s\"}",
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
		  "\"id\": \"it's\"}" },
		{ "{'execute': 'query-status', 'id': 18446744073709551615}",
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
		  "\"id\": 18446744073709551615}" },
		{ "{'execute': 'query-kvm', 'id': -9223372036854775808}",
		  "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": -9223372036854775808}" },
		/* bigger than uint64: a real, as QEMU's parser makes it */
		{ "{'execute': 'query-kvm', 'id': 18446744073709551616}",
		  "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": 1.8446744073709552e19}" },
		/* a brace inside a single-quoted string does not end the message */
		{ "{'execute': 'nope{', 'id': 1}",
		  "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope{ "
		  "has not been found\"}}" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *out = qmp_handle(&ctx, &sess, cases[i][0], strlen(cases[i][0]));
		ck_assert_msg(out && !strcmp(out, cases[i][1]), "%s -> %s", cases[i][0], out);
		free(out);
	}
	/* A size argument over INT64_MAX: balloon takes it (capped at RAM),
	 * a 32-bit one says it is too big. */
	json_decref(ok("{'execute': 'balloon', 'arguments': {'value': 18446744073709551615}}"));
	expect_error("{'execute': 'qom-set', 'arguments': {'path': "
		     "'/machine/peripheral-anon/device[0]', 'property': "
		     "'guest-stats-polling-interval', 'value': 18446744073709551615}}",
		     "GenericError", "timer value is too big");
	expect_error("{'execute': 'balloon', 'arguments': {'value': 18446744073709551616}}",
		     "GenericError", "Invalid parameter type for 'value', expected: integer");
	/* Framing: single-quoted braces and several messages in one buffer. */
	struct qmp_framer *f = qmp_framer_new(1024);
	ck_assert_ptr_nonnull(f);
	static int msgs;
	msgs = 0;
	const char *in = "{'a': '}{'}{\"b\": \"'\"} 'x' ";
	ck_assert_int_eq(qmp_framer_feed(f, in, strlen(in), count_msg, &msgs), 0);
	ck_assert_int_eq(msgs, 3);
	qmp_framer_free(f);
}
END_TEST

START_TEST(test_id_echo)
{
	static const char *const ids[] = {
		"1", "-7", "\"abc\"", "{\"a\": [1, {\"b\": null}]}", "[1, 2]", "null", "1.5", "true"
	};
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		char msg[256];
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(want);
		/* before negotiation (error), negotiation, success, errors */
		static const char *const fmts[] = {
			"{\"execute\": \"query-status\", \"id\": %s}",
			"{\"execute\": \"qmp_capabilities\", \"id\": %s}",
			"{\"id\": %s, \"execute\": \"query-status\"}",
			"{\"execute\": \"nope\", \"id\": %s}",
			"{\"execute\": \"balloon\", \"id\": %s}",
			"{\"execute\": \"query-status\", \"bogus\": 1, \"id\": %s}",
			"{\"id\": %s}",
		};
		sess.negotiated = false;
		for (size_t f = 0; f < ARRAY_SIZE(fmts); f++) {
			snprintf(msg, sizeof(msg), fmts[f], ids[i]);
			json_t *r = req(msg);
			json_t *id = json_object_get(r, "id");
			ck_assert_msg(id && json_equal(id, want), "id %s not echoed for %s", ids[i],
				      msg);
			json_decref(r);
		}
		json_decref(want);
	}
	/* No id, no "id" key. */
	json_t *r = req("{\"execute\": \"query-status\"}");
	ck_assert_ptr_null(json_object_get(r, "id"));
	json_decref(r);
}
END_TEST

/* ---- commands --------------------------------------------------------- */

START_TEST(test_query_version_commands)
{
	negotiate();
	json_t *v = ok("{\"execute\": \"query-version\"}");
	expect_keys(v, (const char *[]){ "qemu", "package", NULL });
	ck_assert_str_eq(json_string_value(json_object_get(v, "package")), "memvm-" MEMVM_VERSION);
	json_decref(v);

	json_t *c = ok("{\"execute\": \"query-commands\"}");
	static const char *const need[] = {
		"qmp_capabilities",
		"query-version",
		"query-commands",
		"query-status",
		"stop",
		"cont",
		"system_reset",
		"system_powerdown",
		"quit",
		"balloon",
		"query-balloon",
		"query-memory-size-summary",
		"query-kvm",
		"query-cpus-fast",
		"x-query-memvm-memory",
		"x-query-memvm-vcpus",
		"qom-get",
		"qom-set",
		"qom-list",
		"human-monitor-command",
		"query-name",
		"query-uuid",
		"query-target",
		"query-machines",
		"query-current-machine",
		"query-chardev",
		"query-block",
		"query-block-jobs",
		"query-blockstats",
		"query-pci",
		"query-iothreads",
		"query-migrate",
		"query-command-line-options",
		"query-hotpluggable-cpus",
		"query-memdev",
		"query-memory-devices",
		"query-qmp-schema",
		"x-query-memvm-autopilot",
		"x-memvm-autopilot",
	};
	ck_assert_uint_eq(json_array_size(c), ARRAY_SIZE(need));
	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		bool found = false;
		size_t k;
		json_t *e;
		json_array_foreach(c, k, e) {
			expect_keys(e, (const char *[]){ "name", NULL });
			found |= !strcmp(json_string_value(json_object_get(e, "name")), need[i]);
		}
		ck_assert_msg(found, "%s not listed", need[i]);
	}
	json_decref(c);
}
END_TEST

START_TEST(test_status_stop_cont)
{
	negotiate();
	json_t *s = ok("{\"execute\": \"query-status\"}");
	expect_keys(s, (const char *[]){ "status", "singlestep", "running", NULL });
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "running");
	ck_assert(json_is_true(json_object_get(s, "running")));
	ck_assert(json_is_false(json_object_get(s, "singlestep")));
	json_decref(s);

	json_decref(ok("{\"execute\": \"stop\"}"));
	ck_assert_int_eq(fk.stops, 1);
	ck_assert_int_eq(nevents, 1);
	expect_event(0, "STOP");
	json_t *ev = event_json(0);
	expect_keys(ev, (const char *[]){ "timestamp", "event", NULL }); /* no data */
	json_decref(ev);
	s = ok("{\"execute\": \"query-status\"}");
	ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "paused");
	ck_assert(json_is_false(json_object_get(s, "running")));
	json_decref(s);

	/* Already paused: no second STOP, as QEMU. */
	json_decref(ok("{\"execute\": \"stop\"}"));
	ck_assert_int_eq(nevents, 1);
	json_decref(ok("{\"execute\": \"cont\"}"));
	ck_assert_int_eq(nevents, 2);
	expect_event(1, "RESUME");
	json_decref(ok("{\"execute\": \"cont\"}"));
	ck_assert_int_eq(nevents, 2);
	ck_assert(fk.running);
}
END_TEST

/* -no-reboot: the machine ends instead of resetting, and QEMU then sends
 * SHUTDOWN only (the machine's), no RESET. */
START_TEST(test_reset_that_ends_the_vm)
{
	negotiate();
	fk.reset_ret = MONITOR_RESET_ENDS;
	json_decref(ok("{\"execute\": \"system_reset\"}"));
	ck_assert_int_eq(fk.resets, 1);
	ck_assert_int_eq(nevents, 0);
	fk.reset_ret = -EIO;
	expect_error("{\"execute\": \"system_reset\"}", "GenericError",
		     "system_reset failed: Input/output error");
	ck_assert_int_eq(nevents, 0);
}
END_TEST

START_TEST(test_reset_powerdown_quit)
{
	negotiate();
	json_decref(ok("{\"execute\": \"system_reset\"}"));
	ck_assert_int_eq(fk.resets, 1);
	expect_event(0, "RESET");
	json_t *ev = event_json(0);
	json_t *d = json_object_get(ev, "data");
	ck_assert(json_is_false(json_object_get(d, "guest")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "reason")), "host-qmp-system-reset");
	json_decref(ev);

	expect_error("{\"execute\": \"system_powerdown\"}", "GenericError", NULL);
	ck_assert_int_eq(nevents, 1);
	fk.powerdown_ret = 0;
	json_decref(ok("{\"execute\": \"system_powerdown\"}"));
	ck_assert_int_eq(fk.powerdowns, 1);
	expect_event(1, "POWERDOWN");
	be.powerdown = NULL;
	expect_error("{\"execute\": \"system_powerdown\"}", "GenericError", NULL);

	json_decref(ok("{\"execute\": \"quit\", \"id\": \"q\"}"));
	ck_assert_int_eq(fk.quits, 1);
	expect_event(2, "SHUTDOWN");
	ev = event_json(2);
	d = json_object_get(ev, "data");
	ck_assert(json_is_false(json_object_get(d, "guest")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "reason")), "host-qmp-quit");
	json_decref(ev);
}
END_TEST

START_TEST(test_balloon_commands)
{
	struct balloon_info bi;
	negotiate();
	json_t *b = ok("{\"execute\": \"query-balloon\"}");
	expect_keys(b, (const char *[]){ "actual", NULL });
	ck_assert_int_eq(json_integer_value(json_object_get(b, "actual")), (json_int_t)RAM);
	json_decref(b);

	json_decref(ok("{\"execute\": \"balloon\", \"arguments\": {\"value\": 134217728}}"));
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, (RAM - 128 * MiB) / 4096);
	/* Above RAM is capped (deflate fully), as QEMU. */
	json_decref(ok("{\"execute\": \"balloon\", \"arguments\": {\"value\": 1099511627776}}"));
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, 0);
	json_decref(
		ok("{\"execute\": \"balloon\", \"arguments\": {\"value\": 9223372036854775807}}"));

	json_decref(ok("{\"execute\": \"balloon\", \"arguments\": {\"value\": 200000000}}"));
	balloon_query(bal, &bi);
	uint64_t before = bi.target_pages;
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}", "GenericError",
		     "Parameter 'target' expects a size");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": -1}}", "GenericError",
		     "Parameter 'target' expects a size");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": \"1\"}}",
		     "GenericError", "Invalid parameter type for 'value', expected: integer");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": 1.5e9}}",
		     "GenericError", "Invalid parameter type for 'value', expected: integer");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": null}}", "GenericError",
		     "Invalid parameter type for 'value', expected: integer");
	expect_error("{\"execute\": \"balloon\"}", "GenericError", "Parameter 'value' is missing");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {}}", "GenericError",
		     "Parameter 'value' is missing");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": 1, \"foo\": 1}}",
		     "GenericError", "Parameter 'foo' is unexpected");
	balloon_query(bal, &bi);
	ck_assert_uint_eq(bi.target_pages, before);

	be.balloon = NULL;
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": 1}}", "DeviceNotActive",
		     "No balloon device has been activated");
	expect_error("{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}", "DeviceNotActive",
		     NULL);
	expect_error("{\"execute\": \"query-balloon\"}", "DeviceNotActive",
		     "No balloon device has been activated");
	expect_error("{\"execute\": \"x-query-memvm-autopilot\"}", "DeviceNotActive",
		     "No balloon device has been activated");
	expect_error("{\"execute\": \"x-memvm-autopilot\", \"arguments\": {\"enabled\": true}}",
		     "DeviceNotActive", "No balloon device has been activated");
	expect_error("{\"execute\": \"x-memvm-autopilot\", \"arguments\": {\"enabled\": 1}}",
		     "GenericError", "Invalid parameter type for 'enabled', expected: boolean");
}
END_TEST

START_TEST(test_memory_kvm_cpus)
{
	negotiate();
	json_t *m = ok("{\"execute\": \"query-memory-size-summary\"}");
	expect_keys(m, (const char *[]){ "base-memory", "plugged-memory", NULL });
	ck_assert_int_eq(json_integer_value(json_object_get(m, "base-memory")), (json_int_t)RAM);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "plugged-memory")), 0);
	json_decref(m);

	json_t *k = ok("{\"execute\": \"query-kvm\"}");
	expect_keys(k, (const char *[]){ "enabled", "present", NULL });
	ck_assert(json_is_true(json_object_get(k, "enabled")));
	json_decref(k);

	json_t *c = ok("{\"execute\": \"query-cpus-fast\"}");
	ck_assert_uint_eq(json_array_size(c), 2);
	for (int i = 0; i < 2; i++) {
		json_t *e = json_array_get(c, (size_t)i);
		expect_keys(e, (const char *[]){ "thread-id", "props", "qom-path", "cpu-index",
						 "target", NULL });
		ck_assert_int_eq(json_integer_value(json_object_get(e, "thread-id")), 4000 + i);
		ck_assert_int_eq(json_integer_value(json_object_get(e, "cpu-index")), i);
		expect_keys(json_object_get(e, "props"),
			    (const char *[]){ "core-id", "thread-id", "socket-id", NULL });
	}
	json_decref(c);

	json_t *v = ok("{\"execute\": \"x-query-memvm-vcpus\"}");
	ck_assert_uint_eq(json_array_size(v), 1);
	json_t *v0 = json_array_get(v, 0);
	expect_keys(v0, (const char *[]){ "cpu-index", "thread-id", "exits", "run-ns",
					  "insn-fixups", NULL });
	ck_assert_int_eq(json_integer_value(json_object_get(v0, "thread-id")), 4000);
	ck_assert_int_eq(json_integer_value(json_object_get(v0, "exits")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(v0, "run-ns")), 5000000000ll);
	ck_assert_int_eq(json_integer_value(json_object_get(v0, "insn-fixups")), 2);
	json_decref(v);

	json_t *x = ok("{\"execute\": \"x-query-memvm-memory\"}");
	ck_assert_int_eq(json_integer_value(json_object_get(x, "ram-size")), (json_int_t)RAM);
	ck_assert_ptr_null(json_object_get(x, "backing")); /* no struct ram here */
	json_t *b = json_object_get(x, "balloon");
	expect_keys(b, (const char *[]){ "qom-path", "target", "actual", "target-pages",
					 "actual-pages", "driver-ready", "inflated-pages",
					 "deflated-pages", "discarded", "reported", "bad-pfns",
					 "deflate-waits", "deflate-waiting", "reported-kept",
					 "poison-val", "stats", NULL });
	ck_assert(json_is_false(json_object_get(b, "deflate-waiting")));
	ck_assert_int_eq(json_integer_value(json_object_get(b, "target")), (json_int_t)RAM);
	json_decref(x);
	be.balloon = NULL;
	x = ok("{\"execute\": \"x-query-memvm-memory\"}");
	ck_assert_ptr_null(json_object_get(x, "balloon"));
	json_decref(x);
}
END_TEST

START_TEST(test_qom)
{
	negotiate();
	static const char *const paths[] = {
		"/machine/peripheral-anon/device[0]",
		"/machine/peripheral-anon/device[0]/virtio-backend",
		"peripheral-anon/device[0]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"%s\", "
			 "\"property\": \"guest-stats\"}}",
			 paths[i]);
		/* Never-sent statistics are QEMU's 2^64-1, as digits (a signed
		 * parser cannot hold them: read as reals here). */
		char *out = qmp_handle(&ctx, &sess, msg, strlen(msg));
		ck_assert_ptr_nonnull(strstr(out, "\"stat-swap-in\": 18446744073709551615, "));
		json_t *r = json_loads(out, JSON_DECODE_INT_AS_REAL, NULL);
		ck_assert_ptr_nonnull(r);
		free(out);
		json_t *st = json_object_get(r, "return");
		expect_keys(st, (const char *[]){ "stats", "last-update", NULL });
		json_t *stats = json_object_get(st, "stats");
		ck_assert_uint_eq(json_object_size(stats), BALLOON_STAT_QEMU72_COUNT);
		for (int s = 0; s < BALLOON_STAT_QEMU72_COUNT; s++) {
			json_t *v = json_object_get(stats, balloon_stat_name(s));
			ck_assert(json_is_real(v));
			ck_assert(json_real_value(v) == 18446744073709551615.0);
		}
		ck_assert(json_real_value(json_object_get(st, "last-update")) == 0);
		json_decref(r);
	}
	/* device[0] is the balloon and the first vCPU, as in QEMU. */
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"device[0]\", "
		     "\"property\": \"type\"}}",
		     "DeviceNotFound", "Device 'device[0]' not found");
	expect_error("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"device[0]\"}}",
		     "GenericError", "Path 'device[0]' is ambiguous");
#define QOM(op, prop, extra)                                       \
	"{\"execute\": \"qom-" op "\", \"arguments\": {\"path\": " \
	"\"/machine/peripheral-anon/device[0]\", \"property\": \"" prop "\"" extra "}}"
	json_t *v = ok(QOM("get", "guest-stats-polling-interval", ""));
	ck_assert_int_eq(json_integer_value(v), 0);
	json_decref(v);
	json_decref(ok(QOM("set", "guest-stats-polling-interval", ", \"value\": 2")));
	v = ok(QOM("get", "guest-stats-polling-interval", ""));
	ck_assert_int_eq(json_integer_value(v), 2);
	json_decref(v);
	expect_error(QOM("set", "guest-stats-polling-interval", ", \"value\": -1"), "GenericError",
		     "timer value must be greater than zero");
	expect_error(QOM("set", "guest-stats-polling-interval", ", \"value\": 4294967296"),
		     "GenericError", "timer value is too big");
	expect_error(
		QOM("set", "guest-stats-polling-interval", ", \"value\": \"x\""), "GenericError",
		"Invalid parameter type for 'guest-stats-polling-interval', expected: integer");
	expect_error(QOM("set", "guest-stats-polling-interval", ""), "GenericError",
		     "Parameter 'value' is missing");
	expect_error(QOM("set", "guest-stats", ", \"value\": 1"), "GenericError",
		     "Property 'virtio-balloon-device.guest-stats' is not writable");
	expect_error(QOM("get", "nope", ""), "GenericError",
		     "Property 'virtio-balloon-device.nope' not found");
	v = ok(QOM("get", "type", ""));
	ck_assert_str_eq(json_string_value(v), "virtio-balloon-device");
	json_decref(v);
	/* QEMU 7.2's balloon properties but parent_bus (memvm's transports
	 * are not in the tree). */
	v = ok("{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
	       "\"/machine/peripheral-anon/device[0]\"}}");
	ck_assert_uint_eq(json_array_size(v), 23);
	json_decref(v);
	v = ok(QOM("get", "realized", ""));
	ck_assert(json_is_true(v));
	json_decref(v);
	v = ok(QOM("get", "deflate-on-oom", ""));
	ck_assert(json_is_false(v));
	json_decref(v);
	expect_error(QOM("get", "legacy-iothread", ""), "GenericError",
		     "Property 'virtio-balloon-device.legacy-iothread' is not readable");
	expect_error(QOM("set", "realized", ", \"value\": false"), "GenericError",
		     "Property 'virtio-balloon-device.realized' is not writable");
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/nope\", "
		     "\"property\": \"guest-stats\"}}",
		     "DeviceNotFound", "Device '/nope' not found");
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"\", "
		     "\"property\": \"guest-stats\"}}",
		     "DeviceNotFound", NULL);
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"ice[0]\", "
		     "\"property\": \"guest-stats\"}}",
		     "DeviceNotFound", NULL);
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"property\": \"x\"}}",
		     "GenericError", "Parameter 'path' is missing");
	expect_error(
		"{\"execute\": \"qom-get\", \"arguments\": {\"path\": 1, \"property\": \"x\"}}",
		"GenericError", "Invalid parameter type for 'path', expected: string");
	/* A custom path from the VM. */
	be.balloon_qom_path = "/machine/peripheral/balloon0";
	json_decref(ok("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"balloon0\", "
		       "\"property\": \"guest-stats-polling-interval\"}}"));
	json_t *l = ok("{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
		       "\"/machine/peripheral\"}}");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 1), "type")),
			 "child<virtio-balloon-device>");
	json_decref(l);
	be.balloon = NULL;
	expect_error("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"balloon0\", "
		     "\"property\": \"guest-stats\"}}",
		     "DeviceNotFound", NULL);
}
END_TEST

static json_t *listed(void);

/* What a client walking QEMU's tree sees: containers down to the balloon,
 * the vCPUs, the RAM backend; and the early queries. */
static json_t *schema_find(json_t *schema, const char *name)
{
	return qmp_find_named(schema, name);
}

START_TEST(test_qom_tree_and_queries)
{
	negotiate();
	json_t *v = ok("{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"/\"}}");
	char *d = json_dumps(v, 0);
	ck_assert_str_eq(d, "[{\"name\": \"type\", \"type\": \"string\"}, {\"name\": \"objects\", "
			    "\"type\": \"child<container>\"}, {\"name\": \"machine\", \"type\": "
			    "\"child<microvm-machine>\"}, {\"name\": \"chardevs\", \"type\": "
			    "\"child<container>\"}]");
	free(d);
	json_decref(v);
	/* Walk breadth first from / along child<> properties, as go-qemu's and
	 * libvirt's balloon lookups do, until a virtio-balloon-device. */
	json_t *todo = json_pack("[s]", "/");
	const char *found = NULL;
	unsigned objects = 0;
	for (size_t k = 0; k < json_array_size(todo) && objects < 100; k++, objects++) {
		const char *path = json_string_value(json_array_get(todo, k));
		char msg[512];
		snprintf(msg, sizeof(msg),
			 "{\"execute\": \"qom-list\", \"arguments\": {\"path\": \"%s\"}}", path);
		json_t *props = ok(msg);
		size_t i;
		json_t *p;
		json_array_foreach(props, i, p) {
			const char *name = json_string_value(json_object_get(p, "name"));
			const char *type = json_string_value(json_object_get(p, "type"));
			if (strncmp(type, "child<", 6))
				continue;
			char child[512];
			snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "",
				 name);
			if (!strcmp(type, "child<virtio-balloon-device>") && !found)
				found = strdup(child);
			json_array_append_new(todo, json_string(child));
		}
		json_decref(props);
	}
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(found, MONITOR_BALLOON_QOM_PATH);
	free((char *)found);
	/* / /objects /objects/microvm.ram /machine /machine/peripheral-anon
	 * /machine/peripheral-anon/device[0] /machine/peripheral
	 * /machine/unattached + 2 vCPUs /chardevs /chardevs/serial0 */
	ck_assert_uint_eq(json_array_size(todo), 12);
	json_decref(todo);
	v = ok("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine\", \"property\": "
	       "\"memory-backend\"}}");
	ck_assert_str_eq(json_string_value(v), "/objects/microvm.ram");
	json_decref(v);
	v = ok("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/objects/microvm.ram\", "
	       "\"property\": \"size\"}}");
	ck_assert_int_eq(json_integer_value(v), (json_int_t)RAM);
	json_decref(v);
	v = ok("{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
	       "\"/machine/unattached/device[1]\", \"property\": \"type\"}}");
	ck_assert_str_eq(json_string_value(v), "host-x86_64-cpu");
	json_decref(v);
	expect_error("{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
		     "\"/machine/unattached/device[2]\"}}",
		     "DeviceNotFound", "Device '/machine/unattached/device[2]' not found");
	expect_error("{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
		     "\"/machine/unattached/device[01]\"}}",
		     "DeviceNotFound", NULL);

	/* A path longer than any object's is not found, whatever its start. */
	char longp[1200];
	int lp = snprintf(longp, sizeof(longp),
			  "{\"execute\": \"qom-list\", \"arguments\": "
			  "{\"path\": \"/machine");
	memset(longp + lp, 'x', 1000);
	snprintf(longp + lp + 1000, sizeof(longp) - (size_t)lp - 1000, "\"}}");
	expect_error(longp, "DeviceNotFound", NULL);

	/* The queries, shaped as QEMU 7.2 answers them on microvm. */
	static const char *const want[][2] = {
		{ "query-name", "{}" },
		{ "query-uuid", "{\"UUID\": \"00000000-0000-0000-0000-000000000000\"}" },
		{ "query-target", "{\"arch\": \"x86_64\"}" },
		{ "query-current-machine", "{\"wakeup-suspend-support\": false}" },
		{ "query-block", "[]" },
		{ "query-block-jobs", "[]" },
		{ "query-blockstats", "[]" },
		{ "query-pci", "[]" },
		{ "query-iothreads", "[]" },
		{ "query-memory-devices", "[]" },
		{ "query-migrate", "{}" },
		{ "query-chardev",
		  "[{\"frontend-open\": true, \"filename\": \"stdio\", \"label\": \"serial0\"}]" },
		{ "query-memdev",
		  "[{\"share\": false, \"reserve\": true, \"prealloc\": false, \"host-nodes\": [], "
		  "\"size\": 268435456, \"merge\": true, \"dump\": true, \"policy\": \"default\", "
		  "\"id\": \"microvm.ram\"}]" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char msg[128];
		snprintf(msg, sizeof(msg), "{\"execute\": \"%s\"}", want[i][0]);
		v = ok(msg);
		d = json_dumps(v, JSON_ENCODE_ANY);
		ck_assert_msg(!strcmp(d, want[i][1]), "%s: %s", want[i][0], d);
		free(d);
		json_decref(v);
	}
	v = ok("{\"execute\": \"query-machines\"}");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 0), "name")),
			 "microvm");
	json_decref(v);
	expect_error("{\"execute\": \"query-hotpluggable-cpus\"}", "GenericError",
		     "The feature 'query-hotpluggable-cpus' is not enabled");
	v = ok("{\"execute\": \"query-command-line-options\", \"arguments\": {\"option\": "
	       "\"sandbox\"}}");
	ck_assert_uint_eq(json_array_size(v), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(v, 0), "parameters")), 6);
	json_decref(v);
	expect_error("{\"execute\": \"query-command-line-options\", \"arguments\": {\"option\": "
		     "\"nope\"}}",
		     "GenericError", "invalid option name: nope");

	/* The schema describes exactly the commands listed, with argument
	 * types that resolve. */
	json_t *schema = ok("{\"execute\": \"query-qmp-schema\"}");
	json_t *cmds = listed();
	size_t i, ncmd = 0;
	json_t *e;
	json_array_foreach(schema, i, e) {
		ncmd += !strcmp(json_string_value(json_object_get(e, "meta-type")), "command");
	}
	ck_assert_uint_eq(ncmd, json_array_size(cmds));
	json_array_foreach(cmds, i, e) {
		json_t *c = schema_find(schema, json_string_value(json_object_get(e, "name")));
		ck_assert_ptr_nonnull(c);
		json_t *a = schema_find(schema, json_string_value(json_object_get(c, "arg-type")));
		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(json_string_value(json_object_get(a, "meta-type")), "object");
		size_t k;
		json_t *m;
		json_array_foreach(json_object_get(a, "members"), k, m)
			ck_assert_ptr_nonnull(
				schema_find(schema, json_string_value(json_object_get(m, "type"))));
	}
	json_t *bal = schema_find(schema, "balloon");
	json_t *bargs = schema_find(schema, json_string_value(json_object_get(bal, "arg-type")));
	d = json_dumps(json_object_get(bargs, "members"), 0);
	ck_assert_str_eq(d, "[{\"name\": \"value\", \"type\": \"int\"}]");
	free(d);
	ck_assert_ptr_nonnull(schema_find(schema, "BALLOON_CHANGE"));
	json_decref(cmds);
	json_decref(schema);

	/* -name and -uuid from the configuration. */
	struct vm_config cfg;
	config_defaults(&cfg);
	snprintf(cfg.name, sizeof(cfg.name), "tiny");
	snprintf(cfg.uuid, sizeof(cfg.uuid), "12345678-1234-1234-1234-123456789abc");
	cfg.serial = SERIAL_NONE;
	cfg.qmp = (struct chardev_spec){ .set = true, .path = "/run/q.sock" };
	be.cfg = &cfg;
	v = ok("{\"execute\": \"query-name\"}");
	ck_assert_str_eq(json_string_value(json_object_get(v, "name")), "tiny");
	json_decref(v);
	v = ok("{\"execute\": \"query-uuid\"}");
	ck_assert_str_eq(json_string_value(json_object_get(v, "UUID")),
			 "12345678-1234-1234-1234-123456789abc");
	json_decref(v);
	v = ok("{\"execute\": \"query-chardev\"}");
	d = json_dumps(v, 0);
	ck_assert_str_eq(d, "[{\"frontend-open\": true, \"filename\": "
			    "\"unix:/run/q.sock,server=on\", \"label\": \"compat_monitor0\"}]");
	free(d);
	json_decref(v);
	/* An rng beside the balloon: device[1], of its own type. */
	cfg.rng = 1;
	v = ok("{\"execute\": \"qom-get\", \"arguments\": {\"path\": "
	       "\"/machine/peripheral-anon/device[1]\", \"property\": \"type\"}}");
	ck_assert_str_eq(json_string_value(v), "virtio-rng-device");
	json_decref(v);
	v = ok("{\"execute\": \"qom-list\", \"arguments\": {\"path\": "
	       "\"/machine/peripheral-anon\"}}");
	ck_assert_uint_eq(json_array_size(v), 3);
	json_decref(v);
	be.cfg = NULL;
}
END_TEST

START_TEST(test_human_monitor_command)
{
	negotiate();
	json_t *v = ok("{\"execute\": \"human-monitor-command\", "
		       "\"arguments\": {\"command-line\": \"info status\"}}");
	ck_assert_str_eq(json_string_value(v), "VM status: running\r\n");
	json_decref(v);
	v = ok("{\"execute\": \"human-monitor-command\", "
	       "\"arguments\": {\"command-line\": \"info balloon\", \"cpu-index\": 0}}");
	ck_assert_str_eq(json_string_value(v), "balloon: actual=256\r\n");
	json_decref(v);
	v = ok("{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"\"}}");
	ck_assert_str_eq(json_string_value(v), "");
	json_decref(v);
	v = ok("{\"execute\": \"human-monitor-command\", "
	       "\"arguments\": {\"command-line\": \"nope \\u00e9\\u0001\"}}");
	ck_assert_str_eq(json_string_value(v), "unknown command: 'nope'\r\n");
	json_decref(v);
	v = ok("{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"stop\"}}");
	ck_assert_int_eq(fk.stops, 1);
	json_decref(v);
	expect_error("{\"execute\": \"human-monitor-command\", \"arguments\": {}}", "GenericError",
		     "Parameter 'command-line' is missing");
}
END_TEST

/* ---- the command table ------------------------------------------------ */

/* query-commands' names (new reference). */
static json_t *listed(void)
{
	json_t *c = ok("{\"execute\": \"query-commands\"}");
	ck_assert(json_is_array(c));
	return c;
}

static int count_listed(json_t *list, const char *name)
{
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
		n += !strcmp(json_string_value(json_object_get(e, "name")), name);
	return n;
}

/* Every listed command is listed once and reaches its entry, from QMP and
 * through qmp_execute (as HMP calls it); arguments aside, none is "not
 * found". */
START_TEST(test_table_dispatch)
{
	negotiate();
	json_t *c = listed();
	ck_assert_uint_gt(json_array_size(c), 0);
	size_t i;
	json_t *e;
	json_array_foreach(c, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(count_listed(c, name), 1);
		char msg[256], nf[256];
		snprintf(msg, sizeof(msg), "{\"execute\": \"%s\", \"id\": %zu}", name, i);
		snprintf(nf, sizeof(nf), "The command %s has not been found", name);
		json_t *r = req(msg);
		json_t *err = json_object_get(r, "error");
		ck_assert_msg(!err || strcmp(json_string_value(json_object_get(err, "desc")), nf),
			      "%s is listed but not dispatched", name);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), (json_int_t)i);
		json_decref(r);
		struct qmp_error qe = { 0 };
		json_t *ret = qmp_execute(&ctx, name, NULL, &qe);
		ck_assert_msg(ret || (qe.cls && strcmp(qe.desc, nf)), "%s: %s", name, qe.desc);
		json_decref(ret);
	}
	/* HMP's command comes after QMP's own. */
	json_t *last = json_array_get(c, json_array_size(c) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "name")), "human-monitor-command");
	json_decref(c);
}
END_TEST

START_TEST(test_table_unknown)
{
	static const char *const names[] = {
		"no-such-command",
		"",
		"Query-Status",
		" stop",
		"stop ",
		"qmp-capabilities",
		"human_monitor_command",
		"x-after-end",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char msg[256], desc[256];
		snprintf(msg, sizeof(msg), "{\"execute\": \"%s\"}", names[i]);
		sess.negotiated = false;
		expect_error(msg, "CommandNotFound",
			     "Expecting capabilities negotiation with 'qmp_capabilities'");
		sess.negotiated = true;
		snprintf(desc, sizeof(desc), "The command %s has not been found", names[i]);
		expect_error(msg, "CommandNotFound", desc);
		struct qmp_error qe = { 0 };
		ck_assert_ptr_null(qmp_execute(&ctx, names[i], NULL, &qe));
		ck_assert_str_eq(qe.cls, "CommandNotFound");
		ck_assert_str_eq(qe.desc, desc);
	}
	/* Without HMP's table there is no human-monitor-command. */
	ctx.extra = NULL;
	expect_error("{\"execute\": \"human-monitor-command\", \"arguments\": "
		     "{\"command-line\": \"stop\"}}",
		     "CommandNotFound", "The command human-monitor-command has not been found");
	json_t *c = listed();
	ck_assert_int_eq(count_listed(c, "human-monitor-command"), 0);
	ck_assert_int_eq(count_listed(c, "query-status"), 1);
	json_decref(c);
	ck_assert_int_eq(fk.stops + fk.conts + fk.resets + fk.quits + fk.powerdowns, 0);
	ck_assert_int_eq(nevents, 0);
}
END_TEST

static int echo_calls;

static json_t *x_echo(const struct qmp_ctx *c, json_t *args, struct qmp_error *err)
{
	(void)err;
	ck_assert_ptr_eq(c, &ctx);
	ck_assert(json_is_object(args));
	echo_calls++;
	return json_pack("{s:O}", "args", args);
}

static json_t *x_fail(const struct qmp_ctx *c, json_t *args, struct qmp_error *err)
{
	(void)c;
	(void)args;
	err->cls = "DeviceNotActive";
	snprintf(err->desc, sizeof(err->desc), "x-fail failed");
	return NULL;
}

static json_t *x_never(const struct qmp_ctx *c, json_t *args, struct qmp_error *err)
{
	(void)c;
	(void)args;
	(void)err;
	ck_abort_msg("a shadowed or unlisted extra command ran");
	return NULL;
}

static const struct qmp_command extra_cmds[] = {
	{ "x-echo",
	  x_echo,
	  { { "n", QMP_ARG_INT, false },
	    { "s", QMP_ARG_STR, true },
	    { "b", QMP_ARG_BOOL, true },
	    { "a", QMP_ARG_ARRAY, true } } },
	{ "x-fail", x_fail, { { "any", QMP_ARG_ANY, true } } },
	{ "query-status", x_never, { { 0 } } }, /* QMP's own wins */
	{ 0 },
	{ "x-after-end", x_never, { { 0 } } },
};

/* The seam other modules hook commands in by: listed after QMP's own,
 * dispatched with the same table-driven argument checks and error texts. */
START_TEST(test_table_extra)
{
	static const struct qmp_command *const extra_tables[] = { extra_cmds, NULL };
	ctx.extra = extra_tables;
	negotiate();
	json_t *c = listed();
	ck_assert_uint_eq(json_array_size(c), 18); /* QMP's own 16, x-echo, x-fail */
	ck_assert_int_eq(count_listed(c, "x-echo"), 1);
	ck_assert_int_eq(count_listed(c, "x-fail"), 1);
	ck_assert_int_eq(count_listed(c, "query-status"), 1);
	ck_assert_int_eq(count_listed(c, "x-after-end"), 0);
	ck_assert_int_eq(count_listed(c, "human-monitor-command"), 0);
	json_decref(c);

	json_t *v = ok("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1, \"s\": \"x\", "
		       "\"b\": false, \"a\": []}}");
	ck_assert_uint_eq(json_object_size(json_object_get(v, "args")), 4);
	json_decref(v);
	ck_assert_int_eq(echo_calls, 1);
	expect_error("{\"execute\": \"x-echo\"}", "GenericError", "Parameter 'n' is missing");
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": \"1\"}}", "GenericError",
		     "Invalid parameter type for 'n', expected: integer");
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1, \"s\": 2}}",
		     "GenericError", "Invalid parameter type for 's', expected: string");
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1, \"b\": 0}}",
		     "GenericError", "Invalid parameter type for 'b', expected: boolean");
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1, \"a\": {}}}",
		     "GenericError", "Invalid parameter type for 'a', expected: array");
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1, \"z\": 0}}",
		     "GenericError", "Parameter 'z' is unexpected");
	ck_assert_int_eq(echo_calls, 1);
	expect_error("{\"execute\": \"x-fail\", \"arguments\": {\"any\": [null]}}",
		     "DeviceNotActive", "x-fail failed");
	v = ok("{\"execute\": \"query-status\"}");
	ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "running");
	json_decref(v);
	expect_error("{\"execute\": \"x-after-end\"}", "CommandNotFound", NULL);
	/* Before negotiation an extra command is as unknown as any other. */
	sess.negotiated = false;
	expect_error("{\"execute\": \"x-echo\", \"arguments\": {\"n\": 1}}", "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	ck_assert_int_eq(echo_calls, 1);
}
END_TEST

/* human-monitor-command is HMP's (hmp_qmp_commands), hooked in through
 * qmp_ctx.extra; its HMP line runs on the same context. */
START_TEST(test_table_hmp_seam)
{
	negotiate();
	json_t *v = ok("{\"execute\": \"human-monitor-command\", "
		       "\"arguments\": {\"command-line\": \"help info\"}}");
	ck_assert_ptr_nonnull(strstr(json_string_value(v), "info status  -- "));
	ck_assert_ptr_nonnull(strstr(json_string_value(v), "\r\n"));
	json_decref(v);
	v = ok("{\"execute\": \"human-monitor-command\", "
	       "\"arguments\": {\"command-line\": \"q\"}}");
	ck_assert_str_eq(json_string_value(v), "");
	json_decref(v);
	ck_assert_int_eq(fk.quits, 1);
	expect_event(0, "SHUTDOWN");
	expect_error("{\"execute\": \"human-monitor-command\", "
		     "\"arguments\": {\"command-line\": 1}}",
		     "GenericError", "Invalid parameter type for 'command-line', expected: string");
	expect_error("{\"execute\": \"human-monitor-command\", "
		     "\"arguments\": {\"command-line\": \"\", \"cpu-index\": \"0\"}}",
		     "GenericError", "Invalid parameter type for 'cpu-index', expected: integer");
	expect_error("{\"execute\": \"human-monitor-command\", "
		     "\"arguments\": {\"command-line\": \"\", \"x\": 0}}",
		     "GenericError", "Parameter 'x' is unexpected");
	/* From C, as HMP itself would call it. */
	json_t *args = json_pack("{s:s}", "command-line", "info kvm");
	struct qmp_error qe = { 0 };
	v = qmp_execute(&ctx, "human-monitor-command", args, &qe);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_string_value(v), "kvm support: enabled\r\n");
	json_decref(v);
	json_decref(args);
}
END_TEST

/* Every ShutdownCause with QEMU's name, on SHUTDOWN and RESET alike. */
START_TEST(test_shutdown_causes)
{
	static const char *const want[] = {
		"none",        "host-error",      "host-qmp-quit",  "host-qmp-system-reset",
		"host-signal", "host-ui",         "guest-shutdown", "guest-reset",
		"guest-panic", "subsystem-reset", "snapshot-load",
	};
	ck_assert_int_eq(SHUTDOWN_CAUSE__MAX, (int)ARRAY_SIZE(want));
	for (int i = 0; i <= SHUTDOWN_CAUSE__MAX; i++) {
		qmp_emit_cause(&ctx, i % 2 ? "RESET" : "SHUTDOWN", i % 2, (enum shutdown_cause)i);
		json_t *ev = event_json(i);
		ck_assert_str_eq(json_string_value(json_object_get(ev, "event")),
				 i % 2 ? "RESET" : "SHUTDOWN");
		json_t *d = json_object_get(ev, "data");
		expect_keys(d, (const char *[]){ "guest", "reason", NULL });
		ck_assert(json_boolean_value(json_object_get(d, "guest")) == (i % 2));
		/* Past the end (a caller's bug): "none", not a crash. */
		ck_assert_str_eq(json_string_value(json_object_get(d, "reason")),
				 i < SHUTDOWN_CAUSE__MAX ? want[i] : "none");
		json_decref(ev);
	}
	/* No event sink: dropped. */
	ctx.event = NULL;
	qmp_emit_cause(&ctx, "SHUTDOWN", false, SHUTDOWN_CAUSE_HOST_UI);
	ck_assert_int_eq(nevents, SHUTDOWN_CAUSE__MAX + 1);
}
END_TEST

/* ---- malformed input -------------------------------------------------- */

START_TEST(test_bad_messages)
{
	expect_error("[1]", "GenericError", "QMP input must be a JSON object");
	expect_error("\"str\"", "GenericError", "QMP input must be a JSON object");
	expect_error("1", "GenericError", "QMP input must be a JSON object");
	expect_error("null", "GenericError", "QMP input must be a JSON object");
	json_t *r = req("garbage");
	const char *d = json_string_value(json_object_get(json_object_get(r, "error"), "desc"));
	ck_assert_msg(!strncmp(d, "JSON parse error, ", 18), "%s", d);
	json_decref(r);
	expect_error("{\"execute\":", "GenericError", NULL);
	expect_error("{\"a\": 1, \"a\": 2}", "GenericError", NULL); /* duplicate key, as QEMU */
	expect_error("\xff\xfe{}", "GenericError", NULL);
	expect_error("{\"execute\": \"\xc3\"}", "GenericError", NULL);
	negotiate();
	expect_error("{}", "GenericError", "QMP input lacks member 'execute'");
	expect_error("{\"execute\": 1}", "GenericError",
		     "QMP input member 'execute' must be a string");
	expect_error("{\"execute\": \"query-status\", \"arguments\": []}", "GenericError",
		     "QMP input member 'arguments' must be an object");
	expect_error("{\"execute\": \"query-status\", \"arguments\": null}", "GenericError",
		     "QMP input member 'arguments' must be an object");
	expect_error("{\"execute\": \"query-status\", \"bar\": 1}", "GenericError",
		     "QMP input member 'bar' is unexpected");
	expect_error("{\"exec-oob\": \"query-status\"}", "GenericError",
		     "QMP input member 'exec-oob' is unexpected");
	expect_error("{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}", "GenericError",
		     "Parameter 'x' is unexpected");
	expect_error("{\"execute\": \"foo\"}", "CommandNotFound",
		     "The command foo has not been found");
	/* A huge command name is cut in the desc, still valid UTF-8. */
	char big[2000];
	int n = snprintf(big, sizeof(big), "{\"execute\": \"");
	for (int i = 0; i < 600; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "\xc3\xa9");
	snprintf(big + n, sizeof(big) - (size_t)n, "\"}");
	expect_error(big, "CommandNotFound", NULL);
	ck_assert_int_eq(fk.stops + fk.conts + fk.resets + fk.quits, 0);
}
END_TEST

struct collect {
	int messages;
	size_t max_len;
	int errors;
};

static int count_reply(void *opaque, const char *msg, size_t len)
{
	struct collect *c = opaque;
	c->messages++;
	c->max_len = MAX(c->max_len, len);
	char *out = qmp_handle(&ctx, &sess, msg, len);
	ck_assert_ptr_nonnull(out);
	json_t *j = json_loads(out, 0, NULL);
	ck_assert_msg(j && json_object_get(j, "error"), "not an error: %s", out);
	c->errors++;
	json_decref(j);
	free(out);
	return 0;
}

/* Thousands of malformed messages: every one gets an error, nothing in
 * the VM changes. */
START_TEST(test_bulk_garbage)
{
	static const char *const seeds[] = {
		"{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}",
		"{\"execute\": \"quit\", \"arguments\": {\"now\": true}}",
		"{\"execute\": \"system_reset\", \"arguments\": {\"a\": [1, 2]}}",
		"{\"execute\": \"cont\", \"arguments\": {\"b\": \"c\"}}",
		"{\"execute\": \"balloon\", \"arguments\": {\"value\": \"1G\"}}",
		"{\"execute\": \"balloon\", \"arguments\": {\"value\": 0}}",
	};
	static const char alphabet[] = "{}[]\":,\\ \n\tabcdeu0123456789.-+etrufalsn\x01\xff";
	struct balloon_info before, after;
	struct qmp_framer *f = qmp_framer_new(4096);
	struct collect col = { 0 };
	unsigned seed = 12345;

	ck_assert_int_eq(balloon_set_target(bal, 200 * MiB), 0);
	balloon_query(bal, &before);
	for (int round = 0; round < 2; round++) {
		sess.negotiated = round == 1;
		for (int i = 0; i < 3000; i++) {
			char buf[512];
			size_t len;
			int kind = rand_r(&seed) % 3;
			if (kind == 0) {
				/* random bytes from a JSON-ish alphabet */
				len = (size_t)(rand_r(&seed) % 200);
				for (size_t k = 0; k < len; k++)
					buf[k] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
			} else {
				/* a seed with one byte changed, inserted or cut short */
				const char *s = seeds[rand_r(&seed) % ARRAY_SIZE(seeds)];
				len = strlen(s);
				memcpy(buf, s, len);
				size_t at = (size_t)rand_r(&seed) % len;
				if (kind == 1)
					buf[at] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
				else
					len = at;
			}
			/* As a whole message, then as part of one stream. */
			count_reply(&col, buf, len);
			buf[len++] = '\n';
			int ret = qmp_framer_feed(f, buf, len, count_reply, &col);
			if (ret == -E2BIG) {
				qmp_framer_free(f);
				f = qmp_framer_new(4096);
				ck_assert_ptr_nonnull(f);
			} else {
				ck_assert_int_eq(ret, 0);
			}
		}
	}
	qmp_framer_free(f);
	ck_assert_int_gt(col.messages, 6000);
	ck_assert_int_eq(col.errors, col.messages);
	ck_assert_uint_le(col.max_len, 4096);
	ck_assert_int_eq(fk.stops + fk.conts + fk.resets + fk.quits + fk.powerdowns, 0);
	ck_assert(fk.running);
	balloon_query(bal, &after);
	ck_assert_uint_eq(after.target_pages, before.target_pages);
	ck_assert_int_eq(nevents, 0);
}
END_TEST

/* ---- framing ---------------------------------------------------------- */

struct msgs {
	int n;
	char m[16][256];
};

static int keep(void *opaque, const char *msg, size_t len)
{
	struct msgs *m = opaque;
	ck_assert_int_lt(m->n, 16);
	ck_assert_uint_lt(len, 256);
	memcpy(m->m[m->n], msg, len);
	m->m[m->n][len] = '\0';
	m->n++;
	return 0;
}

static void frame(const char *in, bool bytewise, struct msgs *out)
{
	struct qmp_framer *f = qmp_framer_new(1024);
	memset(out, 0, sizeof(*out));
	if (bytewise) {
		for (size_t i = 0; in[i]; i++)
			ck_assert_int_eq(qmp_framer_feed(f, in + i, 1, keep, out), 0);
	} else {
		ck_assert_int_eq(qmp_framer_feed(f, in, strlen(in), keep, out), 0);
	}
	qmp_framer_free(f);
}

START_TEST(test_framer)
{
	static const char in[] = "{\"execute\":\n \"stop\"}{\"a\": [1, {\"b\": \"}]\\\"{\"}]}\r\n"
				 "  garbage  1 \"str\\\"}\" } [1,\n2]\n{\"x\":1";
	static const char *const want[] = {
		"{\"execute\":\n \"stop\"}",
		"{\"a\": [1, {\"b\": \"}]\\\"{\"}]}",
		"garbage",
		"1",
		"\"str\\\"}\"",
		"}",
		"[1,\n2]",
	};
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct msgs m;
		frame(in, bytewise, &m);
		ck_assert_int_eq(m.n, (int)ARRAY_SIZE(want));
		for (size_t i = 0; i < ARRAY_SIZE(want); i++)
			ck_assert_str_eq(m.m[i], want[i]);
	}
	/* QEMU's streamer counts braces and brackets together. */
	struct msgs m;
	frame("{\"a\":1 ]", false, &m);
	ck_assert_int_eq(m.n, 1);
}
END_TEST

START_TEST(test_framer_limit)
{
	struct qmp_framer *f = qmp_framer_new(64);
	struct msgs m = { 0 };
	char buf[65];
	memset(buf, '[', sizeof(buf));
	ck_assert_int_eq(qmp_framer_feed(f, buf, 64, keep, &m), 0);
	ck_assert_int_eq(qmp_framer_feed(f, buf, 1, keep, &m), -E2BIG);
	ck_assert_int_eq(qmp_framer_feed(f, "{}", 2, keep, &m), -E2BIG);
	ck_assert_int_eq(m.n, 0);
	qmp_framer_free(f);
	/* Exactly at the limit is fine. */
	f = qmp_framer_new(4);
	ck_assert_int_eq(qmp_framer_feed(f, "{\"\"}", 4, keep, &m), 0);
	ck_assert_int_eq(m.n, 1);
	qmp_framer_free(f);
}
END_TEST

START_TEST(test_event_format)
{
	json_t *data = json_pack("{s:I}", "actual", (json_int_t)123);
	char *s = qmp_event_format("BALLOON_CHANGE", data);
	json_decref(data);
	json_t *e = json_loads(s, 0, NULL);
	ck_assert_ptr_nonnull(e);
	expect_keys(e, (const char *[]){ "timestamp", "event", "data", NULL });
	json_t *ts = json_object_get(e, "timestamp");
	expect_keys(ts, (const char *[]){ "seconds", "microseconds", NULL });
	json_int_t sec = json_integer_value(json_object_get(ts, "seconds"));
	ck_assert_int_le(llabs((long long)(sec - time(NULL))), 2);
	json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));
	ck_assert(us >= 0 && us < 1000000);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "data"), "actual")),
			 123);
	ck_assert_ptr_nonnull(
		strstr(s, "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 123}"));
	json_decref(e);
	free(s);
	s = qmp_event_format("STOP", NULL);
	ck_assert_ptr_null(strstr(s, "data"));
	free(s);
}
END_TEST

/* ---- monitor: sockets, clients, events -------------------------------- */

static struct evloop *loop;
static struct monitor *mon;
static char dir[64];

static void mon_setup(void)
{
	setup();
	loop = evloop_new();
	ck_assert_ptr_nonnull(loop);
	ck_assert_int_eq(monitor_new(&be, loop, &mon), 0);
	snprintf(dir, sizeof(dir), "/tmp/memvm-qmp-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void mon_teardown(void)
{
	monitor_free(mon);
	evloop_free(loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	teardown();
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	do {
		ck_assert_int_eq(evloop_run_once(loop, 5), 0);
	} while (now_ms() < end);
}

/* A test-side client: reads lines while pumping the loop. */
struct tclient {
	int fd;
	char buf[1 << 16];
	size_t len;
};

/* Next "\r\n"-terminated line (without it), or NULL after timeout/EOF. */
static char *tc_line(struct tclient *t, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		char *nl = memmem(t->buf, t->len, "\r\n", 2);
		if (nl) {
			size_t n = (size_t)(nl - t->buf);
			char *line = strndup(t->buf, n);
			memmove(t->buf, t->buf + n + 2, t->len - n - 2);
			t->len -= n + 2;
			return line;
		}
		if (now_ms() >= end)
			return NULL;
		ck_assert_int_eq(evloop_run_once(loop, 5), 0);
		ssize_t r = recv(t->fd, t->buf + t->len, sizeof(t->buf) - t->len, MSG_DONTWAIT);
		if (r == 0)
			return NULL;
		if (r > 0)
			t->len += (size_t)r;
	}
}

static void tc_send(struct tclient *t, const char *s)
{
	ck_assert_int_eq(send(t->fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Sends while pumping the loop; stops quietly once the peer has closed. */
static void tc_send_all(struct tclient *t, const char *p, size_t n)
{
	while (n) {
		ssize_t r = send(t->fd, p, MIN(n, (size_t)65536), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EPIPE)
			return;
		if (r < 0) {
			ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s",
				      strerror(errno));
			ck_assert_int_eq(evloop_run_once(loop, 5), 0);
			continue;
		}
		p += r;
		n -= (size_t)r;
	}
}

static bool tc_closed(struct tclient *t, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (now_ms() < end) {
		pump(5);
		char b[4096];
		ssize_t r = recv(t->fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

/* Reads until needle has arrived, dropping what came before it. */
static void tc_wait_for(struct tclient *t, const char *needle)
{
	size_t nl = strlen(needle);
	uint64_t end = now_ms() + 5000;
	while (!memmem(t->buf, t->len, needle, nl)) {
		ck_assert_msg(now_ms() < end, "'%s' did not arrive", needle);
		if (t->len > nl) { /* keep a tail that may start the needle */
			memmove(t->buf, t->buf + t->len - nl, nl);
			t->len = nl;
		}
		ck_assert_int_eq(evloop_run_once(loop, 5), 0);
		ssize_t r = recv(t->fd, t->buf + t->len, sizeof(t->buf) - t->len, MSG_DONTWAIT);
		if (r > 0)
			t->len += (size_t)r;
	}
	t->len = 0;
}

static void tc_expect(struct tclient *t, const char *needle)
{
	char *l = tc_line(t, 2000);
	ck_assert_msg(l != NULL, "no line (wanted %s)", needle);
	ck_assert_msg(strstr(l, needle) != NULL, "line '%s' lacks '%s'", l, needle);
	free(l);
}

static void tc_pair(struct tclient *t, enum monitor_proto proto)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(monitor_attach_fd(mon, proto, sv[1], sv[1], true), 0);
	t->fd = sv[0];
	t->len = 0;
}

static void tc_connect(struct tclient *t, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t->len = 0;
	ck_assert_int_eq(connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void tc_negotiate(struct tclient *t)
{
	tc_expect(t, "{\"QMP\": ");
	tc_send(t, "{\"execute\": \"qmp_capabilities\"}\n");
	tc_expect(t, "{\"return\": {}}");
}

START_TEST(test_monitor_pair_and_events)
{
	struct tclient a, b;
	tc_pair(&a, MONITOR_QMP);
	tc_pair(&b, MONITOR_QMP);
	tc_negotiate(&a);
	tc_expect(&b, "{\"QMP\": "); /* b never negotiates: no events */
	ck_assert_uint_eq(monitor_client_count(mon), 2);

	/* Event before the reply, as QEMU; CRLF line ends. */
	tc_send(&a, "{\"execute\": \"stop\", \"id\": 5}");
	tc_expect(&a, "\"event\": \"STOP\"");
	tc_expect(&a, "{\"return\": {}, \"id\": 5}");
	monitor_event_shutdown(mon, true, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
	tc_expect(
		&a,
		"\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}");
	monitor_event_reset(mon, true, SHUTDOWN_CAUSE_GUEST_RESET);
	tc_expect(&a, "\"event\": \"RESET\", "
		      "\"data\": {\"guest\": true, \"reason\": \"guest-reset\"}");
	monitor_event_shutdown(mon, false, SHUTDOWN_CAUSE_HOST_SIGNAL);
	tc_expect(&a, "\"event\": \"SHUTDOWN\", "
		      "\"data\": {\"guest\": false, \"reason\": \"host-signal\"}");
	monitor_event_shutdown(NULL, false, SHUTDOWN_CAUSE_HOST_UI);
	monitor_event_reset(NULL, false, SHUTDOWN_CAUSE_HOST_UI);
	monitor_balloon_changed(NULL, 1);

	/* b got none of it; its first message is still a negotiation error. */
	tc_send(&b, "{\"execute\": \"query-status\"}\n");
	tc_expect(&b, "Expecting capabilities negotiation");

	/* Two messages in one write, one split over two writes. */
	tc_send(&a, "{\"execute\":\"query-kvm\"}{\"execute\":\"query-status\",");
	tc_expect(&a, "\"present\": true");
	tc_send(&a, "\"id\":\"x\"}");
	tc_expect(&a, "\"id\": \"x\"");

	close(b.fd);
	pump(50);
	ck_assert_uint_eq(monitor_client_count(mon), 1);
	close(a.fd);
	pump(50);
	ck_assert_uint_eq(monitor_client_count(mon), 0);
}
END_TEST

static void *poster(void *opaque)
{
	for (uint64_t v = 1; v <= 1000; v++) {
		monitor_balloon_changed(opaque, v);
		if (v % 100 == 0)
			usleep(1000);
	}
	return NULL;
}

/* X_BALLOON_TARGET_REACHED: once when actual gets to the target, again
 * only after it left it; none for a full balloon at start. */
START_TEST(test_balloon_target_reached)
{
	struct tclient a;
	ck_assert_int_eq(monitor_set_event_throttle(mon, "BALLOON_CHANGE", 0), 0);
	tc_pair(&a, MONITOR_QMP);
	tc_negotiate(&a);
	monitor_balloon_changed(mon, RAM); /* the driver's first actual: full */
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	ck_assert_ptr_null(tc_line(&a, 50));
	ck_assert_int_eq(balloon_set_target(bal, 100 * MiB), 0);
	monitor_balloon_changed(mon, 150 * MiB);
	tc_expect(&a, "\"actual\": 157286400}");
	ck_assert_ptr_null(tc_line(&a, 50)); /* not there yet */
	monitor_balloon_changed(mon, 100 * MiB);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	tc_expect(&a, "\"event\": \"X_BALLOON_TARGET_REACHED\", \"data\": {\"target\": 104857600, "
		      "\"actual\": 104857600}}");
	monitor_balloon_changed(mon, 100 * MiB);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	ck_assert_ptr_null(tc_line(&a, 50)); /* once per target */
	monitor_balloon_changed(mon, 101 * MiB);
	pump(20); /* (changes the loop has not seen yet coalesce) */
	monitor_balloon_changed(mon, 100 * MiB);
	pump(50);
	int reached = 0;
	char *l;
	while ((l = tc_line(&a, 50))) {
		reached += strstr(l, "X_BALLOON_TARGET_REACHED") != NULL;
		free(l);
	}
	ck_assert_int_eq(reached, 1); /* it left and came back */
	/* The guest grows past the target by itself (deflate-on-oom): one
	 * X_BALLOON_OOM_DEFLATE per episode. */
	monitor_balloon_changed(mon, 110 * MiB);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	tc_expect(&a, "\"event\": \"X_BALLOON_OOM_DEFLATE\", \"data\": {\"target\": 104857600, "
		      "\"actual\": 115343360}}");
	monitor_balloon_changed(mon, 120 * MiB);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	ck_assert_ptr_null(tc_line(&a, 50));
	/* Shrinking towards a new, lower target is no OOM deflation. */
	ck_assert_int_eq(balloon_set_target(bal, 50 * MiB), 0);
	monitor_balloon_changed(mon, 90 * MiB);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\"");
	ck_assert_ptr_null(tc_line(&a, 50));
	close(a.fd);
}
END_TEST

START_TEST(test_balloon_change_throttle)
{
	struct tclient a;
	ck_assert_int_eq(monitor_set_event_throttle(mon, "STOP", 10), -ENOENT);
	ck_assert_int_eq(monitor_set_event_throttle(mon, "BALLOON_CHANGE", 300), 0);
	tc_pair(&a, MONITOR_QMP);
	tc_negotiate(&a);

	uint64_t t0 = now_ms();
	monitor_balloon_changed(mon, 100 * MiB); /* first: at once */
	tc_expect(&a, "\"data\": {\"actual\": 104857600}");
	ck_assert_uint_lt(now_ms() - t0, 200);
	monitor_balloon_changed(mon, 90 * MiB);
	pump(20);
	monitor_balloon_changed(mon, 80 * MiB);
	pump(20);
	monitor_balloon_changed(mon, 70 * MiB); /* only the latest survives */
	char *l = tc_line(&a, 2000);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(strstr(l, "\"actual\": 73400320"));
	ck_assert_uint_ge(now_ms() - t0, 250);
	free(l);
	/* Window closes with nothing pending; the next one goes at once. */
	pump(700);
	ck_assert_ptr_null(tc_line(&a, 10));
	t0 = now_ms();
	monitor_balloon_changed(mon, 60 * MiB);
	tc_expect(&a, "\"actual\": 62914560");
	ck_assert_uint_lt(now_ms() - t0, 200);

	/* Unthrottled, from another thread while the loop runs here: every
	 * event is a valid line and the last value arrives. */
	ck_assert_int_eq(monitor_set_event_throttle(mon, "BALLOON_CHANGE", 0), 0);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, poster, mon), 0);
	bool last = false;
	for (int i = 0; i < 5000 && !last; i++) {
		l = tc_line(&a, 2000);
		ck_assert_ptr_nonnull(l);
		ck_assert_ptr_nonnull(strstr(l, "\"event\": \"BALLOON_CHANGE\""));
		last = strstr(l, "\"actual\": 1000}") != NULL;
		free(l);
	}
	ck_assert(last);
	pthread_join(th, NULL);
	close(a.fd);
}
END_TEST

/* The monitor wires HMP's human-monitor-command into QMP itself. */
START_TEST(test_monitor_hmp_seam)
{
	struct tclient a;
	tc_pair(&a, MONITOR_QMP);
	tc_negotiate(&a);
	tc_send(&a, "{\"execute\": \"human-monitor-command\", "
		    "\"arguments\": {\"command-line\": \"info status\"}, \"id\": 1}");
	tc_expect(&a, "{\"return\": \"VM status: running\\r\\n\", \"id\": 1}");
	tc_send(&a, "{\"execute\": \"query-commands\"}");
	tc_expect(&a, "{\"name\": \"human-monitor-command\"}]}");
	close(a.fd);
}
END_TEST

/* A monitor created before its devices: the backend is copied, the
 * balloon and RAM come later through functions, and BALLOON_CHANGE comes
 * straight from the balloon's callback. */
START_TEST(test_monitor_late_devices)
{
	monitor_free(mon);
	struct monitor_backend early = be;
	early.balloon = NULL;
	ck_assert_int_eq(monitor_new(&early, loop, &mon), 0);
	memset(&early, 0, sizeof(early)); /* not referenced */
	struct tclient a;
	tc_pair(&a, MONITOR_QMP);
	tc_negotiate(&a);
	tc_send(&a, "{\"execute\": \"query-status\"}");
	tc_expect(&a, "\"status\": \"running\"");
	tc_send(&a, "{\"execute\": \"query-balloon\"}");
	tc_expect(&a, "{\"error\": {\"class\": \"DeviceNotActive\", "
		      "\"desc\": \"No balloon device has been activated\"}}");

	/* The balloon reports to the monitor with no trampoline in between. */
	struct balloon *late;
	static const struct guest_ram_ops mem = { .discard = f_discard };
	struct balloon_config bc = {
		.ram_size = RAM,
		.gm = gm,
		.mem = &mem,
		.on_actual_change = monitor_balloon_changed,
		.opaque = mon,
	};
	ck_assert_int_eq(balloon_new(&bc, &late), 0);
	monitor_set_balloon(mon, late);
	tc_send(&a, "{\"execute\": \"query-balloon\"}");
	tc_expect(&a, "{\"return\": {\"actual\": 268435456}}");
	struct virtio_device d = balloon_virtio_device(late);
	uint32_t pages = htole32(256); /* the guest gave 1 MiB */
	d.ops->config_write(d.dev, 4, &pages, 4);
	tc_expect(&a, "\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 267386880}");
	tc_send(&a, "{\"execute\": \"query-balloon\"}");
	tc_expect(&a, "{\"return\": {\"actual\": 267386880}}");
	monitor_set_balloon(mon, NULL);
	tc_send(&a, "{\"execute\": \"query-balloon\"}");
	tc_expect(&a, "DeviceNotActive");
	balloon_free(late);

	struct ram_config rc;
	struct ram *ram;
	char err[256];
	ram_config_init(&rc, 8 * MiB);
	rc.progress = false;
	ck_assert_int_eq(ram_map(&rc, &ram, err, sizeof(err)), 0);
	tc_send(&a, "{\"execute\": \"x-query-memvm-memory\"}");
	tc_expect(&a, "{\"return\": {\"ram-size\": 268435456}}");
	monitor_set_ram(mon, ram);
	tc_send(&a, "{\"execute\": \"x-query-memvm-memory\"}");
	tc_expect(&a, "\"backing\": \"anonymous\"");
	monitor_set_ram(mon, NULL);
	tc_send(&a, "{\"execute\": \"x-query-memvm-memory\"}");
	tc_expect(&a, "{\"return\": {\"ram-size\": 268435456}}");
	ram_unmap(ram);
	close(a.fd);
}
END_TEST

START_TEST(test_unix_socket)
{
	char err[256];
	struct stat st;
	struct chardev_spec spec = { .set = true };
	snprintf(spec.path, sizeof(spec.path), "%s/qmp.sock", dir);
	const char *path = spec.path;
	mode_t old = umask(0); /* 0600 must not depend on the caller's umask */
	ck_assert_int_eq(monitor_add_qmp(mon, &spec, err, sizeof(err)), 0);
	umask(old);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	/* 16 clients at once, each with its own negotiation state. */
	struct tclient *c = calloc(16, sizeof(*c));
	for (int i = 0; i < 16; i++)
		tc_connect(&c[i], path);
	for (int i = 0; i < 16; i++)
		tc_expect(&c[i], "{\"QMP\": ");
	for (int i = 0; i < 16; i += 2) {
		tc_send(&c[i], "{\"execute\": \"qmp_capabilities\"}");
		tc_expect(&c[i], "{\"return\": {}}");
	}
	ck_assert_uint_eq(monitor_client_count(mon), 16);
	for (int i = 0; i < 16; i++) {
		char msg[64];
		snprintf(msg, sizeof(msg), "{\"execute\": \"query-status\", \"id\": %d}", i);
		tc_send(&c[i], msg);
	}
	for (int i = 0; i < 16; i++) {
		char *l = tc_line(&c[i], 2000);
		char id[32], id_first[32];
		snprintf(id, sizeof(id), "\"id\": %d}", i);
		snprintf(id_first, sizeof(id_first), "{\"id\": %d, \"error\"",
			 i); /* QEMU's order */
		ck_assert_ptr_nonnull(l);
		ck_assert(strstr(l, id) || !strncmp(l, id_first, strlen(id_first)));
		ck_assert_ptr_nonnull(
			strstr(l, i % 2 ? "Expecting capabilities" : "\"status\": \"running\""));
		free(l);
	}
	for (int i = 0; i < 16; i++)
		close(c[i].fd);
	free(c);
	pump(50);
	ck_assert_uint_eq(monitor_client_count(mon), 0);

	/* A live socket is refused, with a one-line reason. */
	struct monitor *m2;
	ck_assert_int_eq(monitor_new(&be, loop, &m2), 0);
	ck_assert_int_eq(monitor_add_qmp(m2, &spec, err, sizeof(err)), -EADDRINUSE);
	ck_assert_ptr_nonnull(strstr(err, "in use"));
	ck_assert_ptr_null(strchr(err, '\n'));
	/* A regular file is not replaced. */
	struct chardev_spec file = spec;
	snprintf(file.path, sizeof(file.path), "%s/file", dir);
	int fd = open(file.path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ck_assert_int_eq(monitor_add_hmp(m2, &file, err, sizeof(err)), -EEXIST);
	ck_assert_int_eq(access(file.path, F_OK), 0);
	/* A stale socket (no listener) is replaced. */
	struct chardev_spec stale = spec;
	snprintf(stale.path, sizeof(stale.path), "%s/stale.sock", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(monitor_add_hmp(m2, &stale, err, sizeof(err)), 0);
	struct tclient h;
	tc_connect(&h, stale.path);
	tc_expect(&h, "QEMU 7.2.0 monitor - type 'help' for more information");
	tc_send(&h, "info status\n");
	char *l = tc_line(&h, 2000); /* the prompt and the echo share the line */
	ck_assert_str_eq(l, "(qemu) info status");
	free(l);
	l = tc_line(&h, 2000);
	ck_assert_str_eq(l, "VM status: running");
	free(l);
	close(h.fd);
	/* No such directory: a clear error, nothing left behind. */
	struct chardev_spec nodir = { .set = true };
	snprintf(nodir.path, sizeof(nodir.path), "%s/no/such.sock", dir);
	ck_assert_int_eq(monitor_add_qmp(m2, &nodir, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no/such.sock"));
	monitor_free(m2);
	ck_assert_int_ne(access(stale.path, F_OK), 0); /* removed at exit */
	ck_assert_int_eq(access(path, F_OK), 0);       /* not m2's */
	monitor_free(mon);
	mon = NULL;
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_slow_and_bad_clients)
{
	struct tclient slow, big, good, hmp;
	tc_pair(&slow, MONITOR_QMP);
	tc_pair(&good, MONITOR_QMP);
	tc_negotiate(&slow);
	tc_negotiate(&good);
	/* Never reads: dropped once MONITOR_MAX_OUTPUT waits, the others are
	 * unaffected. */
	int one = 4096;
	ck_assert_int_eq(setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
	const char *q = "{\"execute\": \"query-commands\"}";
	for (int i = 0; i < 400000 && monitor_client_count(mon) == 2; i++) {
		if (send(slow.fd, q, strlen(q), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			pump(5);
		ck_assert_int_eq(evloop_run_once(loop, 0), 0);
	}
	pump(50);
	ck_assert_uint_eq(monitor_client_count(mon), 1);
	tc_send(&good, "{\"execute\": \"query-status\"}");
	tc_expect(&good, "\"running\": true");
	close(slow.fd);

	/* 1 MiB in one message is taken (QEMU takes it too). */
	tc_pair(&big, MONITOR_QMP);
	tc_negotiate(&big);
	size_t mib = 1024 * 1024, n = MONITOR_MAX_MESSAGE + 8 * mib;
	char *buf = malloc(n);
	int len = snprintf(buf, n, "{\"execute\": \"query-status\", \"arguments\": {\"x\": \"");
	memset(buf + len, 'x', mib);
	memcpy(buf + len + mib, "\"}}", 3);
	tc_send_all(&big, buf, (size_t)len + mib + 3);
	tc_expect(&big, "\"Parameter 'x' is unexpected\"");
	tc_send(&big, "{\"execute\": \"query-status\"}");
	tc_expect(&big, "\"running\": true");
	/* Over MONITOR_MAX_MESSAGE: an error the client reads even while it is
	 * still writing (no broken pipe first), then the connection closes. */
	memset(buf, '[', n);
	tc_send_all(&big, buf, n);
	tc_expect(&big, "too large (limit 16 MiB)");
	ck_assert(tc_closed(&big, 2000));
	close(big.fd);

	/* HMP line over 64 KiB. */
	tc_pair(&hmp, MONITOR_HMP);
	tc_expect(&hmp, "monitor - type 'help'");
	memset(buf, 'x', 70000);
	ck_assert_int_eq(send(hmp.fd, buf, 70000, MSG_NOSIGNAL), 70000);
	tc_wait_for(&hmp, "line too long");
	ck_assert(tc_closed(&hmp, 2000));
	close(hmp.fd);
	free(buf);

	/* Disconnect mid-message and mid-reply. */
	struct tclient mid;
	tc_pair(&mid, MONITOR_QMP);
	tc_send(&mid, "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"query-");
	close(mid.fd);
	pump(50);
	tc_send(&good, "{\"execute\": \"query-status\"}");
	tc_expect(&good, "\"running\": true");
	ck_assert_uint_eq(monitor_client_count(mon), 1);
	ck_assert_int_eq(fk.stops + fk.conts + fk.quits + fk.resets, 0);
	close(good.fd);
}
END_TEST

START_TEST(test_hmp_client)
{
	struct tclient h;
	tc_pair(&h, MONITOR_HMP);
	tc_expect(&h, "QEMU 7.2.0 monitor - type 'help' for more information");
	/* LF, CR LF and a lone CR each end one line; output is CR LF, and the
	 * input is echoed as QEMU's readline echoes it: QEMU's transcript. */
	tc_send(&h, "info status\nstop\r\ninfo status\rinfo \001balloon\n");
	static const char *const want[] = {
		"(qemu) info status",  "VM status: running", "(qemu) stop",
		"(qemu) info status",  "VM status: paused",  "(qemu) info balloon",
		"balloon: actual=256",
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *l = tc_line(&h, 2000);
		ck_assert_ptr_nonnull(l);
		ck_assert_str_eq(l, want[i]);
		free(l);
	}
	ck_assert_int_eq(fk.stops, 1);
	/* The prompt follows, with nothing else. */
	pump(50);
	ssize_t n = recv(h.fd, h.buf + h.len, sizeof(h.buf) - h.len, MSG_DONTWAIT);
	h.len += n > 0 ? (size_t)n : 0;
	ck_assert_uint_eq(h.len, 7);
	ck_assert(!memcmp(h.buf, "(qemu) ", 7));
	/* quit from HMP reaches the VM. */
	tc_send(&h, "quit\n");
	pump(50);
	ck_assert_int_eq(fk.quits, 1);
	close(h.fd);
}
END_TEST

START_TEST(test_client_limit)
{
	struct tclient t[MONITOR_MAX_CLIENTS];
	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		tc_pair(&t[i], MONITOR_QMP);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(monitor_attach_fd(mon, MONITOR_QMP, sv[1], sv[1], true), -EMFILE);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		close(t[i].fd);
	pump(50);
	ck_assert_uint_eq(monitor_client_count(mon), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("qmp");
	TCase *tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_greeting_shape);
	tcase_add_test(tc, test_negotiation);
	tcase_add_test(tc, test_id_echo);
	tcase_add_test(tc, test_qemu_json);
	tcase_add_test(tc, test_query_version_commands);
	tcase_add_test(tc, test_status_stop_cont);
	tcase_add_test(tc, test_reset_powerdown_quit);
	tcase_add_test(tc, test_reset_that_ends_the_vm);
	tcase_add_test(tc, test_balloon_commands);
	tcase_add_test(tc, test_memory_kvm_cpus);
	tcase_add_test(tc, test_qom);
	tcase_add_test(tc, test_human_monitor_command);
	tcase_add_test(tc, test_table_dispatch);
	tcase_add_test(tc, test_table_unknown);
	tcase_add_test(tc, test_table_extra);
	tcase_add_test(tc, test_qom_tree_and_queries);
	tcase_add_test(tc, test_table_hmp_seam);
	tcase_add_test(tc, test_shutdown_causes);
	tcase_add_test(tc, test_bad_messages);
	tcase_add_test(tc, test_bulk_garbage);
	tcase_add_test(tc, test_framer);
	tcase_add_test(tc, test_framer_limit);
	tcase_add_test(tc, test_event_format);
	suite_add_tcase(s, tc);

	TCase *tm = tcase_create("monitor");
	tcase_add_checked_fixture(tm, mon_setup, mon_teardown);
	tcase_set_timeout(tm, 30);
	tcase_add_test(tm, test_monitor_pair_and_events);
	tcase_add_test(tm, test_balloon_change_throttle);
	tcase_add_test(tm, test_balloon_target_reached);
	tcase_add_test(tm, test_monitor_hmp_seam);
	tcase_add_test(tm, test_monitor_late_devices);
	tcase_add_test(tm, test_unix_socket);
	tcase_add_test(tm, test_slow_and_bad_clients);
	tcase_add_test(tm, test_hmp_client);
	tcase_add_test(tm, test_client_limit);
	suite_add_tcase(s, tm);
	return s;
}

CHECK_MAIN(make_suite)
