/* QMP, QEMU's JSON monitor protocol, without sockets: message framing,
 * the greeting, capabilities negotiation, dispatch over a command table
 * with QEMU's argument checks and error texts, replies and event
 * formatting. The socket side is vmm/monitor/monitor.c; tests and the
 * fuzzer drive this directly.
 *
 * Framing follows QEMU's JSON streamer: a message ends where its braces
 * and brackets balance (outside strings), so an object may span lines
 * and several may share one; a bare scalar at top level is a message of
 * its own. Parsing is jansson's. */
#ifndef MEMVM_QMP_H
#define MEMVM_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm/monitor/backend.h"
#include "vmm/lib/util.h"

struct qmp_command;

/* What commands act on and where their events go. */
struct qmp_ctx {
	const struct monitor_backend *be;
	/* Broadcasts an event: called with the whole event line (no newline),
	 * timestamped now. NULL: events are dropped. */
	void (*event)(void *opaque, const char *name, const char *line);
	void *opaque;
	/* Commands from outside QMP (hmp_qmp_commands), dispatched and listed
	 * after QMP's own, which win on a name clash; the table ends at an
	 * entry without a name. NULL: none. */
	const struct qmp_command *extra;
};

/* Per-client protocol state. */
struct qmp_session {
	bool negotiated;
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
	struct qmp_arg args[4];
};

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
 * (the framer then discards everything; the caller should close). */
int qmp_framer_feed(struct qmp_framer *f, const char *data, size_t len, qmp_framer_fn fn,
		    void *opaque) WUR;

/* {"error": {"class": cls, "desc": desc}} (malloc'd, no newline). */
char *qmp_error_line(const char *cls, const char *desc) WUR;

/* Error text for a message that exceeded the limit. */
#define QMP_TOO_LARGE_DESC "JSON message too large (limit 64 KiB), closing the connection"

#endif
