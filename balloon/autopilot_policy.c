/* The memory autopilot's policy (see autopilot_policy.h). */
#include "balloon/autopilot_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/lib/size.h"

struct autopilot_policy {
	struct autopilot_limits l;

	/* host */
	bool have_prev;
	uint64_t prev_ms, prev_stall_us;
	enum autopilot_level host;
	uint64_t host_normal_since;

	/* guest, as of its last report */
	enum autopilot_level guest;
	bool have_report;
	uint64_t seq, report_ms;
	int64_t majflt, ooms, stalls;

	/* the target being followed */
	uint64_t track_target, best_dist, progress_ms;
	bool tracking, stall_reported;

	uint64_t backoff_until;
	uint64_t action_seq; /* the report seen when the policy last moved */
	bool acted;
};

void autopilot_limits_default(uint64_t ram, struct autopilot_limits *out)
{
	*out = (struct autopilot_limits){
		.floor = MIN(MAX(ram / 4, 64ull << 20), ram),
		.step = MIN(MAX(ram / 16, 4ull << 20), ram),
		.reserve = MIN(MAX(ram / 16, 16ull << 20), ram),
		.interval_ms = 1000,
		.stall_ms = 10000,
		.backoff_ms = 10000,
	};
}

int autopilot_limits_check(uint64_t ram, const struct autopilot_limits *l, char *why, size_t n)
{
	char a[32];
	size_format(a, sizeof(a), ram);
	if (l->floor > ram) {
		snprintf(why, n, "autopilot floor: at most the guest's RAM (%s)", a);
		return -EINVAL;
	}
	if (l->step < AUTOPILOT_GRAIN || l->step > ram) {
		snprintf(why, n, "autopilot step: from 1 MiB to the guest's RAM (%s)", a);
		return -EINVAL;
	}
	if (l->reserve > ram) {
		snprintf(why, n, "autopilot reserve: at most the guest's RAM (%s)", a);
		return -EINVAL;
	}
	if (l->interval_ms < 100 || l->interval_ms > 60000) {
		snprintf(why, n, "autopilot interval: from 100 ms to 60 s");
		return -EINVAL;
	}
	if (l->stall_ms < l->interval_ms || l->stall_ms > 3600000) {
		snprintf(why, n, "autopilot stall timeout: from one interval to an hour");
		return -EINVAL;
	}
	if (l->backoff_ms > 3600000) {
		snprintf(why, n, "autopilot backoff: at most an hour");
		return -EINVAL;
	}
	return 0;
}

int autopilot_policy_new(const struct autopilot_limits *l, struct autopilot_policy **out)
{
	struct autopilot_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->l = *l;
	*out = p;
	return 0;
}

void autopilot_policy_free(struct autopilot_policy *p)
{
	free(p);
}

void autopilot_policy_set_limits(struct autopilot_policy *p, const struct autopilot_limits *l)
{
	p->l = *l;
}

void autopilot_policy_limits(const struct autopilot_policy *p, struct autopilot_limits *out)
{
	*out = p->l;
}

void autopilot_policy_target_changed(struct autopilot_policy *p, uint64_t now_ms)
{
	p->tracking = false; /* the next tick starts the clock on the new target */
	p->progress_ms = now_ms;
}

static uint64_t host_low(const struct autopilot_input *in)
{
	return MAX(in->host.limit / AUTOPILOT_HOST_LOW_DIV, AUTOPILOT_HOST_LOW_MIN);
}

static void host_update(struct autopilot_policy *p, const struct autopilot_input *in,
			struct autopilot_decision *d)
{
	uint64_t now = in->now_ms;
	uint32_t permille = 0;
	if (in->host.psi && p->have_prev && now > p->prev_ms &&
	    in->host.stall_us >= p->prev_stall_us)
		permille = (uint32_t)MIN(
			(in->host.stall_us - p->prev_stall_us) / (now - p->prev_ms), 1000);
	if (!p->have_prev)
		p->host_normal_since = now;
	p->have_prev = true;
	p->prev_ms = now;
	p->prev_stall_us = in->host.stall_us;
	d->host_stall_permille = permille;

