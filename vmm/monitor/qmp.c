/* QMP protocol: framing, negotiation, dispatch over the command table and
 * replies, with QEMU 7.2's reply shapes and error texts (checked against a
 * live QEMU). */
#include "vmm/monitor/qmp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "balloon/autopilot.h"
#include "balloon/balloon.h"
#include "memory/guest_ram.h"
#include "memory/ram.h"
#include "vmm/lib/version.h"

/* QEMU escapes non-ASCII; JSON_ENCODE_ANY lets strings be dumped too. */
#define DUMP_FLAGS (JSON_ENSURE_ASCII | JSON_ENCODE_ANY)

#define CLS_GENERIC    QMP_CLS_GENERIC
#define CLS_NOT_FOUND  QMP_CLS_NOT_FOUND
#define CLS_NOT_ACTIVE QMP_CLS_NOT_ACTIVE
#define set_err        qmp_error_set

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

void qmp_error_set(struct qmp_error *err, const char *cls, const char *fmt, ...)
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

/* jansson's integers are signed, QEMU's statistics unsigned (a never-sent
 * one is 2^64-1): a value over INT64_MAX goes into a return value as a
 * marker string, which reply_return() turns back into its digits. */
#define U64_MARK     "\x01u64:"
#define U64_MARK_OUT "\"\\u0001u64:" /* as dumped with JSON_ENSURE_ASCII */
#define U64_MARK_END "\\u0001\""

json_t *qmp_u64(uint64_t v)
{
	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	char buf[32];
	snprintf(buf, sizeof(buf), U64_MARK "%" PRIu64 "\x01", v);
	return json_string(buf);
}

bool qmp_get_u64(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	size_t n = strlen(U64_MARK);
	if (!s || strncmp(s, U64_MARK, n))
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s + n, &end, 10);
	if (errno || end == s + n || strcmp(end, "\x01"))
		return false;
	*out = x;
	return true;
}

json_t *qmp_find_named(json_t *list, const char *name)
{
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n && !strcmp(n, name))
			return e;
	}
	return NULL;
}

bool qmp_is_int(const json_t *v)
{
	uint64_t x;
	return json_is_integer(v) || qmp_get_u64(v, &x);
}

/* In place: "\u0001u64:DIGITS\u0001" (quotes included) -> DIGITS. */
static void u64_unmark(char *s)
{
	char *r = s, *w = s, *m;
	while ((m = strstr(r, U64_MARK_OUT))) {
		char *digits = m + strlen(U64_MARK_OUT);
		size_t nd = strspn(digits, "0123456789");
		if (strncmp(digits + nd, U64_MARK_END, strlen(U64_MARK_END))) {
			size_t keep = (size_t)(digits - r);
			memmove(w, r, keep);
			w += keep;
			r = digits;
			continue;
		}
		memmove(w, r, (size_t)(m - r));
		w += m - r;
		memmove(w, digits, nd);
		w += nd;
		r = digits + nd + strlen(U64_MARK_END);
	}
	memmove(w, r, strlen(r) + 1);
}

/* Reply with an optional id (borrowed); steals ret. Markers become digits
 * wherever they are: a client's own id of 2^64-1 is echoed as digits, as
 * QEMU does, and a client sending the marker text fools only itself. */
static char *reply_return(json_t *ret, json_t *id)
{
	json_t *r = json_object();
	if (!r || json_object_set_new(r, "return", ret) || (id && json_object_set(r, "id", id))) {
		json_decref(r);
		return NULL;
	}
	char *s = dump_free(r);
	if (s)
		u64_unmark(s);
	return s;
}

/* QEMU puts the id first in an error, last in a return. */
static char *reply_error(const struct qmp_error *err, json_t *id)
{
	json_t *r = json_object();
	json_t *e = json_pack("{s:s,s:s}", "class", err->cls, "desc", err->desc);
	if (!e)
		e = json_pack("{s:s,s:s}", "class", err->cls, "desc",
			      "internal error formatting the reply");
	if (!r || (id && json_object_set(r, "id", id)) || json_object_set_new(r, "error", e)) {
		json_decref(r);
		return NULL;
	}
	char *s = dump_free(r);
	if (s)
		u64_unmark(s);
	return s;
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

static json_t *version_info(void)
{
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "micro", QMP_QEMU_MICRO, "minor",
			 QMP_QEMU_MINOR, "major", QMP_QEMU_MAJOR, "package", QMP_PACKAGE);
}

char *qmp_greeting(void)
{
	/* oob is offered as QEMU offers it; no memvm command runs out of band. */
	return dump_free(json_pack("{s:{s:o,s:[s]}}", "QMP", "version", version_info(),
				   "capabilities", "oob"));
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
		return qmp_is_int(v);
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
	return version_info();
}

