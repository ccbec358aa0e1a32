/* The memory autopilot's policy: given what the host and the guest said
 * in the last interval, what the balloon's target should be. Pure: no
 * clock, no files, no device; the caller (balloon/autopilot.h) samples
 * and applies, and unit tests drive it on a virtual clock with scripted
 * inputs.
 *
 * The rules, in order, each tick:
 *   - stall: a target the guest has not moved towards for stall_ms is
 *     given up (the target becomes the guest's actual size, and no
 *     inflation follows for backoff_ms);
 *   - guest pressure (MemAvailable under `reserve`, or new OOM kills or
 *     allocation stalls, or major faults above AUTOPILOT_GUEST_MAJFLT_RATE a
 *     second): deflate by one step, and no inflation for backoff_ms;
 *   - host pressure (headroom under its limit below AUTOPILOT_HOST_LOW,
 *     or tasks stalled on memory AUTOPILOT_HOST_STALL_HIGH of the time):
 *     inflate by what the guest has beyond `reserve`, at most one step,
 *     never below `floor`, and only once the guest followed the last step
 *     and reported after it;
 *   - host relaxed for AUTOPILOT_RELAX_MS (headroom above twice the low
 *     mark plus a step, little stall): give back half a step.
 * Levels have hysteresis: "high" starts at one mark and ends at another,
 * so the events they raise do not flap. */
#ifndef MEMVM_AUTOPILOT_POLICY_H
#define MEMVM_AUTOPILOT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

/* Host pressure: high below limit/AUTOPILOT_HOST_LOW_DIV headroom (at
 * least AUTOPILOT_HOST_LOW_MIN) or at this much stall (per mille of the
 * interval, PSI "some"); normal again above twice that headroom and under
 * AUTOPILOT_HOST_STALL_LOW. */
#define AUTOPILOT_HOST_LOW_DIV    8
#define AUTOPILOT_HOST_LOW_MIN    (16ull << 20)
#define AUTOPILOT_HOST_STALL_HIGH 50 /* 5 % */
#define AUTOPILOT_HOST_STALL_LOW  10 /* 1 % */
/* Major faults a second that count as guest pressure. */
#define AUTOPILOT_GUEST_MAJFLT_RATE 200
/* Host relaxed this long before memory is given back. */
#define AUTOPILOT_RELAX_MS 10000
/* Targets move in whole MiB. */
#define AUTOPILOT_GRAIN (1ull << 20)

struct autopilot_limits {
	uint64_t floor;       /* bytes: never balloon the guest below this */
	uint64_t step;        /* bytes: at most this much change per tick */
	uint64_t reserve;     /* bytes: keep this much available in the guest */
	uint32_t interval_ms; /* between ticks */
	uint32_t stall_ms;    /* a target not followed this long is given up */
	uint32_t backoff_ms;  /* no inflation this long after guest pressure */
};

/* The defaults for a guest of `ram` bytes: floor ram/4 (at least 64 MiB),
 * step ram/16 (at least 4 MiB), reserve ram/16 (at least 16 MiB), each
 * at most ram; 1 s interval, 10 s stall, 10 s backoff. */
void autopilot_limits_default(uint64_t ram, struct autopilot_limits *out);
/* 0, or -EINVAL with why (one line naming the limit and its range). */
int autopilot_limits_check(uint64_t ram, const struct autopilot_limits *l, char *why, size_t n) WUR;

/* One tick's inputs. Guest sizes as QEMU's query-balloon gives them
 * (RAM minus the balloon). Counters are cumulative; -1: unknown. */
struct autopilot_input {
	uint64_t now_ms; /* any monotonic clock */
	bool enabled;    /* off: levels and stalls are followed, nothing is set */
	struct {
		bool known;        /* false: no host figures at all */
		uint64_t stall_us; /* PSI "some" total (cumulative, microseconds) */
		bool psi;          /* stall_us is real */
		int64_t headroom;  /* bytes below the limit (negative: over it) */
		uint64_t limit;    /* what headroom is measured against */
	} host;
	struct {
		bool driver_ready;
		uint64_t ram, target, actual;
		uint64_t stats_seq; /* changes with each statistics report */
		int64_t available, major_faults, oom_kills, alloc_stalls;
	} guest;
};

enum autopilot_action {
	AUTOPILOT_HOLD,
	AUTOPILOT_INFLATE, /* target lowered */
	AUTOPILOT_DEFLATE, /* target raised */
	AUTOPILOT_GIVE_UP, /* target set to actual: the guest stopped following */
};

enum autopilot_reason {
	AUTOPILOT_WHY_NONE,
	AUTOPILOT_WHY_HOST_PRESSURE,
	AUTOPILOT_WHY_GUEST_PRESSURE,
	AUTOPILOT_WHY_HOST_RELAXED,
	AUTOPILOT_WHY_STALLED,
	AUTOPILOT_WHY_FLOOR, /* below the floor (a lowered floor or an operator's target) */
};

enum autopilot_level { AUTOPILOT_NORMAL, AUTOPILOT_HIGH };

struct autopilot_decision {
	enum autopilot_action action;
	enum autopilot_reason why;
	uint64_t target; /* the new target, for every action but HOLD */
	/* Levels now, and whether they changed this tick (events). */
	enum autopilot_level host, guest;
	bool host_changed, guest_changed;
	bool stalled;                 /* the guest stopped following its target (this tick) */
	uint32_t host_stall_permille; /* over the last tick */
	const char *guest_cause;      /* why the guest level is high: "available", ... */
};

struct autopilot_policy;

int autopilot_policy_new(const struct autopilot_limits *l, struct autopilot_policy **out) WUR;
void autopilot_policy_free(struct autopilot_policy *p);
void autopilot_policy_set_limits(struct autopilot_policy *p, const struct autopilot_limits *l);
void autopilot_policy_limits(const struct autopilot_policy *p, struct autopilot_limits *out);
/* Someone else set the target (the operator): the stall clock restarts. */
void autopilot_policy_target_changed(struct autopilot_policy *p, uint64_t now_ms);
void autopilot_policy_step(struct autopilot_policy *p, const struct autopilot_input *in,
			   struct autopilot_decision *out);

/* "hold", "inflate", "deflate", "give-up"; "none", "host-pressure", ...;
 * "normal", "high". */
const char *autopilot_action_name(enum autopilot_action a);
const char *autopilot_reason_name(enum autopilot_reason r);
const char *autopilot_level_name(enum autopilot_level l);

#endif
