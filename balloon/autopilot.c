/* The memory autopilot's runner (see autopilot.h). */
#include "balloon/autopilot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* The PSI trigger may fire many times a second; ticks stay this far apart. */
#define AUTOPILOT_MIN_GAP_MS 200

struct autopilot {
	struct autopilot_config cfg;
	struct autopilot_policy *policy;
	struct host_pressure *host;
	int timer_fd;
	int trigger_fd; /* registered with the loop, or -1 */
	bool enabled;
	uint32_t saved_stats_s; /* the guest's polling interval before we raised it */
	uint32_t our_stats_s;   /* what we set it to; 0: untouched */
	uint64_t last_tick_ms;
	struct autopilot_status st;
	uint64_t last_move_ms;
	bool moved;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(struct autopilot *ap, const struct autopilot_event *ev)
{
	if (ap->cfg.on_event)
		ap->cfg.on_event(ap->cfg.opaque, ev);
}

static void emit_switch(struct autopilot *ap, const char *cause)
{
	struct balloon_info bi;
	balloon_query(ap->cfg.balloon, &bi);
	struct autopilot_event ev = { .kind = AUTOPILOT_EV_ACTION,
				      .action = AUTOPILOT_HOLD,
				      .cause = cause,
				      .target = bi.target_bytes,
				      .actual = bi.actual_bytes };
	emit(ap, &ev);
}

static void huge_check(struct autopilot *ap, const struct balloon_info *bi)
{
	const struct host_pressure_sample *s = &ap->st.host;
	uint64_t ps = ap->cfg.huge_page_size;
	if (!s->huge || ps <= 4096)
		return;
	/* What the guest may ask back at any time: the huge pages' worth the
	 * balloon holds. A deflate held for want of pages is low whatever
	 * the count says. */
	uint64_t held = bi->ram_size - MIN(bi->actual_bytes, bi->ram_size);
	uint64_t needed = (held + ps - 1) / ps;
	bool low = bi->deflate_waiting || s->huge_free < needed;
	if (low == ap->st.huge_low)
		return;
	ap->st.huge_low = low;
	struct autopilot_event ev = { .kind = AUTOPILOT_EV_HUGE_POOL,
				      .low = low,
				      .page_size = ps,
				      .free_pages = s->huge_free,
				      .needed_pages = needed };
	emit(ap, &ev);
}

static void tick(struct autopilot *ap)
{
	uint64_t now = mono_ms();
	ap->last_tick_ms = now;
	ap->st.ticks++;
	struct autopilot_input in = { .now_ms = now, .enabled = ap->enabled };
	if (ap->host && !host_pressure_read(ap->host, &ap->st.host)) {
		const struct host_pressure_sample *s = &ap->st.host;
		in.host.known = s->limited;
		in.host.psi = s->psi;
		in.host.stall_us = s->stall_us;
		in.host.limit = s->limit;
		in.host.headroom = s->limited ? (int64_t)s->limit - (int64_t)s->usage : 0;
		if (!s->limited && s->psi) {
			/* Stall time alone still tells pressure. */
			in.host.known = true;
			in.host.limit = 0;
			in.host.headroom = INT64_MAX;
		}
	}
	struct balloon_info bi;
	struct balloon_stats bs;
	balloon_query(ap->cfg.balloon, &bi);
	balloon_get_stats(ap->cfg.balloon, &bs);
	in.guest.driver_ready = bi.driver_ready;
	in.guest.ram = bi.ram_size;
	in.guest.target = bi.target_bytes;
	in.guest.actual = bi.actual_bytes;
	in.guest.stats_seq = bs.seq;
	in.guest.available = bs.value[BALLOON_STAT_AVAILABLE_MEMORY];
	in.guest.major_faults = bs.value[BALLOON_STAT_MAJOR_FAULTS];
	in.guest.oom_kills = bs.value[BALLOON_STAT_OOM_KILLS];
	in.guest.alloc_stalls = bs.value[BALLOON_STAT_ALLOC_STALLS];

	struct autopilot_decision d;
	autopilot_policy_step(ap->policy, &in, &d);
	ap->st.host_level = d.host;
	ap->st.guest_level = d.guest;
	ap->st.guest_cause = d.guest_cause;
	ap->st.stall_permille = d.host_stall_permille;

	if (d.host_changed) {
		struct autopilot_event ev = { .kind = AUTOPILOT_EV_HOST_PRESSURE,
					      .level = d.host,
					      .stall_permille = d.host_stall_permille,
					      .usage = ap->st.host.usage,
					      .limit = ap->st.host.limit,
					      .source = ap->st.source };
		emit(ap, &ev);
	}
	if (d.guest_changed) {
		struct autopilot_event ev = { .kind = AUTOPILOT_EV_GUEST_PRESSURE,
					      .level = d.guest,
					      .cause = d.guest_cause,
					      .available = in.guest.available };
		emit(ap, &ev);
	}
	if (d.stalled) {
		struct autopilot_event ev = { .kind = AUTOPILOT_EV_STALLED,
					      .target = bi.target_bytes,
					      .actual = bi.actual_bytes,
					      .waited_ms = ap->st.limits.stall_ms };
		emit(ap, &ev);
	}
	if (d.action != AUTOPILOT_HOLD && !balloon_set_target(ap->cfg.balloon, d.target)) {
		ap->st.last_action = d.action;
		ap->st.last_why = d.why;
		ap->st.last_target = d.target;
		ap->last_move_ms = now;
		ap->moved = true;
		if (d.action == AUTOPILOT_INFLATE)
			ap->st.inflations++;
		else if (d.action == AUTOPILOT_DEFLATE)
			ap->st.deflations++;
		else
			ap->st.give_ups++;
		struct autopilot_event ev = { .kind = AUTOPILOT_EV_ACTION,
					      .action = d.action,
					      .why = d.why,
					      .target = d.target,
					      .actual = bi.actual_bytes };
		emit(ap, &ev);
	}
	huge_check(ap, &bi);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct autopilot *ap = opaque;
	uint64_t n;
	(void)events;
	if (read(ap->timer_fd, &n, sizeof(n)) != sizeof(n))
		return;
	tick(ap);
}

static void on_trigger(void *opaque, uint32_t events)
{
	struct autopilot *ap = opaque;
	if (events & EPOLLERR && !(events & EPOLLPRI)) {
		/* The cgroup went away: the timer carries on alone. */
		(void)evloop_del(ap->cfg.loop, ap->trigger_fd);
		ap->trigger_fd = -1;
		return;
	}
	if (mono_ms() - ap->last_tick_ms >= AUTOPILOT_MIN_GAP_MS)
		tick(ap);
}

static int arm(struct autopilot *ap)
{
	uint32_t ms = ap->st.limits.interval_ms;
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 },
	};
	its.it_value = its.it_interval;
	return timerfd_settime(ap->timer_fd, 0, &its, NULL) ? -errno : 0;
}