static json_t *cmd_query_commands(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err);

static json_t *cmd_query_status(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	bool running = be_running(ctx);
	const char *status = running ? "running"
			     : ctx->be->prelaunch && ctx->be->prelaunch(ctx->be->opaque)
				     ? "prelaunch"
				     : "paused";
	return json_pack("{s:s,s:b,s:b}", "status", status, "singlestep", 0, "running", running);
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
	uint64_t value = 0;
	if (!qmp_get_u64(json_object_get(args, "value"), &value) || value == 0) {
		/* QEMU's text names its internal parameter. */
		set_err(err, CLS_GENERIC, "Parameter 'target' expects a size");
		return NULL;
	}
	int ret = balloon_set_target(b, value);
	if (ret < 0) {
		set_err(err, CLS_GENERIC, "balloon: %s", strerror(-ret));
		return NULL;
	}
	/* The operator's target wins: the autopilot, if on, turns off. */
	if (ctx->be->autopilot)
		(void)autopilot_operator_target(ctx->be->autopilot);
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

/* memvm's own: per vCPU, how often it left KVM_RUN and how long it was in
 * it (the rest of its wall time is memvm's: set-up and exit handling). */
static json_t *cmd_query_memvm_vcpus(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	const struct monitor_backend *be = ctx->be;
	json_t *list = json_array();
	for (unsigned i = 0; list && i < be->ncpus; i++) {
		struct monitor_cpu_counters c = { 0 };
		if (be->cpu_counters && be->cpu_counters(be->opaque, i, &c) < 0)
			continue;
		int tid = be->cpu_thread_id ? be->cpu_thread_id(be->opaque, i) : -1;
		if (json_array_append_new(list,
					  json_pack("{s:i,s:i,s:I,s:I,s:I}", "cpu-index", (int)i,
						    "thread-id", tid, "exits", (json_int_t)c.exits,
						    "run-ns", (json_int_t)c.run_ns, "insn-fixups",
						    (json_int_t)c.insn_fixups))) {
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
	uint64_t target = i.target_bytes;
	const char *path = ctx->be->balloon_qom_path ? ctx->be->balloon_qom_path
						     : MONITOR_BALLOON_QOM_PATH;
	json_t *sec = json_pack(
		"{s:s,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I}", "qom-path", path,
		"target", (json_int_t)target, "actual", (json_int_t)i.actual_bytes, "target-pages",
		(json_int_t)i.target_pages, "actual-pages", (json_int_t)i.actual_pages,
		"driver-ready", i.driver_ready, "inflated-pages", (json_int_t)i.inflated_pages,
		"deflated-pages", (json_int_t)i.deflated_pages, "discarded",
		(json_int_t)i.discarded_bytes, "reported", (json_int_t)i.reported_bytes, "bad-pfns",
		(json_int_t)i.bad_pfns, "deflate-waits", (json_int_t)i.deflate_waits,
		"deflate-waiting", i.deflate_waiting, "reported-kept",
		(json_int_t)i.reported_kept_bytes, "poison-val", (json_int_t)i.poison_val);
	/* The statistics the guest sent last, Linux 6.12's too (guest-stats
	 * keeps QEMU 7.2's ten, with 2^64-1 for the missing). */
	struct balloon_stats st;
	balloon_get_stats(ctx->be->balloon, &st);
	json_t *stats = json_object();
	for (int k = 0; stats && k < BALLOON_STAT_COUNT; k++)
		if (st.value[k] >= 0 &&
		    json_object_set_new(stats, balloon_stat_name(k), json_integer(st.value[k]))) {
			json_decref(stats);
			stats = NULL;
		}
	if (!sec || !stats || json_object_set_new(sec, "stats", stats)) {
		if (!sec)
			json_decref(stats);
		json_decref(sec);
		return NULL;
	}
	return sec;
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
	struct guest_ram_ledger l;
	if (be->guest_ram && !guest_ram_ledger(be->guest_ram, &l)) {
		/* Every byte of guest RAM once; ksm-merged and stranded are
		 * within, vmm-overhead beside. */
		json_t *lj = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "size",
				       (json_int_t)l.size, "resident-4k", (json_int_t)l.resident_4k,
				       "resident-thp", (json_int_t)l.resident_thp,
				       "resident-hugetlb", (json_int_t)l.resident_hugetlb,
				       "swapped", (json_int_t)l.swapped, "ballooned",
				       (json_int_t)l.ballooned, "reported", (json_int_t)l.reported,
				       "untouched", (json_int_t)l.untouched, "ksm-merged",
				       (json_int_t)l.ksm_merged, "stranded", (json_int_t)l.stranded,
				       "vmm-overhead", (json_int_t)l.vmm_overhead);
		if (!lj || json_object_set_new(r, "ledger", lj)) {
			json_decref(r);
			return NULL;
		}
	}
	if (be->balloon && json_object_set_new(r, "balloon", balloon_section(ctx))) {
		json_decref(r);
		return NULL;
	}
	return r;
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
	{ "x-query-memvm-vcpus", cmd_query_memvm_vcpus, { { 0 } } },
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

#define FOR_EXTRA(c, ctx)                                                         \
	for (const struct qmp_command *const *t_ = (ctx)->extra; t_ && *t_; t_++) \
		for (const struct qmp_command *c = *t_; c->name; c++)

static const struct qmp_command *find_cmd(const struct qmp_ctx *ctx, const char *name)
{
	const struct qmp_command *b = find_builtin(name);
	if (b)
		return cmd_available(ctx, b) ? b : NULL;
	FOR_EXTRA(c, ctx)
	if (!strcmp(c->name, name))
		return c;
	return NULL;
}

int qmp_foreach_command(const struct qmp_ctx *ctx, qmp_command_visit_fn *fn, void *opaque)
{
	int ret;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (cmd_available(ctx, &commands[i]) && (ret = fn(opaque, &commands[i])))
			return ret;
	FOR_EXTRA(c, ctx)
	if (find_cmd(ctx, c->name) == c && (ret = fn(opaque, c))) /* not shadowed */
		return ret;
	return 0;
}

static int list_cmd(void *opaque, const struct qmp_command *c)
{
	return json_array_append_new(opaque, json_pack("{s:s}", "name", c->name));
}

static json_t *cmd_query_commands(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	json_t *list = json_array();
	if (list && qmp_foreach_command(ctx, list_cmd, list)) {
		json_decref(list);
		return NULL;
	}
	return list;
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
static bool negotiate(json_t *args, bool *oob, struct qmp_error *err)
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
			/* QEMU 7.2's text, 'null' included. */
			set_err(err, CLS_GENERIC, "Parameter 'null' does not accept value '%s'",
				json_string_value(v));
			return false;
		}
	}
	*oob = json_array_size(enable) > 0;
	return true;
}

/* The envelope as QEMU checks it: execute (string), or exec-oob once oob
 * is enabled, arguments (object), id (anything), nothing else. */
static const char *check_envelope(json_t *req, bool oob_on, json_t **args, bool *oob,
				  struct qmp_error *err)
{
	const char *key, *cmd = NULL;
	json_t *v;
	*args = NULL;
	*oob = false;
	json_object_foreach(req, key, v) {
		if (oob_on && !strcmp(key, "exec-oob") && !cmd) {
			if (!json_is_string(v)) {
				set_err(err, CLS_GENERIC,
					"QMP input member 'exec-oob' must be a string");
				return NULL;
			}
			cmd = json_string_value(v);
			*oob = true;
		} else if (!strcmp(key, "execute") && !*oob) {
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

/* Appends n bytes; false when out of memory. */
static bool buf_put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = MAX(*cap * 2, *len + n + 1);
		char *p = realloc(*b, c);
		if (!p)
			return false;
		*b = p;
		*cap = c;
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
	return true;
}

/* An integer token of QEMU's JSON that jansson cannot hold: one over
 * INT64_MAX up to UINT64_MAX becomes qmp_u64's marker, anything bigger
 * (either sign) a real, as QEMU parses them. */
static bool put_number(char **b, size_t *len, size_t *cap, const char *t, size_t n)
{
	bool neg = t[0] == '-';
	size_t digits = n - neg;
	bool big = digits > 19 ||
		   (digits == 19 &&
		    strncmp(t + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0);
	if (!big)
		return buf_put(b, len, cap, t, n);
	bool u64 = !neg &&
		   (digits < 20 || (digits == 20 && strncmp(t, "18446744073709551615", 20) <= 0));
	if (u64)
		return buf_put(b, len, cap, "\"\\u0001u64:", 11) && buf_put(b, len, cap, t, n) &&
		       buf_put(b, len, cap, "\\u0001\"", 7);
	return buf_put(b, len, cap, t, n) && buf_put(b, len, cap, ".0", 2);
}

char *qemu_json_normalize(const char *msg, size_t len, size_t *out_len)
{
	char *b = NULL;
	size_t n = 0, cap = 0;
	char quote = 0; /* inside a string: its quote */
	bool ok = buf_put(&b, &n, &cap, "", 0);
	for (size_t i = 0; ok && i < len; i++) {
		char c = msg[i];
		if (quote) {
			if (c == '\\' && i + 1 < len) {
				char e = msg[++i];
				/* \' is QEMU's escape jansson lacks */
				ok = e == '\'' ? buf_put(&b, &n, &cap, "'", 1)
					       : buf_put(&b, &n, &cap, msg + i - 1, 2);
			} else if (c == quote) {
				quote = 0;
				ok = buf_put(&b, &n, &cap, "\"", 1);
			} else if (c == '"') { /* in a single-quoted string */
				ok = buf_put(&b, &n, &cap, "\\\"", 2);
			} else {
				ok = buf_put(&b, &n, &cap, &c, 1);
			}
		} else if (c == '"' || c == '\'') {
			quote = c;
			ok = buf_put(&b, &n, &cap, "\"", 1);
		} else if ((c == '-' || (c >= '0' && c <= '9')) &&
			   (i == 0 || !strchr("0123456789.eE+-", msg[i - 1]))) {
			size_t j = i + 1;
			while (j < len && msg[j] >= '0' && msg[j] <= '9')
				j++;
			bool integer = j == len || !strchr(".eE", msg[j]);
			ok = integer && j > i + (c == '-')
				     ? put_number(&b, &n, &cap, msg + i, j - i)
				     : buf_put(&b, &n, &cap, msg + i, j - i);
			i = j - 1;
		} else {
			ok = buf_put(&b, &n, &cap, &c, 1);
		}
	}
	if (!ok) {
		free(b);
		return NULL;
	}
	*out_len = n;
	return b;
}

char *qmp_handle(const struct qmp_ctx *ctx, struct qmp_session *s, const char *msg, size_t len)
{
	struct qmp_error err = { 0 };
	json_error_t jerr;
	char *out;

	/* QEMU's JSON: single-quoted strings, \' escapes, integers up to
	 * 2^64-1 (and beyond as reals); jansson reads the standard form. */
	size_t nlen;
	char *norm = qemu_json_normalize(msg, len, &nlen);
	if (!norm)
		return NULL;
	json_t *req = json_loadb(norm, nlen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	free(norm);
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
	bool oob;
	const char *cmd = check_envelope(req, s->oob, &args, &oob, &err);
	if (!cmd) {
		out = reply_error(&err, id);
	} else if (!s->negotiated) {
		if (strcmp(cmd, "qmp_capabilities")) {
			set_err(&err, CLS_NOT_FOUND,
				"Expecting capabilities negotiation with 'qmp_capabilities'");
			out = reply_error(&err, id);
		} else if (!negotiate(args, &s->oob, &err)) {
			out = reply_error(&err, id);
		} else {
			s->negotiated = true;
			out = reply_return(json_object(), id);
		}
	} else if (oob) {
		/* No memvm command runs out of band (QEMU's allow-oob ones are
		 * migration's). */
		if (find_cmd(ctx, cmd))
			set_err(&err, CLS_GENERIC, "The command %s does not support OOB", cmd);
		else
			set_err(&err, CLS_NOT_FOUND, "The command %s has not been found", cmd);
		out = reply_error(&err, id);
	} else {
		json_t *ret = qmp_execute(ctx, cmd, args, &err);
		out = ret ? reply_return(ret, id) : reply_error(&err, id);
	}
	json_decref(req);
	return out;
}

/* ---- framing ---------------------------------------------------------- */

struct qmp_framer {
	char *buf; /* grows on demand up to max: a client costs what it sends */
	size_t len, cap, max;
	long depth; /* open braces + brackets, as QEMU's streamer counts */
	char quote; /* inside a string: its quote, ' or " (QEMU takes both) */
	bool esc, scalar, overflow;
};

struct qmp_framer *qmp_framer_new(size_t max_message)
{
	struct qmp_framer *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cap = MIN(max_message, (size_t)4096);
	f->buf = malloc(f->cap ? f->cap : 1);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	f->max = max_message;
	return f;
}

static int framer_grow(struct qmp_framer *f)
{
	size_t cap = MIN(MAX(f->cap * 2, (size_t)4096), f->max);
	char *p = realloc(f->buf, cap);
	if (!p)
		return -ENOMEM;
	f->buf = p;
	f->cap = cap;
	return 0;
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
	f->quote = 0;
	f->esc = f->scalar = false;
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
		if (f->scalar && (is_ws(c) || memchr("{}[]\"'", c, 6))) {
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
		if (f->len == f->cap && framer_grow(f)) {
			f->overflow = true;
			f->len = 0;
			return -ENOMEM;
		}
		f->buf[f->len++] = c;
		if (f->quote) {
			if (f->esc)
				f->esc = false;
			else if (c == '\\')
				f->esc = true;
			else if (c == f->quote) {
				f->quote = 0;
				if (f->depth == 0 && (ret = framer_emit(f, fn, opaque)))
					return ret;
			}
			continue;
		}
		switch (c) {
		case '"':
		case '\'':
			f->quote = c;
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
