/* The memory autopilot as it runs (the policy is autopilot_policy.h):
 * every interval on the event loop, and at once when the host's PSI
 * trigger fires, it samples the host (memory/host_pressure.h) and the
 * balloon (target, actual, the guest's statistics), asks the policy, sets
 * the balloon's target, and reports what it saw and did through
 * on_event. Sampling costs a few pread()s of open files, so it runs the
 * same whether the autopilot is on or off: with it off, nothing is set
 * but the events (pressure, stall, huge page pool) still come, for
 * controllers of their own.
 *
 * While on, the guest's statistics are polled every interval (rounded up
 * to seconds); the polling interval the guest had is restored when it is
 * turned off. An operator's target (autopilot_operator_target) turns it
 * off: the operator wins, and says so by setting a target. */
#ifndef MEMVM_AUTOPILOT_H
#define MEMVM_AUTOPILOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balloon/autopilot_policy.h"
#include "balloon/balloon.h"
#include "memory/host_pressure.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/util.h"

enum autopilot_event_kind {
	AUTOPILOT_EV_ACTION,         /* the target moved (or on/off) */
	AUTOPILOT_EV_HOST_PRESSURE,  /* host level changed */
	AUTOPILOT_EV_GUEST_PRESSURE, /* guest level changed */
	AUTOPILOT_EV_STALLED,        /* the guest stopped following its target */
	AUTOPILOT_EV_HUGE_POOL,      /* the huge page pool went low, or recovered */
};

struct autopilot_event {
	enum autopilot_event_kind kind;
	/* ACTION: what, why; with on/off changes action is HOLD and why
	 * names the cause in `cause` ("on", "off", "operator-target"). */
	enum autopilot_action action;
	enum autopilot_reason why;
	const char *cause;
	uint64_t target, actual; /* bytes, guest sizes */
	/* HOST_PRESSURE, GUEST_PRESSURE */
	enum autopilot_level level;
	uint32_t stall_permille;
	uint64_t usage, limit; /* host */
	const char *source;    /* host: host_pressure_source() */
	int64_t available;     /* guest, -1 unknown */
	/* STALLED */
	uint64_t waited_ms;
	/* HUGE_POOL */
	bool low;
	uint64_t page_size, free_pages, needed_pages;
};

struct autopilot_config {
	struct balloon *balloon;
	struct evloop *loop;
	struct host_pressure *host; /* taken over (freed by autopilot_free); may be NULL */
	uint64_t ram_size;
	uint64_t huge_page_size; /* 0 unless RAM is hugetlb */
	bool enabled;
	const struct autopilot_limits *limits; /* NULL: autopilot_limits_default() */
	/* Loop thread. NULL: no events. */
	void (*on_event)(void *opaque, const struct autopilot_event *ev);
	void *opaque;
};

struct autopilot;

/* 0, -EINVAL (limits), -ENOMEM, or a timerfd or epoll -errno. */
int autopilot_new(const struct autopilot_config *cfg, struct autopilot **out) WUR;
/* With the loop stopped or from the loop thread. NULL: no-op. */
void autopilot_free(struct autopilot *ap);

/* Loop thread from here on. 0 or -errno (stats polling). */
int autopilot_set_enabled(struct autopilot *ap, bool on) WUR;
/* 0, or -EINVAL with why. */
int autopilot_set_limits(struct autopilot *ap, const struct autopilot_limits *l, char *why,
			 size_t n) WUR;
/* The operator set a target: off if on (true returned, event sent). */
bool autopilot_operator_target(struct autopilot *ap);

struct autopilot_status {
	bool enabled;
	struct autopilot_limits limits;
	const char *source;
	struct host_pressure_sample host; /* the last sample */
	enum autopilot_level host_level, guest_level;
	uint32_t stall_permille;
	const char *guest_cause; /* NULL when the guest level is normal */
	bool huge_low;
	/* The last move. */
	enum autopilot_action last_action;
	enum autopilot_reason last_why;
	uint64_t last_target;
	uint64_t last_ms_ago; /* UINT64_MAX: never moved */
	uint64_t inflations, deflations, give_ups, ticks;
};
void autopilot_query(struct autopilot *ap, struct autopilot_status *out);

#endif