int autopilot_new(const struct autopilot_config *cfg, struct autopilot **out)
{
	struct autopilot_limits l;
	char why[128];
	if (!cfg->balloon || !cfg->loop)
		return -EINVAL;
	if (cfg->limits)
		l = *cfg->limits;
	else
		autopilot_limits_default(cfg->ram_size, &l);
	if (autopilot_limits_check(cfg->ram_size, &l, why, sizeof(why)))
		return -EINVAL;
	struct autopilot *ap = calloc(1, sizeof(*ap));
	if (!ap)
		return -ENOMEM;
	ap->cfg = *cfg;
	ap->host = cfg->host;
	ap->timer_fd = ap->trigger_fd = -1;
	ap->st.limits = l;
	ap->st.source = ap->host ? host_pressure_source(ap->host) : "none";
	int ret = autopilot_policy_new(&l, &ap->policy);
	if (ret)
		goto fail;
	ap->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ap->timer_fd < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = evloop_add(cfg->loop, ap->timer_fd, EPOLLIN, on_timer, ap)))
		goto fail_close;
	int tfd = ap->host ? host_pressure_trigger_fd(ap->host) : -1;
	if (tfd >= 0 && !evloop_add(cfg->loop, tfd, EPOLLPRI, on_trigger, ap))
		ap->trigger_fd = tfd;
	if ((ret = arm(ap)))
		goto fail_del;
	*out = ap;
	if (cfg->enabled && (ret = autopilot_set_enabled(ap, true))) {
		autopilot_free(ap);
		*out = NULL;
		return ret;
	}
	return 0;
