/* The vCPU exit switch with fake buses, and the run state it drives: what
 * a KVM exit does, without /dev/kvm. Each test fills a kvm_run as KVM
 * would and calls vcpu_handle_exit(). */
#include <check.h>
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "tests/unit/check_main.h"
#include "vmm/core/runstate.h"
#include "vmm/core/vcpu.h"

/* ---- a fake device recording every access ---- */

struct rec {
	unsigned reads, writes;
	uint64_t last_off;
	uint32_t last_len;
	uint8_t last_data[8];
	uint8_t read_value; /* what reads return, byte-wise */
};

static void rec_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct rec *r = dev;
	r->reads++;
	r->last_off = off;
	r->last_len = len;
	memset(data, r->read_value, len);
}

static void rec_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct rec *r = dev;
	r->writes++;
	r->last_off = off;
	r->last_len = len;
	memcpy(r->last_data, data, len < 8 ? len : 8);
}

static const struct bus_ops rec_ops = { .name = "rec", .read = rec_read, .write = rec_write };

struct fixture {
	struct bus *pio, *mmio;
	struct runstate *rs;
	struct vcpu v;
	struct kvm_run *run;
	struct rec port, mem;
};

static struct fixture *fx_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->pio = bus_new("pio");
	f->mmio = bus_new("mmio");
	ck_assert_int_eq(runstate_new(false, NULL, &f->rs), 0);
	ck_assert_int_eq(bus_register(f->pio, 0x3f8, 8, &rec_ops, &f->port), 0);
	ck_assert_int_eq(bus_register(f->mmio, 0xd0000000, 0x1000, &rec_ops, &f->mem), 0);
	/* A kvm_run with room for KVM's PIO data page after it. */
	f->run = calloc(1, 8192);
	ck_assert_ptr_nonnull(f->run);
	f->v = (struct vcpu){
		.env = { .pio = f->pio, .mmio = f->mmio, .rs = f->rs },
		.id = 1,
		.fd = -1,
		.run = f->run,
	};
	return f;
}

static void fx_free(struct fixture *f)
{
	bus_free(f->pio);
	bus_free(f->mmio);
	runstate_free(f->rs);
	free(f->run);
	free(f);
}

static void set_io(struct kvm_run *run, uint16_t port, uint8_t dir, uint8_t size, uint32_t count)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.port = port;
	run->io.direction = dir;
	run->io.size = size;
	run->io.count = count;
	run->io.data_offset = 4096;
}

START_TEST(pio_out_reaches_the_device)
{
	struct fixture *f = fx_new();
	set_io(f->run, 0x3f9, KVM_EXIT_IO_OUT, 1, 1);
	((uint8_t *)f->run)[4096] = 0x5a;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->port.writes, 1);
	ck_assert_uint_eq(f->port.last_off, 1);
	ck_assert_uint_eq(f->port.last_data[0], 0x5a);
	ck_assert_uint_eq(f->port.reads, 0);
	fx_free(f);
}
END_TEST

START_TEST(pio_string_in_fills_every_element)
{
	struct fixture *f = fx_new();
	f->port.read_value = 0xab;
	set_io(f->run, 0x3f8, KVM_EXIT_IO_IN, 2, 3); /* rep insw, 3 words */
	uint8_t *data = (uint8_t *)f->run + 4096;
	memset(data, 0, 8);
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->port.reads, 3);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(data[i], 0xab);
	ck_assert_uint_eq(data[6], 0);
	fx_free(f);
}
END_TEST

START_TEST(pio_unassigned_reads_all_ones)
{
	struct fixture *f = fx_new();
	set_io(f->run, 0x80, KVM_EXIT_IO_IN, 4, 1);
	uint8_t *data = (uint8_t *)f->run + 4096;
	memset(data, 0, 4);
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(data[i], 0xff);
	ck_assert_uint_eq(f->port.reads + f->port.writes, 0);
	fx_free(f);
}
END_TEST

