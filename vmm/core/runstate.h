/* The machine's run state, shared by the vCPU threads, the event loop and
 * the monitor: running, paused (monitor stop, -S) or stopping, plus the one
 * pending machine request (power off, reset, debug exit, quit) and how a
 * vCPU thread ended. Plain pthreads: no KVM, so it is unit-tested as is. */
#ifndef MEMVM_RUNSTATE_H
#define MEMVM_RUNSTATE_H

#include <stdbool.h>

#include "devices/bus.h"
#include "vmm/lib/util.h"

struct evloop;
struct runstate;

/* Why a vCPU thread ended on its own. */
enum vcpu_outcome {
	VCPU_OUTCOME_NONE,
	VCPU_OUTCOME_CRASH,
	VCPU_OUTCOME_UNHANDLED,
	VCPU_OUTCOME_EMULATION,
	VCPU_OUTCOME_ERROR,
};

/* Kicks every vCPU out of KVM_RUN after a state change (opaque: the owner). */
typedef void runstate_kick_fn(void *opaque);

/* loop is stopped on every request so the main thread acts on it; it may
 * be NULL (tests). kick may be NULL until vCPUs exist. */
int runstate_new(bool start_paused, struct evloop *loop, struct runstate **out) WUR;
void runstate_free(struct runstate *rs);
void runstate_set_kick(struct runstate *rs, runstate_kick_fn *kick, void *opaque);

/* Asks the machine to stop for req; any thread. The first request wins
 * until runstate_restart(), except that a quit replaces a pending reset:
 * returns true when this one was taken. */
bool runstate_request(struct runstate *rs, enum run_request req, int status);
/* The link devices use to make requests (i8042 reset, PM power-off, ...). */
struct run_link runstate_link(struct runstate *rs);
/* The pending request: false when there is none. */
bool runstate_pending(struct runstate *rs, enum run_request *req, int *status);

/* Monitor stop/cont: pause waits until every running vCPU thread parked. */
void runstate_pause(struct runstate *rs);
void runstate_resume(struct runstate *rs);
bool runstate_is_running(struct runstate *rs);
/* Paused since start (-S) or since a reset while paused, never resumed:
 * QEMU's "prelaunch". */
bool runstate_is_prelaunch(struct runstate *rs);

/* vCPU threads: a thread is counted before it is created (thread_starting,
 * undone by thread_failed when pthread_create fails), asks should_run
 * before every KVM_RUN (parking while paused) and reports finished once. */
void runstate_thread_starting(struct runstate *rs);
void runstate_thread_failed(struct runstate *rs);
bool runstate_vcpu_should_run(struct runstate *rs);
void runstate_vcpu_finished(struct runstate *rs, unsigned vcpu, enum vcpu_outcome outcome);
/* The first outcome other than NONE and its vCPU (NONE: none yet). */
enum vcpu_outcome runstate_outcome(struct runstate *rs, unsigned *vcpu);

/* Stopping: vCPU threads leave at their next check (the caller kicks and
 * joins them). restart: running (or paused, then in prelaunch) again with
 * no request or outcome, after a guest reboot. */
void runstate_stop(struct runstate *rs);
void runstate_restart(struct runstate *rs, bool paused);

#endif
