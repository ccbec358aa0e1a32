/* QMP protocol: framing, negotiation, dispatch over the command table and
 * replies, with QEMU 7.2's reply shapes and error texts (checked against a
 * live QEMU). */
#include "vmm/monitor/qmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "balloon/balloon.h"
#include "memory/ram.h"
#include "vmm/lib/version.h"

/* QEMU escapes non-ASCII; JSON_ENCODE_ANY lets strings be dumped too. */
#define DUMP_FLAGS (JSON_ENSURE_ASCII | JSON_ENCODE_ANY)

#define CLS_GENERIC       "GenericError"
#define CLS_NOT_FOUND     "CommandNotFound"
#define CLS_NOT_ACTIVE    "DeviceNotActive"
#define CLS_DEV_NOT_FOUND "DeviceNotFound"

#define BALLOON_QOM_TYPE "virtio-balloon-device"

/* ---- helpers ---------------------------------------------------------- */

/* Drops a UTF-8 sequence cut short by truncation so jansson accepts it. */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (lead >= 0x80 && n - (i - 1) < need)
		s[i - 1] = '\0';
}

static void PRINTF(3, 4) set_err(struct qmp_error *err, const char *cls, const char *fmt, ...)
{
	va_list ap;
	err->cls = cls;
	va_start(ap, fmt);
	int n = vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(err->desc))
		utf8_trim(err->desc);
}

/* jansson's error text quotes input bytes: keep printable ASCII only. */
static void sanitize_ascii(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static char *dump_free(json_t *j)
{
	if (!j)
		return NULL;
	char *s = json_dumps(j, DUMP_FLAGS);
	json_decref(j);
	return s;
}

char *qmp_error_line(const char *cls, const char *desc)
{
	char *s = dump_free(json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc));
	if (!s) /* desc was not UTF-8, or out of memory */
		s = dump_free(json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc",
					"internal error formatting the reply"));
	return s;
}

/* Reply with an optional id (borrowed); steals ret. */
static char *reply_return(json_t *ret, json_t *id)
{
	json_t *r = json_object();
	if (!r || json_object_set_new(r, "return", ret) || (id && json_object_set(r, "id", id))) {
		json_decref(r);
		return NULL;
	}
	return dump_free(r);
}

static char *reply_error(const struct qmp_error *err, json_t *id)
{
	json_t *r = json_pack("{s:{s:s,s:s}}", "error", "class", err->cls, "desc", err->desc);
	if (!r)
		r = json_pack("{s:{s:s,s:s}}", "error", "class", err->cls, "desc",
			      "internal error formatting the reply");
	if (r && id && json_object_set(r, "id", id)) {
		json_decref(r);
		return NULL;
	}
	return dump_free(r);
}

char *qmp_event_format(const char *name, json_t *data)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	json_t *e = json_pack("{s:{s:I,s:I},s:s}", "timestamp", "seconds", (json_int_t)tv.tv_sec,
			      "microseconds", (json_int_t)tv.tv_usec, "event", name);
	if (e && data && json_object_set(e, "data", data)) {
		json_decref(e);
		return NULL;
	}
	return dump_free(e);
}

void qmp_emit(const struct qmp_ctx *ctx, const char *name, json_t *data)
{
	if (!ctx->event)
		return;
	char *line = qmp_event_format(name, data);
	if (line)
		ctx->event(ctx->opaque, name, line);
	free(line);
}

static void emit_new(const struct qmp_ctx *ctx, const char *name, json_t *data)
{
	qmp_emit(ctx, name, data);
	json_decref(data);
}