	enum autopilot_level lv = p->host;
	if (!in->host.known) {
		lv = AUTOPILOT_NORMAL;
	} else {
		int64_t low = (int64_t)host_low(in);
		if (in->host.headroom < low || permille >= AUTOPILOT_HOST_STALL_HIGH)
			lv = AUTOPILOT_HIGH;
		else if (in->host.headroom > 2 * low && permille < AUTOPILOT_HOST_STALL_LOW)
			lv = AUTOPILOT_NORMAL;
	}
	if (lv != p->host) {
		d->host_changed = true;
		if (lv == AUTOPILOT_NORMAL)
			p->host_normal_since = now;
	}
	p->host = lv;
}

/* Returns the cause of guest pressure in a new report, or NULL. */
static const char *guest_update(struct autopilot_policy *p, const struct autopilot_input *in,
				struct autopilot_decision *d)
{
	const char *cause = NULL;
	if (p->have_report && in->guest.stats_seq == p->seq)
		return NULL; /* nothing new */
	int64_t av = in->guest.available;
	uint64_t dt = p->have_report ? in->now_ms - p->report_ms : 0;
	if (av >= 0 && (uint64_t)av < p->l.reserve)
		cause = "available";
	else if (p->have_report && in->guest.oom_kills > p->ooms && p->ooms >= 0)
		cause = "oom-kill";
	else if (p->have_report && in->guest.alloc_stalls > p->stalls && p->stalls >= 0)
		cause = "allocation-stall";
	else if (p->have_report && dt && p->majflt >= 0 && in->guest.major_faults > p->majflt &&
		 (uint64_t)(in->guest.major_faults - p->majflt) * 1000 / dt >
			 AUTOPILOT_GUEST_MAJFLT_RATE)
		cause = "major-faults";
	p->have_report = true;
	p->seq = in->guest.stats_seq;
	p->report_ms = in->now_ms;
	p->majflt = in->guest.major_faults;
	p->ooms = in->guest.oom_kills;
	p->stalls = in->guest.alloc_stalls;

	enum autopilot_level lv = p->guest;
	if (cause)
		lv = AUTOPILOT_HIGH;
	else if (av >= 0 && (uint64_t)av > p->l.reserve + p->l.reserve / 2)
		lv = AUTOPILOT_NORMAL;
	if (lv != p->guest)
		d->guest_changed = true;
	p->guest = lv;
	return cause;
}