START_TEST(mmio_read_and_write)
{
	struct fixture *f = fx_new();
	f->mem.read_value = 0x11;
	f->run->exit_reason = KVM_EXIT_MMIO;
	f->run->mmio.phys_addr = 0xd0000070;
	f->run->mmio.len = 4;
	f->run->mmio.is_write = 0;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->mem.reads, 1);
	ck_assert_uint_eq(f->mem.last_off, 0x70);
	ck_assert_uint_eq(f->mem.last_len, 4);
	ck_assert_uint_eq(f->run->mmio.data[3], 0x11);

	f->run->mmio.is_write = 1;
	f->run->mmio.len = 8;
	memcpy(f->run->mmio.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->mem.writes, 1);
	ck_assert_uint_eq(f->mem.last_len, 8);
	ck_assert_uint_eq(f->mem.last_data[7], 8);
	fx_free(f);
}
END_TEST

START_TEST(mmio_unassigned_reads_zero_and_oversized_is_clamped)
{
	struct fixture *f = fx_new();
	f->run->exit_reason = KVM_EXIT_MMIO;
	f->run->mmio.phys_addr = 0xc0000000;
	f->run->mmio.len = 4;
	memset(f->run->mmio.data, 0x77, 8);
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->run->mmio.data[0], 0);
	ck_assert_uint_eq(f->run->mmio.data[3], 0);
	ck_assert_uint_eq(f->run->mmio.data[4], 0x77); /* beyond len: untouched */

	/* A length KVM never sends must not overrun the 8-byte data field. */
	f->mem.read_value = 0x22;
	f->run->mmio.phys_addr = 0xd0000000;
	f->run->mmio.len = 200;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert_uint_eq(f->mem.last_len, 8);
	fx_free(f);
}
END_TEST

START_TEST(system_events_request_poweroff_and_reset)
{
	struct fixture *f = fx_new();
	enum run_request req;
	int status = -1;
	f->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	f->run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	ck_assert(!runstate_pending(f->rs, NULL, NULL));
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert(runstate_pending(f->rs, &req, &status));
	ck_assert_int_eq(req, RUN_REQ_POWEROFF);
	ck_assert_int_eq(status, 0);
	/* The vCPU stops at its next check. */
	ck_assert(!runstate_vcpu_should_run(f->rs));

	runstate_restart(f->rs, false);
	ck_assert(runstate_vcpu_should_run(f->rs));
	f->run->system_event.type = KVM_SYSTEM_EVENT_RESET;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	ck_assert(runstate_pending(f->rs, &req, NULL));
	ck_assert_int_eq(req, RUN_REQ_RESET);
	fx_free(f);
}
END_TEST

START_TEST(crashes_and_unknown_exits_end_the_vcpu)
{
	struct fixture *f = fx_new();
	f->run->exit_reason = KVM_EXIT_SHUTDOWN;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_CRASH);
	f->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
	f->run->system_event.type = KVM_SYSTEM_EVENT_CRASH;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_CRASH);
	f->run->exit_reason = KVM_EXIT_FAIL_ENTRY;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_UNHANDLED);
	f->run->exit_reason = 9999;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_UNHANDLED);
	f->run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	f->run->internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_UNHANDLED);
	/* None of these asked the machine for anything: the vCPU thread
	 * reports its outcome when it ends. */
	ck_assert(!runstate_pending(f->rs, NULL, NULL));
	f->run->exit_reason = KVM_EXIT_INTR;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	f->run->exit_reason = KVM_EXIT_HLT;
	ck_assert_int_eq(vcpu_handle_exit(&f->v), VCPU_OUTCOME_NONE);
	fx_free(f);
}
END_TEST

/* The PVM host's emulator lacks INT3 and FWAIT in guest kernel mode:
 * memvm does them as the CPU would. */