/* QEMU's ShutdownCause names (qapi/run-state.json). */
static const char *const cause_names[] = {
	[SHUTDOWN_CAUSE_NONE] = "none",
	[SHUTDOWN_CAUSE_HOST_ERROR] = "host-error",
	[SHUTDOWN_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
	[SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
	[SHUTDOWN_CAUSE_HOST_SIGNAL] = "host-signal",
	[SHUTDOWN_CAUSE_HOST_UI] = "host-ui",
	[SHUTDOWN_CAUSE_GUEST_SHUTDOWN] = "guest-shutdown",
	[SHUTDOWN_CAUSE_GUEST_RESET] = "guest-reset",
	[SHUTDOWN_CAUSE_GUEST_PANIC] = "guest-panic",
	[SHUTDOWN_CAUSE_SUBSYSTEM_RESET] = "subsystem-reset",
	[SHUTDOWN_CAUSE_SNAPSHOT_LOAD] = "snapshot-load",
};
_Static_assert(ARRAY_SIZE(cause_names) == SHUTDOWN_CAUSE__MAX, "a ShutdownCause lacks a name");

void qmp_emit_cause(const struct qmp_ctx *ctx, const char *event, bool guest,
		    enum shutdown_cause cause)
{
	/* Past the table (a caller's bug): QEMU's "none" rather than a crash. */
	const char *reason = (unsigned)cause < ARRAY_SIZE(cause_names) ? cause_names[cause]
								       : cause_names[0];
	json_t *data = json_pack("{s:b,s:s}", "guest", guest, "reason", reason);
	if (data) /* out of memory: no event rather than one without its reason */
		qmp_emit(ctx, event, data);
	json_decref(data);
}

char *qmp_greeting(void)
{
	unsigned major = 0, minor = 0, micro = 0;
	if (sscanf(MEMVM_VERSION, "%u.%u.%u", &major, &minor, &micro) < 2) {
		/* keep zeros */
	}
	return dump_free(json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[]}}", "QMP", "version", "qemu",
				   "micro", (int)micro, "minor", (int)minor, "major", (int)major,
				   "package", "memvm-" MEMVM_VERSION, "capabilities"));
}

/* ---- argument checking (QEMU's visitor order: declared members, then
 * anything left over) ----------------------------------------------------- */

static const char *type_name(enum qmp_arg_type t)
{
	switch (t) {
	case QMP_ARG_INT:
		return "integer";
	case QMP_ARG_STR:
		return "string";
	case QMP_ARG_BOOL:
		return "boolean";
	case QMP_ARG_ARRAY:
		return "array";
	default:
		return "any";
	}
}

static bool type_ok(enum qmp_arg_type t, const json_t *v)
{
	switch (t) {
	case QMP_ARG_INT:
		return json_is_integer(v);
	case QMP_ARG_STR:
		return json_is_string(v);
	case QMP_ARG_BOOL:
		return json_is_boolean(v);
	case QMP_ARG_ARRAY:
		return json_is_array(v);
	default:
		return true;
	}
}

/* The declared arguments: up to the first without a name. */
#define FOR_ARGS(a, c)                            \
	for (const struct qmp_arg *a = (c)->args; \
	     a < (c)->args + ARRAY_SIZE((c)->args) && a->name; a++)

static bool check_args(const struct qmp_command *c, json_t *args, struct qmp_error *err)
{
	FOR_ARGS(a, c) {
		json_t *v = json_object_get(args, a->name);
		if (!v) {
			if (a->optional)
				continue;
			set_err(err, CLS_GENERIC, "Parameter '%s' is missing", a->name);
			return false;
		}
		if (!type_ok(a->type, v)) {
			set_err(err, CLS_GENERIC, "Invalid parameter type for '%s', expected: %s",
				a->name, type_name(a->type));
			return false;
		}
	}
	const char *key;
	json_t *v;
	json_object_foreach(args, key, v) {
		bool known = false;
		FOR_ARGS(a, c)
			known |= !strcmp(a->name, key);
		if (!known) {
			set_err(err, CLS_GENERIC, "Parameter '%s' is unexpected", key);
			return false;
		}
	}
	return true;
}

/* ---- commands --------------------------------------------------------- */

static bool be_running(const struct qmp_ctx *ctx)
{
	return ctx->be->running && ctx->be->running(ctx->be->opaque);
}

static struct balloon *need_balloon(const struct qmp_ctx *ctx, struct qmp_error *err)
{
	if (!ctx->be->balloon)
		set_err(err, CLS_NOT_ACTIVE, "No balloon device has been activated");
	return ctx->be->balloon;
}

static json_t *cmd_capabilities(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)ctx;
	(void)args;
	set_err(err, CLS_NOT_FOUND,
		"Capabilities negotiation is already complete, command ignored");
	return NULL;
}

static json_t *cmd_query_version(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)ctx;
	(void)args;
	(void)err;
	unsigned major = 0, minor = 0, micro = 0;
	if (sscanf(MEMVM_VERSION, "%u.%u.%u", &major, &minor, &micro) < 2) {
		/* keep zeros */
	}
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "micro", (int)micro, "minor", (int)minor,
			 "major", (int)major, "package", "memvm-" MEMVM_VERSION);
}