static uint64_t dist(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* True once when the guest has not moved towards its target for stall_ms. */
static bool stall_update(struct autopilot_policy *p, const struct autopilot_input *in)
{
	uint64_t now = in->now_ms, t = in->guest.target, a = in->guest.actual;
	if (t == a || !in->guest.driver_ready) {
		p->tracking = false;
		p->progress_ms = now;
		return false;
	}
	uint64_t dd = dist(t, a);
	if (!p->tracking || p->track_target != t) {
		p->tracking = true;
		p->track_target = t;
		p->best_dist = dd;
		p->progress_ms = now;
		p->stall_reported = false;
		return false;
	}
	if (dd < p->best_dist) {
		p->best_dist = dd;
		p->progress_ms = now;
	}
	if (!p->stall_reported && now - p->progress_ms >= p->l.stall_ms) {
		p->stall_reported = true;
		return true;
	}
	return false;
}

static uint64_t grain_down(uint64_t v)
{
	return v / AUTOPILOT_GRAIN * AUTOPILOT_GRAIN;
}

static void act(struct autopilot_policy *p, const struct autopilot_input *in,
		struct autopilot_decision *d, enum autopilot_action a, enum autopilot_reason why,
		uint64_t target)
{
	if (target == in->guest.target)
		return;
	d->action = a;
	d->why = why;
	d->target = target;
	p->acted = true;
	p->action_seq = in->guest.stats_seq;
	/* The new target's clock starts now. */
	p->tracking = true;
	p->track_target = target;
	p->best_dist = dist(target, in->guest.actual);
	p->progress_ms = in->now_ms;
	p->stall_reported = target == in->guest.actual;
}

void autopilot_policy_step(struct autopilot_policy *p, const struct autopilot_input *in,
			   struct autopilot_decision *d)
{
	memset(d, 0, sizeof(*d));
	host_update(p, in, d);
	const char *cause = guest_update(p, in, d);
	d->stalled = stall_update(p, in);
	d->host = p->host;
	d->guest = p->guest;
	d->guest_cause = p->guest == AUTOPILOT_HIGH ? (cause ? cause : "available") : NULL;
	if (!in->enabled || !in->guest.driver_ready)
		return;

	uint64_t now = in->now_ms, ram = in->guest.ram, t = in->guest.target, a = in->guest.actual;
	uint64_t floor = MIN(p->l.floor, ram), step = p->l.step;
	if (d->stalled) {
		p->backoff_until = now + p->l.backoff_ms;
		act(p, in, d, AUTOPILOT_GIVE_UP, AUTOPILOT_WHY_STALLED, MIN(MAX(a, floor), ram));
		return;
	}
	if (cause) {
		p->backoff_until = now + p->l.backoff_ms;
		uint64_t up = MAX(t, a) + step;
		up = up > ram - ram % AUTOPILOT_GRAIN ? ram : grain_down(up);
		if (up > t)
			act(p, in, d, AUTOPILOT_DEFLATE, AUTOPILOT_WHY_GUEST_PRESSURE, up);
		return;
	}
	if (t < floor) {
		act(p, in, d, AUTOPILOT_DEFLATE, AUTOPILOT_WHY_FLOOR, floor);
		return;
	}
	int64_t av = in->guest.available;
	if (p->host == AUTOPILOT_HIGH && now >= p->backoff_until && a <= t + AUTOPILOT_GRAIN &&
	    (!p->acted || in->guest.stats_seq != p->action_seq) && av >= 0 &&
	    (uint64_t)av > p->l.reserve) {
		uint64_t shrink = grain_down(
			MIN(MIN(step, (uint64_t)av - p->l.reserve), t - floor));
		if (shrink >= AUTOPILOT_GRAIN)
			act(p, in, d, AUTOPILOT_INFLATE, AUTOPILOT_WHY_HOST_PRESSURE, t - shrink);
		return;
	}
	uint64_t low = host_low(in);
	if (p->host == AUTOPILOT_NORMAL && in->host.known && t < ram &&
	    now - p->host_normal_since >= AUTOPILOT_RELAX_MS &&
	    in->host.headroom > (int64_t)(2 * low + step)) {
		uint64_t give = MIN(MIN(step / 2, ram - t), (uint64_t)in->host.headroom - 2 * low);
		give = t + give >= ram ? ram - t : grain_down(give);
		if (give) {
			act(p, in, d, AUTOPILOT_DEFLATE, AUTOPILOT_WHY_HOST_RELAXED, t + give);
			p->host_normal_since = now; /* one give-back per relaxed period */
		}
	}
}

const char *autopilot_action_name(enum autopilot_action a)
{
	switch (a) {
	case AUTOPILOT_HOLD:
		return "hold";
	case AUTOPILOT_INFLATE:
		return "inflate";
	case AUTOPILOT_DEFLATE:
		return "deflate";
	case AUTOPILOT_GIVE_UP:
		return "give-up";
	}
	return "?";
}

const char *autopilot_level_name(enum autopilot_level l)
{
	return l == AUTOPILOT_HIGH ? "high" : "normal";
}

const char *autopilot_reason_name(enum autopilot_reason r)
{
	switch (r) {
	case AUTOPILOT_WHY_NONE:
		return "none";
	case AUTOPILOT_WHY_HOST_PRESSURE:
		return "host-pressure";
	case AUTOPILOT_WHY_GUEST_PRESSURE:
		return "guest-pressure";
	case AUTOPILOT_WHY_HOST_RELAXED:
		return "host-relaxed";
	case AUTOPILOT_WHY_STALLED:
		return "stalled";
	case AUTOPILOT_WHY_FLOOR:
		return "floor";
	}
	return "?";
}