START_TEST(int3_and_fwait_are_done_for_the_host)
{
	struct vcpu_fixup f;
	const uint8_t int3[] = { 0xcc }, fwait[] = { 0x9b, 0x65, 0x48 }, other[] = { 0x0f, 0xae };
	const uint64_t cr0 = 0x80050033; /* Linux's: PG AM WP NE ET MP PE */

	ck_assert_int_eq(vcpu_fixup_plan(int3, 1, cr0, 0, &f), 0);
	ck_assert_uint_eq(f.advance, 1);
	ck_assert_int_eq(f.vector, 3);
	/* no pending x87 exception: a no-op */
	ck_assert_int_eq(vcpu_fixup_plan(fwait, 3, cr0, 0x3800, &f), 0);
	ck_assert_uint_eq(f.advance, 1);
	ck_assert_int_eq(f.vector, -1);
	/* FSW.ES: #MF, a fault, RIP unchanged */
	ck_assert_int_eq(vcpu_fixup_plan(fwait, 3, cr0, 0x0081, &f), 0);
	ck_assert_uint_eq(f.advance, 0);
	ck_assert_int_eq(f.vector, 16);
	/* CR0.TS with CR0.MP: #NM first, whatever FSW says */
	ck_assert_int_eq(vcpu_fixup_plan(fwait, 3, cr0 | 8, 0x0081, &f), 0);
	ck_assert_uint_eq(f.advance, 0);
	ck_assert_int_eq(f.vector, 7);
	/* TS without MP: WAIT runs */
	ck_assert_int_eq(vcpu_fixup_plan(fwait, 1, (cr0 & ~2ull) | 8, 0, &f), 0);
	ck_assert_int_eq(f.vector, -1);
	ck_assert_int_eq(vcpu_fixup_plan(other, 2, cr0, 0, &f), -ENOTSUP);
	ck_assert_int_eq(vcpu_fixup_plan(int3, 0, cr0, 0, &f), -ENOTSUP);
}
END_TEST

/* ---- run state ---- */

START_TEST(first_request_wins_until_restart)
{
	struct runstate *rs;
	ck_assert_int_eq(runstate_new(false, NULL, &rs), 0);
	ck_assert(runstate_request(rs, RUN_REQ_DEBUG_EXIT, 7));
	ck_assert(!runstate_request(rs, RUN_REQ_QUIT, 0));
	enum run_request req;
	int status;
	ck_assert(runstate_pending(rs, &req, &status));
	ck_assert_int_eq(req, RUN_REQ_DEBUG_EXIT);
	ck_assert_int_eq(status, 7);
	runstate_restart(rs, false);
	ck_assert(!runstate_pending(rs, NULL, NULL));
	struct run_link link = runstate_link(rs);
	link.request(link.opaque, RUN_REQ_RESET, 0);
	ck_assert(runstate_pending(rs, &req, NULL));
	ck_assert_int_eq(req, RUN_REQ_RESET);
	runstate_free(rs);
}
END_TEST

START_TEST(finished_outcome_quits_once)
{
	struct runstate *rs;
	unsigned who = 99;
	ck_assert_int_eq(runstate_new(false, NULL, &rs), 0);
	runstate_thread_starting(rs);
	runstate_thread_starting(rs);
	runstate_vcpu_finished(rs, 1, VCPU_OUTCOME_EMULATION);
	runstate_vcpu_finished(rs, 0, VCPU_OUTCOME_CRASH);
	ck_assert_int_eq(runstate_outcome(rs, &who), VCPU_OUTCOME_EMULATION);
	ck_assert_uint_eq(who, 1);
	enum run_request req;
	ck_assert(runstate_pending(rs, &req, NULL));
	ck_assert_int_eq(req, RUN_REQ_QUIT);
	runstate_restart(rs, false);
	ck_assert_int_eq(runstate_outcome(rs, NULL), VCPU_OUTCOME_NONE);
	ck_assert(runstate_is_running(rs));
	/* A machine paused by the monitor stays paused after a reset, in
	 * prelaunch as QEMU's; cont ends prelaunch. */
	ck_assert(runstate_request(rs, RUN_REQ_RESET, 0));
	runstate_restart(rs, true);
	ck_assert(!runstate_is_running(rs));
	ck_assert(runstate_is_prelaunch(rs));
	ck_assert(!runstate_pending(rs, NULL, NULL));
	runstate_resume(rs);
	ck_assert(runstate_is_running(rs) && !runstate_is_prelaunch(rs));
	runstate_pause(rs);
	ck_assert(!runstate_is_prelaunch(rs)); /* stopped, not prelaunch */
	/* A quit outranks a pending reset (both in one batch of monitor
	 * input), nothing else does. */
	ck_assert(runstate_request(rs, RUN_REQ_RESET, 0));
	ck_assert(!runstate_request(rs, RUN_REQ_POWEROFF, 0));
	ck_assert(runstate_request(rs, RUN_REQ_QUIT, 5));
	int st;
	ck_assert(runstate_pending(rs, &req, &st));
	ck_assert(req == RUN_REQ_QUIT && st == 5);
	ck_assert(!runstate_request(rs, RUN_REQ_RESET, 0));
	runstate_free(rs);
	/* -S: prelaunch from the start. */
	ck_assert_int_eq(runstate_new(true, NULL, &rs), 0);
	ck_assert(runstate_is_prelaunch(rs));
	runstate_free(rs);
}
END_TEST

