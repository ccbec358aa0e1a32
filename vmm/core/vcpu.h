/* vCPUs: creation, CPUID, and the KVM_RUN thread with its exit switch.
 * Stopped with immediate_exit plus a signal. */
#ifndef MEMVM_VCPU_H
#define MEMVM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/lib/util.h"

struct vm;
struct kvm_sys;
struct kvm_run;

/* Why a vCPU thread ended on its own. */
enum vcpu_outcome {
	VCPU_OUTCOME_NONE,
	VCPU_OUTCOME_CRASH,
	VCPU_OUTCOME_UNHANDLED,
	VCPU_OUTCOME_EMULATION,
	VCPU_OUTCOME_ERROR,
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	int run_size;
	pthread_t thread;
	bool thread_started;
	int tid;              /* host thread id once running (monitor) */
	uint64_t exits;       /* statistics */
	uint64_t int3_fixups; /* #BP injected for the host's missing INT3 */
};

/* Signal used to kick vCPUs out of KVM_RUN; installs its no-op handler. */
int vcpu_signal_init(void) WUR;
#define VCPU_KICK_SIGNAL SIGUSR1

/* KVM_CREATE_VCPU, mmap of kvm_run, CPUID. host_quirks masks the features
 * the host's emulator lacks (see HOST-NOTES.md) from CPUID as well. */
int vcpu_create(struct vcpu *v, struct vm *vm, int vm_fd, const struct kvm_sys *kvm,
		unsigned id, unsigned nvcpus, bool host_quirks) WUR;
void vcpu_destroy(struct vcpu *v);

/* Thread body: runs until the VM stops it. */
void *vcpu_thread(void *arg);

/* Forces the vCPU out of KVM_RUN (the caller has already changed the
 * state the thread will see). */
void vcpu_kick(struct vcpu *v);

/* Prints registers to stderr (crash reports). */
void vcpu_dump(struct vcpu *v, const char *why);

#endif