fail_del:
	if (ap->trigger_fd >= 0)
		(void)evloop_del(cfg->loop, ap->trigger_fd);
	(void)evloop_del(cfg->loop, ap->timer_fd);
fail_close:
	close(ap->timer_fd);
fail:
	autopilot_policy_free(ap->policy);
	host_pressure_free(ap->host);
	free(ap);
	return ret;
}

void autopilot_free(struct autopilot *ap)
{
	if (!ap)
		return;
	if (ap->trigger_fd >= 0)
		(void)evloop_del(ap->cfg.loop, ap->trigger_fd);
	(void)evloop_del(ap->cfg.loop, ap->timer_fd);
	close(ap->timer_fd);
	autopilot_policy_free(ap->policy);
	host_pressure_free(ap->host); /* closes the trigger fd */
	free(ap);
}

static int switch_to(struct autopilot *ap, bool on, const char *cause)
{
	if (on == ap->enabled)
		return 0;
	struct balloon_stats bs;
	balloon_get_stats(ap->cfg.balloon, &bs);
	uint32_t want = (ap->st.limits.interval_ms + 999) / 1000;
	int ret = 0;
	if (on) {
		/* The policy needs a report every interval. */
		if (bs.polling_interval_s == 0 || bs.polling_interval_s > want) {
			if ((ret = balloon_set_stats_interval(ap->cfg.balloon, want)))
				return ret;
			ap->saved_stats_s = bs.polling_interval_s;
			ap->our_stats_s = want;
		}
	} else if (ap->our_stats_s && bs.polling_interval_s == ap->our_stats_s) {
		/* Put back what the guest had, unless someone changed it since. */
		if ((ret = balloon_set_stats_interval(ap->cfg.balloon, ap->saved_stats_s)))
			return ret;
		ap->our_stats_s = 0;
	}
	ap->enabled = on;
	ap->st.enabled = on;
	emit_switch(ap, cause);
	return 0;
}

int autopilot_set_enabled(struct autopilot *ap, bool on)
{
	return switch_to(ap, on, on ? "on" : "off");
}

int autopilot_set_limits(struct autopilot *ap, const struct autopilot_limits *l, char *why,
			 size_t n)
{
	int ret = autopilot_limits_check(ap->cfg.ram_size, l, why, n);
	if (ret)
		return ret;
	bool rearm = l->interval_ms != ap->st.limits.interval_ms;
	ap->st.limits = *l;
	autopilot_policy_set_limits(ap->policy, l);
	if (rearm && (ret = arm(ap))) {
		snprintf(why, n, "autopilot interval: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

bool autopilot_operator_target(struct autopilot *ap)
{
	autopilot_policy_target_changed(ap->policy, mono_ms());
	if (!ap->enabled)
		return false;
	if (switch_to(ap, false, "operator-target")) {
		ap->enabled = ap->st.enabled = false; /* off even if polling stays up */
		emit_switch(ap, "operator-target");
	}
	return true;
}

void autopilot_query(struct autopilot *ap, struct autopilot_status *out)
{
	*out = ap->st;
	out->last_ms_ago = ap->moved ? mono_ms() - ap->last_move_ms : UINT64_MAX;
}