static json_t *cmd_query_commands(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err);

static json_t *cmd_query_status(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	bool running = be_running(ctx);
	return json_pack("{s:s,s:b,s:b}", "status", running ? "running" : "paused", "singlestep", 0,
			 "running", running);
}

static json_t *cmd_stop(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	const struct monitor_backend *be = ctx->be;
	if (!be->stop) {
		set_err(err, CLS_GENERIC, "stop is not supported by this machine");
		return NULL;
	}
	bool was = be_running(ctx);
	int ret = be->stop(be->opaque);
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "failed to stop the VM: %s", strerror(-ret));
		return NULL;
	}
	if (was)
		emit_new(ctx, "STOP", NULL);
	return json_object();
}

static json_t *cmd_cont(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	const struct monitor_backend *be = ctx->be;
	if (!be->cont) {
		set_err(err, CLS_GENERIC, "cont is not supported by this machine");
		return NULL;
	}
	bool was = be_running(ctx);
	int ret = be->cont(be->opaque);
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "failed to resume the VM: %s", strerror(-ret));
		return NULL;
	}
	if (!was)
		emit_new(ctx, "RESUME", NULL);
	return json_object();
}

static json_t *cmd_system_reset(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	const struct monitor_backend *be = ctx->be;
	int ret = be->reset ? be->reset(be->opaque) : -ENOTSUP;
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "system_reset failed: %s", strerror(-ret));
		return NULL;
	}
	if (ret != MONITOR_RESET_ENDS)
		qmp_emit_cause(ctx, "RESET", false, SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET);
	return json_object();
}

static json_t *cmd_system_powerdown(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	const struct monitor_backend *be = ctx->be;
	int ret = be->powerdown ? be->powerdown(be->opaque) : -ENOTSUP;
	if (ret == -ENOTSUP) {
		set_err(err, CLS_GENERIC,
			"system_powerdown is not supported: this machine has no ACPI power button "
			"(use quit, or shut the guest down from inside)");
		return NULL;
	}
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "system_powerdown failed: %s", strerror(-ret));
		return NULL;
	}
	emit_new(ctx, "POWERDOWN", NULL);
	return json_object();
}

static json_t *cmd_quit(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	const struct monitor_backend *be = ctx->be;
	if (!be->quit) {
		set_err(err, CLS_GENERIC, "quit is not supported by this machine");
		return NULL;
	}
	/* QEMU sends SHUTDOWN before the reply. */
	qmp_emit_cause(ctx, "SHUTDOWN", false, SHUTDOWN_CAUSE_HOST_QMP_QUIT);
	be->quit(be->opaque);
	return json_object();
}

static json_t *cmd_balloon(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	struct balloon *b = need_balloon(ctx, err);
	if (!b)
		return NULL;
	json_int_t value = json_integer_value(json_object_get(args, "value"));
	if (value <= 0) {
		/* QEMU's text names its internal parameter. */
		set_err(err, CLS_GENERIC, "Parameter 'target' expects a size");
		return NULL;
	}
	int ret = balloon_set_target(b, (uint64_t)value);
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "balloon: %s", strerror(-ret));
		return NULL;
	}
	return json_object();
}

static json_t *cmd_query_balloon(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	struct balloon *b = need_balloon(ctx, err);
	if (!b)
		return NULL;
	struct balloon_info info;
	balloon_query(b, &info);
	return json_pack("{s:I}", "actual", (json_int_t)info.actual_bytes);
}

static json_t *cmd_query_memory_size_summary(const struct qmp_ctx *ctx, json_t *args,
					     struct qmp_error *err)
{
	(void)args;
	(void)err;
	return json_pack("{s:I,s:I}", "base-memory", (json_int_t)ctx->be->ram_size,
			 "plugged-memory", (json_int_t)0);
}

static json_t *cmd_query_kvm(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)ctx;
	(void)args;
	(void)err;
	return json_pack("{s:b,s:b}", "enabled", 1, "present", 1);
}

