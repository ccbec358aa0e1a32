/* The memory autopilot's policy on a virtual clock: scripted host and guest
 * inputs, and a small simulation of guests that follow their balloon
 * targets (or do not) under one host limit. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "balloon/autopilot_policy.h"
#include "memory/host_pressure.h"
#include "check_main.h"
#include "vmm/lib/util.h"

#define MiB (1ull << 20)

static struct autopilot_policy *p;
static struct autopilot_limits lim;

static void setup(void)
{
	autopilot_limits_default(256 * MiB, &lim);
	ck_assert_int_eq(autopilot_policy_new(&lim, &p), 0);
}

static void teardown(void)
{
	autopilot_policy_free(p);
}

/* One scripted tick: a guest of 256 MiB. */
static struct autopilot_input in_at(uint64_t now, uint64_t target, uint64_t actual, int64_t avail,
				    uint64_t seq, int64_t headroom)
{
	struct autopilot_input in = { .now_ms = now, .enabled = true };
	in.host.known = true;
	in.host.limit = 1024 * MiB;
	in.host.headroom = headroom;
	in.guest.driver_ready = true;
	in.guest.ram = 256 * MiB;
	in.guest.target = target;
	in.guest.actual = actual;
	in.guest.stats_seq = seq;
	in.guest.available = avail;
	in.guest.major_faults = in.guest.oom_kills = in.guest.alloc_stalls = 0;
	return in;
}

START_TEST(t_defaults_and_checks)
{
	char why[160];
	ck_assert_uint_eq(lim.floor, 64 * MiB);
	ck_assert_uint_eq(lim.step, 16 * MiB);
	ck_assert_uint_eq(lim.reserve, 16 * MiB);
	ck_assert_int_eq(autopilot_limits_check(256 * MiB, &lim, why, sizeof(why)), 0);
	struct autopilot_limits l = lim;
	l.floor = 257 * MiB;
	ck_assert_int_eq(autopilot_limits_check(256 * MiB, &l, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "floor"));
	l = lim;
	l.step = 4096;
	ck_assert_int_eq(autopilot_limits_check(256 * MiB, &l, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "step"));
	l = lim;
	l.interval_ms = 50;
	ck_assert_int_eq(autopilot_limits_check(256 * MiB, &l, why, sizeof(why)), -EINVAL);
	l = lim;
	l.stall_ms = 500;
	ck_assert_int_eq(autopilot_limits_check(256 * MiB, &l, why, sizeof(why)), -EINVAL);
	/* A small guest: the floor is capped at its RAM. */
	autopilot_limits_default(32 * MiB, &l);
	ck_assert_uint_eq(l.floor, 32 * MiB);
	ck_assert_int_eq(autopilot_limits_check(32 * MiB, &l, why, sizeof(why)), 0);
}
END_TEST

/* Host pressed, guest idle with 200 MiB available: one step a tick,
 * each after the guest followed and reported, down to the floor. */
START_TEST(t_inflates_by_steps_to_the_floor)
{
	struct autopilot_decision d;
	uint64_t t = 256 * MiB, seq = 1;
	int64_t used = 40 * MiB;
	unsigned moves = 0;
	for (uint64_t now = 0; now < 60000; now += 1000, seq++) {
		struct autopilot_input in = in_at(now, t, t, (int64_t)t - used, seq, 0);
		autopilot_policy_step(p, &in, &d);
		ck_assert_int_eq(d.host, AUTOPILOT_HIGH);
		if (d.action == AUTOPILOT_HOLD)
			continue;
		ck_assert_int_eq(d.action, AUTOPILOT_INFLATE);
		ck_assert_int_eq(d.why, AUTOPILOT_WHY_HOST_PRESSURE);
		ck_assert_uint_le(t - d.target, lim.step);
		ck_assert_uint_ge(d.target, lim.floor);
		t = d.target;
		moves++;
	}
	ck_assert_uint_eq(t, lim.floor);
	ck_assert_uint_eq(moves, (256 - 64) / 16);
}
END_TEST

