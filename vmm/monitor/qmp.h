/* QMP, QEMU's JSON monitor protocol, without sockets: message framing,
 * the greeting, capabilities negotiation, dispatch over a command table
 * with QEMU's argument checks and error texts, replies and event
 * formatting. The socket side is vmm/monitor/monitor.c; tests and the
 * fuzzer drive this directly.
 *
 * Framing follows QEMU's JSON streamer: a message ends where its braces
 * and brackets balance (outside strings, single- or double-quoted), so an
 * object may span lines and several may share one; a bare scalar at top
 * level is a message of its own. Parsing is jansson's, on QEMU's JSON
 * extensions put in standard form (qemu_json_normalize). */
#ifndef MEMVM_QMP_H
#define MEMVM_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm/monitor/backend.h"
#include "vmm/lib/util.h"
#include "vmm/lib/version.h"

struct qmp_command;

/* What commands act on and where their events go. */
struct qmp_ctx {
	const struct monitor_backend *be;
	/* Broadcasts an event: called with the whole event line (no newline),
	 * timestamped now. NULL: events are dropped. */
	void (*event)(void *opaque, const char *name, const char *line);
	void *opaque;
	/* Command tables from outside the protocol core (qom_commands,
	 * query_commands, hmp_qmp_commands: monitor_qmp_tables), dispatched
	 * and listed after QMP's own, in order, the first winning on a name
	 * clash; each table ends at an entry without a name, the list at
	 * NULL. NULL: none. */
	const struct qmp_command *const *extra;
};

/* Per-client protocol state. */
struct qmp_session {
	bool negotiated;
	bool oob; /* negotiated with enable: ["oob"]: exec-oob is accepted */
};

struct qmp_error {
	const char *cls; /* "GenericError", "CommandNotFound", ... */
	char desc[256];
};

/* A command's arguments as its table entry declares them. The dispatcher
 * checks them in QEMU's visitor order (declared members: missing, wrong
 * type; then anything left over: unexpected) before the handler runs. */
enum qmp_arg_type { QMP_ARG_INT, QMP_ARG_STR, QMP_ARG_BOOL, QMP_ARG_ARRAY, QMP_ARG_ANY };

struct qmp_arg {
	const char *name; /* NULL ends the list */
	enum qmp_arg_type type;
	bool optional;
};

/* Runs a command on checked arguments (an object, never NULL): returns
 * the "return" value (new reference), or NULL with *err filled (left
 * empty: out of memory). */
typedef json_t *qmp_command_fn(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err);

struct qmp_command {
	const char *name;
	qmp_command_fn *fn;
	struct qmp_arg args[6];
};

/* Error classes, as QEMU names them. */
#define QMP_CLS_GENERIC       "GenericError"
#define QMP_CLS_NOT_FOUND     "CommandNotFound"
#define QMP_CLS_NOT_ACTIVE    "DeviceNotActive"
#define QMP_CLS_DEV_NOT_FOUND "DeviceNotFound"

/* Fills *err (desc truncated on a UTF-8 boundary). */
void qmp_error_set(struct qmp_error *err, const char *cls, const char *fmt, ...) PRINTF(3, 4);

/* An unsigned 64-bit integer for a return value: jansson's are signed, so
 * one over INT64_MAX (QEMU's 2^64-1 for "unknown") is carried as a marker
 * that the reply's text turns back into its digits. */
json_t *qmp_u64(uint64_t v) WUR;
/* The element of an array of objects whose "name" is name (borrowed), or
 * NULL: QOM property lists, query-commands, the schema. */
json_t *qmp_find_named(json_t *list, const char *name);

/* An integer argument, signed or such a marker (from a client's integer
 * over INT64_MAX): is it one; its value when not negative. */
bool qmp_is_int(const json_t *v);
bool qmp_get_u64(const json_t *v, uint64_t *out) WUR;

/* QEMU's JSON extensions in standard form: single-quoted strings, \'
 * inside strings, integers up to 2^64-1 (as qmp_u64 markers) and bigger
 * ones (as reals). Returns a malloc'd copy (length in *out_len), NULL
 * when out of memory; anything else is left for the parser to judge. */
char *qemu_json_normalize(const char *msg, size_t len, size_t *out_len) WUR;

/* The QEMU release whose QMP memvm implements: query-version and the
 * greeting report it as "qemu", memvm's own version in "package". */
#define QMP_QEMU_MAJOR   7
#define QMP_QEMU_MINOR   2
#define QMP_QEMU_MICRO   0
#define QMP_QEMU_VERSION "7.2.0"
#define QMP_PACKAGE      "memvm-" MEMVM_VERSION

/* Every command ctx offers, builtins first, shadowed ones left out. */
typedef int qmp_command_visit_fn(void *opaque, const struct qmp_command *c);
int qmp_foreach_command(const struct qmp_ctx *ctx, qmp_command_visit_fn *fn, void *opaque);

/* {"QMP": {"version": ..., "capabilities": []}} (malloc'd, no newline). */
char *qmp_greeting(void) WUR;

/* Handles one framed message: returns the reply (malloc'd, no newline),
 * or NULL when out of memory. Never fails on client input. */
char *qmp_handle(const struct qmp_ctx *ctx, struct qmp_session *s, const char *msg, size_t len) WUR;

/* Runs a command after negotiation (HMP calls commands this way). args
 * may be NULL. Returns the "return" value (new reference) or NULL with
 * *err filled. */
json_t *qmp_execute(const struct qmp_ctx *ctx, const char *cmd, json_t *args,
		    struct qmp_error *err) WUR;

/* {"timestamp": ..., "event": name[, "data": data]} (malloc'd, no
 * newline); data is borrowed and may be NULL. */
char *qmp_event_format(const char *name, json_t *data) WUR;
/* Formats and broadcasts through ctx->event (data borrowed). */
void qmp_emit(const struct qmp_ctx *ctx, const char *name, json_t *data);
/* SHUTDOWN or RESET (event) with {"guest": guest, "reason": QEMU's name
 * of cause}. */
void qmp_emit_cause(const struct qmp_ctx *ctx, const char *event, bool guest,
		    enum shutdown_cause cause);

/* Splits a byte stream into messages. */
struct qmp_framer;
struct qmp_framer *qmp_framer_new(size_t max_message) WUR;
void qmp_framer_free(struct qmp_framer *f);
/* Called for each complete message; a non-zero return stops feeding and
 * is returned by qmp_framer_feed. */
typedef int (*qmp_framer_fn)(void *opaque, const char *msg, size_t len);
/* 0, fn's non-zero return, or -E2BIG once a message exceeds max_message
 * (-ENOMEM if its buffer cannot grow; either way the framer then discards
 * everything and the caller should close). */
int qmp_framer_feed(struct qmp_framer *f, const char *data, size_t len, qmp_framer_fn fn,
		    void *opaque) WUR;

/* {"error": {"class": cls, "desc": desc}} (malloc'd, no newline). */
char *qmp_error_line(const char *cls, const char *desc) WUR;

/* Error text for a message that exceeded the limit. */
#define QMP_TOO_LARGE_DESC "JSON message too large (limit 16 MiB), closing the connection"

#endif