static json_t *cmd_query_cpus_fast(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	const struct monitor_backend *be = ctx->be;
	json_t *list = json_array();
	for (unsigned i = 0; list && i < be->ncpus; i++) {
		int tid = be->cpu_thread_id ? be->cpu_thread_id(be->opaque, i) : -1;
		char path[64];
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]", i);
		/* QEMU 7.2's default topology for -smp N: one socket of N cores. */
		if (json_array_append_new(list, json_pack("{s:i,s:{s:i,s:i,s:i},s:s,s:i,s:s}",
							  "thread-id", tid, "props", "core-id",
							  (int)i, "thread-id", 0, "socket-id", 0,
							  "qom-path", path, "cpu-index", (int)i,
							  "target", "x86_64"))) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static json_t *balloon_section(const struct qmp_ctx *ctx)
{
	struct balloon_info i;
	balloon_query(ctx->be->balloon, &i);
	uint64_t target = i.ram_size - MIN(i.ram_size, i.target_pages * BALLOON_PAGE_SIZE);
	const char *path = ctx->be->balloon_qom_path ? ctx->be->balloon_qom_path
						     : MONITOR_BALLOON_QOM_PATH;
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "qom-path", path,
			 "target", (json_int_t)target, "actual", (json_int_t)i.actual_bytes,
			 "target-pages", (json_int_t)i.target_pages, "actual-pages",
			 (json_int_t)i.actual_pages, "driver-ready", i.driver_ready,
			 "inflated-pages", (json_int_t)i.inflated_pages, "deflated-pages",
			 (json_int_t)i.deflated_pages, "discarded", (json_int_t)i.discarded_bytes,
			 "reported", (json_int_t)i.reported_bytes, "bad-pfns",
			 (json_int_t)i.bad_pfns, "deflate-waits", (json_int_t)i.deflate_waits,
			 "deflate-waiting", i.deflate_waiting);
}