/* Room is what the guest has beyond its reserve. */
START_TEST(t_inflation_keeps_the_reserve)
{
	struct autopilot_decision d;
	/* 20 MiB available, 16 MiB reserve: 4 MiB may go. */
	struct autopilot_input in = in_at(0, 200 * MiB, 200 * MiB, 20 * MiB, 1, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_INFLATE);
	ck_assert_uint_eq(d.target, 196 * MiB);
	/* The guest has not followed yet: no second step. */
	in = in_at(1000, 196 * MiB, 200 * MiB, 20 * MiB, 2, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	/* Followed, but no report since: still nothing. */
	in = in_at(2000, 196 * MiB, 196 * MiB, 16 * MiB, 2, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	/* At the reserve: nothing to take. */
	in = in_at(3000, 196 * MiB, 196 * MiB, 16 * MiB, 3, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
}
END_TEST

START_TEST(t_guest_pressure_deflates_and_backs_off)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 100 * MiB, 100 * MiB, 8 * MiB, 1, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_DEFLATE);
	ck_assert_int_eq(d.why, AUTOPILOT_WHY_GUEST_PRESSURE);
	ck_assert_uint_eq(d.target, 116 * MiB);
	ck_assert(d.guest_changed);
	ck_assert_int_eq(d.guest, AUTOPILOT_HIGH);
	ck_assert_str_eq(d.guest_cause, "available");
	/* Now plenty available, host still pressed: backoff holds inflation. */
	for (uint64_t now = 1000, seq = 2; now < 10000; now += 1000, seq++) {
		in = in_at(now, 116 * MiB, 116 * MiB, 80 * MiB, seq, 0);
		autopilot_policy_step(p, &in, &d);
		ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	}
	ck_assert_int_eq(d.guest, AUTOPILOT_NORMAL);
	in = in_at(10000, 116 * MiB, 116 * MiB, 80 * MiB, 20, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_INFLATE);
}
END_TEST

START_TEST(t_guest_counters_are_pressure)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 200 * MiB, 200 * MiB, 100 * MiB, 1, INT64_MAX / 2);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_NORMAL);
	/* A new OOM kill. */
	in = in_at(1000, 200 * MiB, 200 * MiB, 100 * MiB, 2, INT64_MAX / 2);
	in.guest.oom_kills = 1;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_HIGH);
	ck_assert_str_eq(d.guest_cause, "oom-kill");
	ck_assert_int_eq(d.action, AUTOPILOT_DEFLATE);
	/* The same count again is no news. */
	in = in_at(2000, 216 * MiB, 216 * MiB, 100 * MiB, 3, INT64_MAX / 2);
	in.guest.oom_kills = 1;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_NORMAL);
	/* Major faults: 500 in one second is pressure, 100 is not. */
	in = in_at(3000, 216 * MiB, 216 * MiB, 100 * MiB, 4, INT64_MAX / 2);
	in.guest.oom_kills = 1;
	in.guest.major_faults = 100;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_NORMAL);
	in = in_at(4000, 216 * MiB, 216 * MiB, 100 * MiB, 5, INT64_MAX / 2);
	in.guest.oom_kills = 1;
	in.guest.major_faults = 600;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_HIGH);
	ck_assert_str_eq(d.guest_cause, "major-faults");
	/* Allocation stalls. */
	in = in_at(5000, 232 * MiB, 232 * MiB, 100 * MiB, 6, INT64_MAX / 2);
	in.guest.oom_kills = 1;
	in.guest.major_faults = 600;
	in.guest.alloc_stalls = 3;
	autopilot_policy_step(p, &in, &d);
	ck_assert_str_eq(d.guest_cause, "allocation-stall");
	/* A reboot resets the counters: lower is not pressure. */
	in = in_at(6000, 248 * MiB, 248 * MiB, 100 * MiB, 7, INT64_MAX / 2);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.guest, AUTOPILOT_NORMAL);
}
END_TEST

START_TEST(t_stall_gives_up_once)
{
	struct autopilot_decision d;
	unsigned stalls = 0;
	/* The guest sits at 200 MiB whatever the target says. */
	struct autopilot_input in = in_at(0, 120 * MiB, 200 * MiB, 150 * MiB, 1, INT64_MAX / 2);
	for (uint64_t now = 0; now <= 20000; now += 1000) {
		in.now_ms = now;
		in.guest.stats_seq++;
		autopilot_policy_step(p, &in, &d);
		if (d.stalled) {
			stalls++;
			ck_assert_uint_ge(now, lim.stall_ms);
			ck_assert_int_eq(d.action, AUTOPILOT_GIVE_UP);
			ck_assert_int_eq(d.why, AUTOPILOT_WHY_STALLED);
			ck_assert_uint_eq(d.target, 200 * MiB);
			in.guest.target = d.target;
		}
	}
	ck_assert_uint_eq(stalls, 1);
}
END_TEST

