#include "vmm/core/runstate.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "vmm/lib/evloop.h"

enum run_state { RS_RUNNING, RS_PAUSED, RS_STOPPING };

struct runstate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum run_state state; /* read without the lock on the vCPU fast path */
	bool prelaunch;       /* paused and not run since start or reset (QEMU's) */
	bool req_pending;     /* likewise */
	enum run_request req;
	int req_status;
	unsigned live_threads;
	unsigned paused_threads;
	enum vcpu_outcome outcome;
	unsigned outcome_vcpu;
	struct evloop *loop;
	runstate_kick_fn *kick;
	void *kick_opaque;
};

int runstate_new(bool start_paused, struct evloop *loop, struct runstate **out)
{
	struct runstate *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->cond, NULL);
	rs->state = start_paused ? RS_PAUSED : RS_RUNNING;
	rs->prelaunch = start_paused;
	rs->loop = loop;
	*out = rs;
	return 0;
}

void runstate_free(struct runstate *rs)
{
	if (!rs)
		return;
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->cond);
	free(rs);
}

void runstate_set_kick(struct runstate *rs, runstate_kick_fn *kick, void *opaque)
{
	rs->kick = kick;
	rs->kick_opaque = opaque;
}

static void runstate_kick(struct runstate *rs)
{
	if (rs->kick)
		rs->kick(rs->kick_opaque);
}

bool runstate_request(struct runstate *rs, enum run_request req, int status)
{
	bool taken = false;
	pthread_mutex_lock(&rs->lock);
	/* Quitting outranks a pending reset: `system_reset` then `quit` in one
	 * batch of monitor input must still end memvm. */
	if (!rs->req_pending || (req == RUN_REQ_QUIT && rs->req == RUN_REQ_RESET)) {
		rs->req = req;
		rs->req_status = status;
		__atomic_store_n(&rs->req_pending, true, __ATOMIC_RELEASE);
		taken = true;
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	if (rs->loop)
		evloop_stop(rs->loop);
	return taken;
}

static void runstate_link_request(void *opaque, enum run_request req, int status)
{
	runstate_request(opaque, req, status);
}

struct run_link runstate_link(struct runstate *rs)
{
	return (struct run_link){ .request = runstate_link_request, .opaque = rs };
}

bool runstate_pending(struct runstate *rs, enum run_request *req, int *status)
{
	pthread_mutex_lock(&rs->lock);
	bool pending = rs->req_pending;
	if (pending) {
		if (req)
			*req = rs->req;
		if (status)
			*status = rs->req_status;
	}
	pthread_mutex_unlock(&rs->lock);
	return pending;
}

void runstate_pause(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	if (rs->state != RS_RUNNING) {
		pthread_mutex_unlock(&rs->lock);
		return;
	}
	__atomic_store_n(&rs->state, RS_PAUSED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&rs->lock);
	runstate_kick(rs);
	pthread_mutex_lock(&rs->lock);
	while (rs->paused_threads < rs->live_threads && !rs->req_pending)
		pthread_cond_wait(&rs->cond, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
}

void runstate_resume(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	if (rs->state == RS_PAUSED) {
		__atomic_store_n(&rs->state, RS_RUNNING, __ATOMIC_RELEASE);
		rs->prelaunch = false;
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

bool runstate_is_running(struct runstate *rs)
{
	return __atomic_load_n(&rs->state, __ATOMIC_ACQUIRE) == RS_RUNNING;
}

bool runstate_is_prelaunch(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	bool pre = rs->prelaunch && rs->state == RS_PAUSED;
	pthread_mutex_unlock(&rs->lock);
	return pre;
}

void runstate_thread_starting(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->live_threads++;
	pthread_mutex_unlock(&rs->lock);
}

void runstate_thread_failed(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->live_threads--;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

bool runstate_vcpu_should_run(struct runstate *rs)
{
	if (__atomic_load_n(&rs->state, __ATOMIC_ACQUIRE) == RS_RUNNING &&
	    !__atomic_load_n(&rs->req_pending, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&rs->lock);
	while (rs->state == RS_PAUSED && !rs->req_pending) {
		rs->paused_threads++;
		pthread_cond_broadcast(&rs->cond);
		pthread_cond_wait(&rs->cond, &rs->lock);
		rs->paused_threads--;
	}
	bool run = rs->state == RS_RUNNING && !rs->req_pending;
	pthread_mutex_unlock(&rs->lock);
	return run;
}

void runstate_vcpu_finished(struct runstate *rs, unsigned vcpu, enum vcpu_outcome outcome)
{
	pthread_mutex_lock(&rs->lock);
	rs->live_threads--;
	if (outcome != VCPU_OUTCOME_NONE && rs->outcome == VCPU_OUTCOME_NONE) {
		rs->outcome = outcome;
		rs->outcome_vcpu = vcpu;
	}
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	/* A vCPU that ended on its own ends the machine. */
	if (outcome != VCPU_OUTCOME_NONE)
		runstate_request(rs, RUN_REQ_QUIT, 0);
}

enum vcpu_outcome runstate_outcome(struct runstate *rs, unsigned *vcpu)
{
	pthread_mutex_lock(&rs->lock);
	enum vcpu_outcome o = rs->outcome;
	if (vcpu)
		*vcpu = rs->outcome_vcpu;
	pthread_mutex_unlock(&rs->lock);
	return o;
}

void runstate_stop(struct runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	__atomic_store_n(&rs->state, RS_STOPPING, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
	runstate_kick(rs);
}

void runstate_restart(struct runstate *rs, bool paused)
{
	pthread_mutex_lock(&rs->lock);
	__atomic_store_n(&rs->req_pending, false, __ATOMIC_RELEASE);
	rs->outcome = VCPU_OUTCOME_NONE;
	__atomic_store_n(&rs->state, paused ? RS_PAUSED : RS_RUNNING, __ATOMIC_RELEASE);
	/* As QEMU: a machine reset while stopped is in prelaunch again. */
	rs->prelaunch = paused;
	pthread_mutex_unlock(&rs->lock);
}