/* memvm's own memory summary: backing, residency, KSM, balloon counters. */
static json_t *cmd_query_memvm_memory(const struct qmp_ctx *ctx, json_t *args,
				      struct qmp_error *err)
{
	(void)args;
	(void)err;
	const struct monitor_backend *be = ctx->be;
	json_t *r = json_pack("{s:I}", "ram-size", (json_int_t)be->ram_size);
	if (!r)
		return NULL;
	if (be->ram) {
		struct ram_summary s;
		ram_summary(be->ram, &s);
		json_t *m = json_pack("{s:s,s:I,s:b,s:b,s:b,s:b,s:b,s:i,s:I,s:I,s:I}", "backing",
				      s.backing ? s.backing : "unknown", "page-size",
				      (json_int_t)s.page_size, "shared", s.shared, "preallocated",
				      s.preallocated, "merge-requested", s.merge_requested,
				      "merge-effective", s.merge_effective, "thp", s.thp, "ksm-run",
				      s.ksm_run, "rss", (json_int_t)s.rss_bytes,
				      "ksm-merging-pages", (json_int_t)s.ksm_merging_pages,
				      "discarded", (json_int_t)s.discarded_bytes);
		if (!m || json_object_update(r, m)) {
			json_decref(m);
			json_decref(r);
			return NULL;
		}
		json_decref(m);
		if (s.mem_path && json_object_set_new(r, "mem-path", json_string(s.mem_path))) {
			/* a non-UTF-8 path is left out */
		}
	}
	if (be->balloon && json_object_set_new(r, "balloon", balloon_section(ctx))) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* QOM: only the balloon's properties exist. Accepts the full path, its
 * QEMU-style "virtio-backend" child and partial paths (a trailing run of
 * whole components, as QEMU resolves them). */
static bool qom_is_balloon(const struct qmp_ctx *ctx, const char *path)
{
	const char *full = ctx->be->balloon_qom_path ? ctx->be->balloon_qom_path
						     : MONITOR_BALLOON_QOM_PATH;
	size_t n = strlen(full), pl = strlen(path);
	if (!ctx->be->balloon || pl == 0)
		return false;
	if (!strcmp(path, full))
		return true;
	if (pl > n && !strncmp(path, full, n) && !strcmp(path + n, "/virtio-backend"))
		return true;
	return path[0] != '/' && pl < n && full[n - pl - 1] == '/' && !strcmp(full + n - pl, path);
}

static struct balloon *qom_balloon(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	if (!qom_is_balloon(ctx, path)) {
		set_err(err, CLS_DEV_NOT_FOUND, "Device '%s' not found", path);
		return NULL;
	}
	return ctx->be->balloon;
}

static json_t *guest_stats(struct balloon *b)
{
	struct balloon_stats st;
	balloon_get_stats(b, &st);
	json_t *stats = json_object();
	for (int i = 0; stats && i < BALLOON_STAT_COUNT; i++) {
		/* QEMU shows a never-sent statistic as 2^64-1; jansson's
		 * integers are signed, so it reads -1 here. */
		if (json_object_set_new(stats, balloon_stat_name(i), json_integer(st.value[i]))) {
			json_decref(stats);
			return NULL;
		}
	}
	return json_pack("{s:o,s:I}", "stats", stats, "last-update", (json_int_t)st.last_update);
}

static json_t *cmd_qom_get(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	struct balloon *b = qom_balloon(ctx, args, err);
	if (!b)
		return NULL;
	const char *prop = json_string_value(json_object_get(args, "property"));
	if (!strcmp(prop, "guest-stats"))
		return guest_stats(b);
	if (!strcmp(prop, "guest-stats-polling-interval")) {
		struct balloon_stats st;
		balloon_get_stats(b, &st);
		return json_integer(st.polling_interval_s);
	}
	if (!strcmp(prop, "type"))
		return json_string(BALLOON_QOM_TYPE);
	set_err(err, CLS_GENERIC, "Property '" BALLOON_QOM_TYPE ".%s' not found", prop);
	return NULL;
}

static json_t *cmd_qom_set(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	struct balloon *b = qom_balloon(ctx, args, err);
	if (!b)
		return NULL;
	const char *prop = json_string_value(json_object_get(args, "property"));
	json_t *value = json_object_get(args, "value");
	if (!strcmp(prop, "guest-stats-polling-interval")) {
		if (!json_is_integer(value)) {
			set_err(err, CLS_GENERIC,
				"Invalid parameter type for '%s', expected: integer", prop);
			return NULL;
		}
		json_int_t v = json_integer_value(value);
		if (v < 0) {
			set_err(err, CLS_GENERIC, "timer value must be greater than zero");
			return NULL;
		}
		if (v > UINT32_MAX) {
			set_err(err, CLS_GENERIC, "timer value is too big");
			return NULL;
		}
		int ret = balloon_set_stats_interval(b, (uint32_t)v);
		if (ret < 0) {
			set_err(err, CLS_GENERIC, "cannot set the polling interval: %s",
				strerror(-ret));
			return NULL;
		}
		return json_object();
	}
	if (!strcmp(prop, "guest-stats") || !strcmp(prop, "type")) {
		set_err(err, CLS_GENERIC, "Property '" BALLOON_QOM_TYPE ".%s' is not writable",
			prop);
		return NULL;
	}
	set_err(err, CLS_GENERIC, "Property '" BALLOON_QOM_TYPE ".%s' not found", prop);
	return NULL;
}

/* Test hook, there only when memvm started with MEMVM_TEST_HOOKS=1: a
 * system call the sandbox forbids, on the monitor's or a vCPU's thread. */
static json_t *cmd_debug_sandbox_probe(const struct qmp_ctx *ctx, json_t *args,
				       struct qmp_error *err)
{
	const char *thread = json_string_value(json_object_get(args, "thread"));
	bool vcpu = !strcmp(thread, "vcpu");
	if (!vcpu && strcmp(thread, "monitor")) {
		set_err(err, CLS_GENERIC, "Parameter 'thread' must be 'monitor' or 'vcpu'");
		return NULL;
	}
	int ret = ctx->be->sandbox_probe(ctx->be->opaque, vcpu);
	if (ret) {
		set_err(err, CLS_GENERIC, "sandbox probe: %s", strerror(-ret));
		return NULL;
	}
	return json_object();
}

static json_t *cmd_qom_list(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	if (!qom_balloon(ctx, args, err))
		return NULL;
	return json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "type", "type", "string",
			 "name", "guest-stats", "type", "guest statistics", "name",
			 "guest-stats-polling-interval", "type", "int");
}