START_TEST(t_progress_is_no_stall)
{
	struct autopilot_decision d;
	/* Slow but steady: 1 MiB a second towards a target 30 MiB away. */
	struct autopilot_input in = in_at(0, 170 * MiB, 200 * MiB, 150 * MiB, 1, INT64_MAX / 2);
	in.enabled = false;
	for (uint64_t now = 0; now <= 29000; now += 1000) {
		in.now_ms = now;
		in.guest.actual = 200 * MiB - now / 1000 * MiB;
		autopilot_policy_step(p, &in, &d);
		ck_assert(!d.stalled);
	}
	/* Then it stops: with the autopilot off, the stall is reported and
	 * nothing is set. */
	unsigned stalls = 0;
	for (uint64_t now = 30000; now <= 45000; now += 1000) {
		in.now_ms = now;
		autopilot_policy_step(p, &in, &d);
		stalls += d.stalled;
		ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	}
	ck_assert_uint_eq(stalls, 1);
}
END_TEST

START_TEST(t_operator_target_restarts_the_clock)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 120 * MiB, 200 * MiB, 150 * MiB, 1, INT64_MAX / 2);
	in.enabled = false;
	for (uint64_t now = 0; now < 9000; now += 1000) {
		in.now_ms = now;
		autopilot_policy_step(p, &in, &d);
	}
	/* Same value set again by the operator at 9 s: 10 s from then. */
	autopilot_policy_target_changed(p, 9000);
	for (uint64_t now = 9000; now < 19000; now += 1000) {
		in.now_ms = now;
		autopilot_policy_step(p, &in, &d);
		ck_assert(!d.stalled);
	}
	in.now_ms = 19000;
	autopilot_policy_step(p, &in, &d);
	ck_assert(d.stalled);
}
END_TEST

/* Headroom wandering between the marks does not flap the level. */
START_TEST(t_host_level_hysteresis)
{
	struct autopilot_decision d;
	uint64_t low = 1024 * MiB / AUTOPILOT_HOST_LOW_DIV; /* 128 MiB */
	int64_t script[] = { 500, 100, 130, 200, 250, 120, 255, 300, 100 };
	enum autopilot_level want[] = { AUTOPILOT_NORMAL, AUTOPILOT_HIGH,   AUTOPILOT_HIGH,
					AUTOPILOT_HIGH,   AUTOPILOT_HIGH,   AUTOPILOT_HIGH,
					AUTOPILOT_HIGH,   AUTOPILOT_NORMAL, AUTOPILOT_HIGH };
	unsigned changes = 0;
	ck_assert_uint_eq(low, 128 * MiB);
	for (size_t i = 0; i < ARRAY_SIZE(script); i++) {
		struct autopilot_input in = in_at(i * 1000, 256 * MiB, 256 * MiB, 20 * MiB, i + 1,
						  script[i] * (int64_t)MiB);
		autopilot_policy_step(p, &in, &d);
		ck_assert_msg(d.host == want[i], "tick %zu: headroom %" PRId64 " MiB", i,
			      script[i]);
		changes += d.host_changed;
	}
	ck_assert_uint_eq(changes, 3);
}
END_TEST

/* PSI: the share of each tick some task stalled. */
START_TEST(t_host_stall_time)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 256 * MiB, 256 * MiB, 20 * MiB, 1, 900 * MiB);
	in.host.psi = true;
	in.host.stall_us = 1000000;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.host, AUTOPILOT_NORMAL);
	ck_assert_uint_eq(d.host_stall_permille, 0);
	in.now_ms = 1000;
	in.host.stall_us += 100000; /* 100 ms of 1 s */
	autopilot_policy_step(p, &in, &d);
	ck_assert_uint_eq(d.host_stall_permille, 100);
	ck_assert_int_eq(d.host, AUTOPILOT_HIGH);
	in.now_ms = 2000;
	in.host.stall_us += 20000; /* 2 %: between the marks */
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.host, AUTOPILOT_HIGH);
	in.now_ms = 3000;
	in.host.stall_us += 5000;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.host, AUTOPILOT_NORMAL);
	ck_assert(d.host_changed);
}
END_TEST