struct spinner {
	struct runstate *rs;
	int loops;
	int stopped;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	while (runstate_vcpu_should_run(s->rs))
		__atomic_add_fetch(&s->loops, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
	runstate_vcpu_finished(s->rs, 0, VCPU_OUTCOME_NONE);
	return NULL;
}

static int kicks;
static void count_kick(void *opaque)
{
	(void)opaque;
	__atomic_add_fetch(&kicks, 1, __ATOMIC_RELAXED);
}

START_TEST(pause_parks_threads_and_resume_frees_them)
{
	struct spinner s = { 0 };
	pthread_t t[2];
	ck_assert_int_eq(runstate_new(false, NULL, &s.rs), 0);
	runstate_set_kick(s.rs, count_kick, NULL);
	for (int i = 0; i < 2; i++) {
		runstate_thread_starting(s.rs);
		ck_assert_int_eq(pthread_create(&t[i], NULL, spin, &s), 0);
	}
	while (__atomic_load_n(&s.loops, __ATOMIC_RELAXED) < 1000)
		sched_yield();
	runstate_pause(s.rs); /* returns once both threads parked */
	ck_assert(!runstate_is_running(s.rs));
	ck_assert_int_ge(kicks, 1);
	int parked = __atomic_load_n(&s.loops, __ATOMIC_RELAXED);
	usleep(20000);
	ck_assert_int_eq(__atomic_load_n(&s.loops, __ATOMIC_RELAXED), parked);
	runstate_resume(s.rs);
	ck_assert(runstate_is_running(s.rs));
	while (__atomic_load_n(&s.loops, __ATOMIC_RELAXED) < parked + 1000)
		sched_yield();
	runstate_stop(s.rs);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(s.stopped, 1);
	ck_assert(!runstate_pending(s.rs, NULL, NULL));
	runstate_free(s.rs);
}
END_TEST

START_TEST(a_request_releases_paused_threads)
{
	struct spinner s = { 0 };
	pthread_t t;
	ck_assert_int_eq(runstate_new(true, NULL, &s.rs), 0); /* -S */
	runstate_thread_starting(s.rs);
	ck_assert_int_eq(pthread_create(&t, NULL, spin, &s), 0);
	usleep(20000);
	ck_assert_int_eq(__atomic_load_n(&s.loops, __ATOMIC_RELAXED), 0);
	ck_assert(runstate_request(s.rs, RUN_REQ_QUIT, 3));
	pthread_join(t, NULL);
	ck_assert_int_eq(s.stopped, 1);
	ck_assert_int_eq(s.loops, 0);
	runstate_free(s.rs);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("vcpu_exit");
	TCase *tc = tcase_create("exits");
	tcase_add_test(tc, pio_out_reaches_the_device);
	tcase_add_test(tc, pio_string_in_fills_every_element);
	tcase_add_test(tc, pio_unassigned_reads_all_ones);
	tcase_add_test(tc, mmio_read_and_write);
	tcase_add_test(tc, mmio_unassigned_reads_zero_and_oversized_is_clamped);
	tcase_add_test(tc, system_events_request_poweroff_and_reset);
	tcase_add_test(tc, crashes_and_unknown_exits_end_the_vcpu);
	tcase_add_test(tc, int3_and_fwait_are_done_for_the_host);
	suite_add_tcase(s, tc);
	tc = tcase_create("runstate");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, first_request_wins_until_restart);
	tcase_add_test(tc, finished_outcome_quits_once);
	tcase_add_test(tc, pause_parks_threads_and_resume_frees_them);
	tcase_add_test(tc, a_request_releases_paused_threads);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