static const struct qmp_command commands[] = {
	{ "qmp_capabilities", cmd_capabilities, { { "enable", QMP_ARG_ARRAY, true } } },
	{ "query-version", cmd_query_version, { { 0 } } },
	{ "query-commands", cmd_query_commands, { { 0 } } },
	{ "query-status", cmd_query_status, { { 0 } } },
	{ "stop", cmd_stop, { { 0 } } },
	{ "cont", cmd_cont, { { 0 } } },
	{ "system_reset", cmd_system_reset, { { 0 } } },
	{ "system_powerdown", cmd_system_powerdown, { { 0 } } },
	{ "quit", cmd_quit, { { 0 } } },
	{ "balloon", cmd_balloon, { { "value", QMP_ARG_INT, false } } },
	{ "query-balloon", cmd_query_balloon, { { 0 } } },
	{ "query-memory-size-summary", cmd_query_memory_size_summary, { { 0 } } },
	{ "query-kvm", cmd_query_kvm, { { 0 } } },
	{ "query-cpus-fast", cmd_query_cpus_fast, { { 0 } } },
	{ "x-query-memvm-memory", cmd_query_memvm_memory, { { 0 } } },
	{ "qom-get",
	  cmd_qom_get,
	  { { "path", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false } } },
	{ "qom-set",
	  cmd_qom_set,
	  { { "path", QMP_ARG_STR, false },
	    { "property", QMP_ARG_STR, false },
	    { "value", QMP_ARG_ANY, false } } },
	{ "qom-list", cmd_qom_list, { { "path", QMP_ARG_STR, false } } },
	{ "x-debug-sandbox-probe", cmd_debug_sandbox_probe, { { "thread", QMP_ARG_STR, false } } },
};

/* Commands that exist only with their backend hook. */
static bool cmd_available(const struct qmp_ctx *ctx, const struct qmp_command *c)
{
	return c->fn != cmd_debug_sandbox_probe || ctx->be->sandbox_probe;
}