START_TEST(t_disabled_sets_nothing)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 256 * MiB, 256 * MiB, 200 * MiB, 1, 0);
	in.enabled = false;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	ck_assert_int_eq(d.host, AUTOPILOT_HIGH);
	ck_assert(d.host_changed);
	in = in_at(1000, 100 * MiB, 100 * MiB, 1 * MiB, 2, 0);
	in.enabled = false;
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_HOLD);
	ck_assert_int_eq(d.guest, AUTOPILOT_HIGH);
}
END_TEST

START_TEST(t_relaxed_host_gives_back_slowly)
{
	struct autopilot_decision d;
	uint64_t t = 100 * MiB, seq = 1;
	unsigned gives = 0;
	for (uint64_t now = 0; now <= 40000; now += 1000, seq++) {
		struct autopilot_input in = in_at(now, t, t, 50 * MiB, seq, 800 * MiB);
		autopilot_policy_step(p, &in, &d);
		if (d.action == AUTOPILOT_HOLD)
			continue;
		ck_assert_int_eq(d.action, AUTOPILOT_DEFLATE);
		ck_assert_int_eq(d.why, AUTOPILOT_WHY_HOST_RELAXED);
		ck_assert_uint_eq(d.target - t, lim.step / 2);
		ck_assert_uint_ge(now, AUTOPILOT_RELAX_MS * (gives + 1));
		t = d.target;
		gives++;
	}
	ck_assert_uint_eq(gives, 4);
}
END_TEST

START_TEST(t_raises_a_target_below_the_floor)
{
	struct autopilot_decision d;
	struct autopilot_input in = in_at(0, 32 * MiB, 32 * MiB, 20 * MiB, 1, 0);
	autopilot_policy_step(p, &in, &d);
	ck_assert_int_eq(d.action, AUTOPILOT_DEFLATE);
	ck_assert_int_eq(d.why, AUTOPILOT_WHY_FLOOR);
	ck_assert_uint_eq(d.target, lim.floor);
}
END_TEST

/* ---- three guests under one host limit --------------------------------- */

#define KERNEL (24 * MiB) /* what a guest's kernel keeps */

struct sim_guest {
	struct autopilot_policy *p;
	uint64_t target, actual, rss;
	uint64_t used; /* its processes' working set */
	uint64_t seq;
	int64_t ooms;
};

/* The working sets: idle; growing by 4 MiB/s from 30 s on, to 200 MiB;
 * bursts of 150 MiB for 5 s every 20 s in the first 40 s, of 40 MiB after. */
static uint64_t workload(int g, uint64_t now)
{
	uint64_t s = now / 1000;
	switch (g) {
	case 0:
		return 16 * MiB;
	case 1:
		return s < 30 ? 16 * MiB : MIN(16 * MiB + (s - 30) * 4 * MiB, 200 * MiB);
	default:
		return s % 20 >= 5 ? 8 * MiB : s < 40 ? 150 * MiB : 40 * MiB;
	}
}

