/* QMP commands of the memory autopilot (see autopilot_qmp.h). */
#include "vmm/monitor/autopilot_qmp.h"

#include <errno.h>
#include <string.h>

#include "balloon/autopilot.h"

static struct autopilot *need_autopilot(const struct qmp_ctx *ctx, struct qmp_error *err)
{
	if (!ctx->be->autopilot)
		qmp_error_set(err, QMP_CLS_NOT_ACTIVE, "No balloon device has been activated");
	return ctx->be->autopilot;
}

static json_t *status_json(struct autopilot *ap)
{
	struct autopilot_status st;
	autopilot_query(ap, &st);
	const struct autopilot_limits *l = &st.limits;
	json_t *host = json_pack("{s:s,s:s,s:i}", "source", st.source, "level",
				 autopilot_level_name(st.host_level), "stall-permille",
				 (int)st.stall_permille);
	json_t *guest = json_pack("{s:s}", "level", autopilot_level_name(st.guest_level));
	json_t *r = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:I}", "enabled",
			      st.enabled, "floor", (json_int_t)l->floor, "step",
			      (json_int_t)l->step, "reserve", (json_int_t)l->reserve, "interval-ms",
			      (json_int_t)l->interval_ms, "stall-ms", (json_int_t)l->stall_ms,
			      "backoff-ms", (json_int_t)l->backoff_ms, "huge-pool-low", st.huge_low,
			      "inflations", (json_int_t)st.inflations, "deflations",
			      (json_int_t)st.deflations, "give-ups", (json_int_t)st.give_ups,
			      "ticks", (json_int_t)st.ticks);
	int bad = !host || !guest || !r;
	if (!bad && st.host.limited)
		bad |= json_object_set_new(host, "usage", json_integer((json_int_t)st.host.usage)) |
		       json_object_set_new(host, "limit", json_integer((json_int_t)st.host.limit));
	if (!bad && st.host.huge)
		bad |= json_object_set_new(host, "huge-free",
					   json_integer((json_int_t)st.host.huge_free));
	if (!bad && st.guest_cause)
		bad |= json_object_set_new(guest, "cause", json_string(st.guest_cause));
	if (!bad && st.last_ms_ago != UINT64_MAX) {
		json_t *last = json_pack(
			"{s:s,s:s,s:I,s:I}", "action", autopilot_action_name(st.last_action),
			"reason", autopilot_reason_name(st.last_why), "target",
			(json_int_t)st.last_target, "ms-ago", (json_int_t)st.last_ms_ago);
		bad |= !last || json_object_set_new(r, "last", last);
	}
	if (!bad) {
		bad |= json_object_set_new(r, "host", host) |
		       json_object_set_new(r, "guest", guest);
		host = guest = NULL;
	}
	json_decref(host);
	json_decref(guest);
	if (bad) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static json_t *cmd_query_autopilot(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	struct autopilot *ap = need_autopilot(ctx, err);
	return ap ? status_json(ap) : NULL;
}

/* A size or time argument, if given: 0 and out untouched when absent. */
static int opt_u64(json_t *args, const char *name, uint64_t *out, struct qmp_error *err)
{
	json_t *v = json_object_get(args, name);
	if (!v)
		return 0;
	if (!qmp_get_u64(v, out)) {
		qmp_error_set(err, QMP_CLS_GENERIC, "Parameter '%s' expects a non-negative integer",
			      name);
		return -EINVAL;
	}
	return 0;
}

static json_t *cmd_autopilot(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	struct autopilot *ap = need_autopilot(ctx, err);
	if (!ap)
		return NULL;
	struct autopilot_status st;
	autopilot_query(ap, &st);
	struct autopilot_limits l = st.limits;
	uint64_t interval = l.interval_ms;
	if (opt_u64(args, "floor", &l.floor, err) || opt_u64(args, "step", &l.step, err) ||
	    opt_u64(args, "reserve", &l.reserve, err) ||
	    opt_u64(args, "interval-ms", &interval, err))
		return NULL;
	l.interval_ms = interval > UINT32_MAX ? UINT32_MAX : (uint32_t)interval;
	/* A longer interval carries the stall timeout along. */
	if (l.stall_ms < l.interval_ms)
		l.stall_ms = l.interval_ms;
	char why[160];
	if (autopilot_set_limits(ap, &l, why, sizeof(why))) {
		qmp_error_set(err, QMP_CLS_GENERIC, "%s", why);
		return NULL;
	}
	json_t *en = json_object_get(args, "enabled");
	if (en) {
		int ret = autopilot_set_enabled(ap, json_is_true(en));
		if (ret) {
			qmp_error_set(err, QMP_CLS_GENERIC, "autopilot: %s", strerror(-ret));
			return NULL;
		}
	}
	return status_json(ap);
}

const struct qmp_command autopilot_commands[] = {
	{ "x-query-memvm-autopilot", cmd_query_autopilot, { { 0 } } },
	{ "x-memvm-autopilot",
	  cmd_autopilot,
	  { { "enabled", QMP_ARG_BOOL, true },
	    { "floor", QMP_ARG_INT, true },
	    { "step", QMP_ARG_INT, true },
	    { "reserve", QMP_ARG_INT, true },
	    { "interval-ms", QMP_ARG_INT, true } } },
	{ 0 },
};