static const struct qmp_command *find_builtin(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static const struct qmp_command *find_cmd(const struct qmp_ctx *ctx, const char *name)
{
	const struct qmp_command *b = find_builtin(name);
	if (b)
		return cmd_available(ctx, b) ? b : NULL;
	for (const struct qmp_command *c = ctx->extra; c && c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int list_cmd(json_t *list, const char *name)
{
	return json_array_append_new(list, json_pack("{s:s}", "name", name));
}

static json_t *cmd_query_commands(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	json_t *list = json_array();
	if (!list)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (cmd_available(ctx, &commands[i]) && list_cmd(list, commands[i].name))
			goto nomem;
	for (const struct qmp_command *c = ctx->extra; c && c->name; c++)
		if (find_cmd(ctx, c->name) == c && list_cmd(list, c->name)) /* not shadowed */
			goto nomem;
	return list;
nomem:
	json_decref(list);
	return NULL;
}

json_t *qmp_execute(const struct qmp_ctx *ctx, const char *name, json_t *args,
		    struct qmp_error *err)
{
	const struct qmp_command *c = find_cmd(ctx, name);
	if (!c) {
		set_err(err, CLS_NOT_FOUND, "The command %s has not been found", name);
		return NULL;
	}
	json_t *empty = NULL;
	if (!args)
		args = empty = json_object();
	json_t *ret = NULL;
	if (args && check_args(c, args, err)) {
		ret = c->fn(ctx, args, err);
		if (!ret && !err->cls)
			set_err(err, CLS_GENERIC, "out of memory");
	} else if (!args) {
		set_err(err, CLS_GENERIC, "out of memory");
	}
	json_decref(empty);
	return ret;
}

/* ---- messages --------------------------------------------------------- */

/* qmp_capabilities before negotiation: accepts only offered capabilities
 * (none). */
static bool negotiate(json_t *args, struct qmp_error *err)
{
	if (args && !check_args(find_builtin("qmp_capabilities"), args, err))
		return false;
	json_t *enable = args ? json_object_get(args, "enable") : NULL;
	size_t i;
	json_t *v;
	json_array_foreach(enable, i, v) {
		if (!json_is_string(v)) {
			set_err(err, CLS_GENERIC,
				"Invalid parameter type for 'enable', expected: string");
			return false;
		}
		if (strcmp(json_string_value(v), "oob")) {
			set_err(err, CLS_GENERIC, "Parameter 'enable' does not accept value '%s'",
				json_string_value(v));
			return false;
		}
	}
	if (json_array_size(enable)) {
		set_err(err, CLS_GENERIC, "Capability oob not available");
		return false;
	}
	return true;
}

/* The envelope as QEMU checks it: execute (string), arguments (object),
 * id (anything), nothing else. */
static const char *check_envelope(json_t *req, json_t **args, struct qmp_error *err)
{
	const char *key, *cmd = NULL;
	json_t *v;
	*args = NULL;
	json_object_foreach(req, key, v) {
		if (!strcmp(key, "execute")) {
			if (!json_is_string(v)) {
				set_err(err, CLS_GENERIC,
					"QMP input member 'execute' must be a string");
				return NULL;
			}
			cmd = json_string_value(v);
		} else if (!strcmp(key, "arguments")) {
			if (!json_is_object(v)) {
				set_err(err, CLS_GENERIC,
					"QMP input member 'arguments' must be an object");
				return NULL;
			}
			*args = v;
		} else if (strcmp(key, "id")) {
			set_err(err, CLS_GENERIC, "QMP input member '%s' is unexpected", key);
			return NULL;
		}
	}
	if (!cmd)
		set_err(err, CLS_GENERIC, "QMP input lacks member 'execute'");
	return cmd;
}

char *qmp_handle(const struct qmp_ctx *ctx, struct qmp_session *s, const char *msg, size_t len)
{
	struct qmp_error err = { 0 };
	json_error_t jerr;
	char *out;

	json_t *req = json_loadb(msg, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		sanitize_ascii(jerr.text);
		set_err(&err, CLS_GENERIC, "JSON parse error, %s", jerr.text);
		return reply_error(&err, NULL);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		return qmp_error_line(CLS_GENERIC, "QMP input must be a JSON object");
	}
	json_t *id = json_object_get(req, "id");
	json_t *args;
	const char *cmd = check_envelope(req, &args, &err);
	if (!cmd) {
		out = reply_error(&err, id);
	} else if (!s->negotiated) {
		if (strcmp(cmd, "qmp_capabilities")) {
			set_err(&err, CLS_NOT_FOUND,
				"Expecting capabilities negotiation with 'qmp_capabilities'");
			out = reply_error(&err, id);
		} else if (!negotiate(args, &err)) {
			out = reply_error(&err, id);
		} else {
			s->negotiated = true;
			out = reply_return(json_object(), id);
		}
	} else {
		json_t *ret = qmp_execute(ctx, cmd, args, &err);
		out = ret ? reply_return(ret, id) : reply_error(&err, id);
	}
	json_decref(req);
	return out;
}

/* ---- framing ---------------------------------------------------------- */

struct qmp_framer {
	char *buf;
	size_t len, max;
	long depth; /* open braces + brackets, as QEMU's streamer counts */
	bool in_str, esc, scalar, overflow;
};

struct qmp_framer *qmp_framer_new(size_t max_message)
{
	struct qmp_framer *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->buf = malloc(max_message ? max_message : 1);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	f->max = max_message;
	return f;
}

void qmp_framer_free(struct qmp_framer *f)
{
	if (!f)
		return;
	free(f->buf);
	free(f);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int framer_emit(struct qmp_framer *f, qmp_framer_fn fn, void *opaque)
{
	size_t len = f->len;
	f->len = 0;
	f->depth = 0;
	f->in_str = f->esc = f->scalar = false;
	return fn(opaque, f->buf, len);
}

int qmp_framer_feed(struct qmp_framer *f, const char *data, size_t len, qmp_framer_fn fn,
		    void *opaque)
{
	int ret;
	if (f->overflow)
		return -E2BIG;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		/* A bare top-level token ends at whitespace or structure. */
		if (f->scalar && (is_ws(c) || memchr("{}[]\"", c, 5))) {
			ret = framer_emit(f, fn, opaque);
			if (ret)
				return ret;
		}
		if (f->len == 0 && is_ws(c))
			continue;
		if (f->len >= f->max) {
			f->overflow = true;
			f->len = 0;
			return -E2BIG;
		}
		f->buf[f->len++] = c;
		if (f->in_str) {
			if (f->esc)
				f->esc = false;
			else if (c == '\\')
				f->esc = true;
			else if (c == '"') {
				f->in_str = false;
				if (f->depth == 0 && (ret = framer_emit(f, fn, opaque)))
					return ret;
			}
			continue;
		}
		switch (c) {
		case '"':
			f->in_str = true;
			break;
		case '{':
		case '[':
			f->depth++;
			break;
		case '}':
		case ']':
			if (--f->depth <= 0 && (ret = framer_emit(f, fn, opaque)))
				return ret;
			break;
		default:
			if (f->depth == 0)
				f->scalar = true;
			break;
		}
	}
	return 0;
}