/* Runs 120 s; returns the host's peak usage, and the guests' OOMs. */
static uint64_t simulate(bool enabled, uint64_t limit, int64_t *ooms)
{
	struct sim_guest g[3];
	uint64_t peak = 0;
	for (int i = 0; i < 3; i++) {
		g[i] = (struct sim_guest){ .target = 256 * MiB,
					   .actual = 256 * MiB,
					   .rss = KERNEL };
		ck_assert_int_eq(autopilot_policy_new(&lim, &g[i].p), 0);
	}
	for (uint64_t now = 0; now <= 120000; now += 1000) {
		uint64_t usage = 0;
		for (int i = 0; i < 3; i++) {
			struct sim_guest *x = &g[i];
			/* The guest follows its target at 64 MiB/s, inflating only
			 * into free memory; what it must have it takes back
			 * (deflate-on-oom), counted as an OOM episode. */
			uint64_t need = workload(i, now) + KERNEL;
			if (x->target < x->actual)
				x->actual = MAX(
					MAX(x->target, x->actual - MIN(x->actual, 64 * MiB)), need);
			else
				x->actual = MIN(x->target, x->actual + 64 * MiB);
			if (need > x->actual) {
				x->ooms++;
				x->actual = need;
			}
			x->used = need;
			x->rss = MIN(MAX(x->rss, need), x->actual); /* ballooned pages leave */
			usage += x->rss;
		}
		peak = MAX(peak, usage);
		for (int i = 0; i < 3; i++) {
			struct sim_guest *x = &g[i];
			struct autopilot_input in = { .now_ms = now, .enabled = enabled };
			in.host.known = true;
			in.host.limit = limit;
			in.host.headroom = (int64_t)limit - (int64_t)usage;
			in.guest.driver_ready = true;
			in.guest.ram = 256 * MiB;
			in.guest.target = x->target;
			in.guest.actual = x->actual;
			in.guest.stats_seq = ++x->seq;
			in.guest.available = (int64_t)(x->actual - x->used);
			in.guest.oom_kills = x->ooms;
			in.guest.major_faults = in.guest.alloc_stalls = 0;
			struct autopilot_decision d;
			autopilot_policy_step(x->p, &in, &d);
			if (d.action != AUTOPILOT_HOLD)
				x->target = d.target;
		}
	}
	*ooms = 0;
	for (int i = 0; i < 3; i++) {
		*ooms += g[i].ooms;
		autopilot_policy_free(g[i].p);
	}
	return peak;
}

START_TEST(t_three_guests_under_one_limit)
{
	int64_t ooms_on, ooms_off;
	uint64_t limit = 400 * MiB;
	uint64_t peak_off = simulate(false, limit, &ooms_off);
	uint64_t peak_on = simulate(true, limit, &ooms_on);
	/* Off: the burst guest keeps what it once touched, and the sum goes
	 * past the limit. On: freed memory goes back, no OOM. */
	ck_assert_uint_gt(peak_off, limit);
	ck_assert_uint_le(peak_on, limit);
	ck_assert_int_eq(ooms_off, 0);
	ck_assert_int_eq(ooms_on, 0);
}
END_TEST

/* The host as this machine has it: some source, and figures that make
 * sense (MemTotal and MemAvailable at least). */
START_TEST(t_host_pressure_reads_this_host)
{
	struct host_pressure *hp;
	struct host_pressure_sample a, b;
	ck_assert_int_eq(host_pressure_open(0, &hp), 0);
	const char *src = host_pressure_source(hp);
	ck_assert(!strcmp(src, "system") || !strncmp(src, "cgroup /", 8));
	ck_assert_int_eq(host_pressure_read(hp, &a), 0);
	ck_assert(a.limited);
	ck_assert_uint_gt(a.limit, 0);
	ck_assert(!a.huge);
	ck_assert_int_eq(host_pressure_read(hp, &b), 0);
	if (a.psi && b.psi)
		ck_assert_uint_ge(b.stall_us, a.stall_us); /* cumulative */
	host_pressure_free(hp);
	/* A huge page size the host has no pool for: unknown, not an error. */
	ck_assert_int_eq(host_pressure_open(1ull << 40, &hp), 0);
	ck_assert_int_eq(host_pressure_read(hp, &a), 0);
	ck_assert(!a.huge);
	host_pressure_free(hp);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("autopilot");
	TCase *tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_defaults_and_checks);
	tcase_add_test(tc, t_inflates_by_steps_to_the_floor);
	tcase_add_test(tc, t_inflation_keeps_the_reserve);
	tcase_add_test(tc, t_guest_pressure_deflates_and_backs_off);
	tcase_add_test(tc, t_guest_counters_are_pressure);
	tcase_add_test(tc, t_stall_gives_up_once);
	tcase_add_test(tc, t_progress_is_no_stall);
	tcase_add_test(tc, t_operator_target_restarts_the_clock);
	tcase_add_test(tc, t_host_level_hysteresis);
	tcase_add_test(tc, t_host_stall_time);
	tcase_add_test(tc, t_disabled_sets_nothing);
	tcase_add_test(tc, t_relaxed_host_gives_back_slowly);
	tcase_add_test(tc, t_raises_a_target_below_the_floor);
	tcase_add_test(tc, t_three_guests_under_one_limit);
	tcase_add_test(tc, t_host_pressure_reads_this_host);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
