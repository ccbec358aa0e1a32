/* vCPUs: creation, CPUID, and the KVM_RUN thread with its exit switch.
 * A vCPU is given everything it touches when it is created (struct
 * vcpu_env): its exits go straight to the buses, and it never reaches back
 * into the VM. Stopped with immediate_exit plus a signal. */
#ifndef MEMVM_VCPU_H
#define MEMVM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/lib/util.h"

#include "vmm/core/runstate.h"

struct bus;
struct guest_mem;
struct kvm_run;
struct kvm_sys;

/* What a vCPU works with, all owned by its creator and outliving it. */
struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	struct guest_mem *gm; /* instruction fetch for emulation-failure reports */
	struct runstate *rs;
	bool host_quirks; /* -machine host-quirks: the failure hint depends on it */
};

struct vcpu {
	struct vcpu_env env;
	unsigned id;
	int fd;
	struct kvm_run *run;
	int run_size;
	pthread_t thread;
	bool thread_started;
	int tid;              /* host thread id once running (monitor) */
	uint64_t exits;       /* statistics (atomic: the monitor reads them) */
	uint64_t run_ns;      /* wall time inside KVM_RUN, ended calls */
	uint64_t run_since;   /* clock_ns() when the current KVM_RUN began, 0: none */
	uint64_t insn_fixups; /* INT3/FWAIT done for the host's emulator */
	char name[16];        /* "vCPU 0", for the sandbox's denial line */
	bool sandbox_probe;   /* test hook: make a forbidden call (vcpu_probe_sandbox) */
};

/* What memvm does for an instruction the host's emulator could not run
 * (KVM_INTERNAL_ERROR_EMULATION): advance RIP by `advance`, then inject
 * exception `vector` unless it is -1. */
struct vcpu_fixup {
	unsigned advance;
	int vector;
};

/* Plans the fix-up for the instruction bytes insn[0..n) given the guest's
 * CR0 and x87 status word: INT3 (a #BP trap) and FWAIT (a no-op, or #NM /
 * #MF as the CPU would raise them). -ENOTSUP for anything else. */
int vcpu_fixup_plan(const uint8_t *insn, unsigned n, uint64_t cr0, uint16_t fsw,
		    struct vcpu_fixup *out) WUR;

/* Test hook: vCPU v makes a system call the sandbox forbids on its next
 * pass through its loop (kick it to make that now). */
void vcpu_probe_sandbox(struct vcpu *v);

/* Signal used to kick vCPUs out of KVM_RUN; installs its no-op handler. */
int vcpu_signal_init(void) WUR;
#define VCPU_KICK_SIGNAL SIGUSR1

/* KVM_CREATE_VCPU, mmap of kvm_run, CPUID. mask_cpuid also masks the
 * features a kernel-mode-emulating host lacks (HOST-NOTES.md) from CPUID. */
int vcpu_create(struct vcpu *v, const struct vcpu_env *env, int vm_fd, const struct kvm_sys *kvm,
		unsigned id, unsigned nvcpus, bool mask_cpuid) WUR;
void vcpu_destroy(struct vcpu *v);

/* Thread body: runs until the run state stops it. */
void *vcpu_thread(void *arg);

/* The exit switch for the exit in v->run: port and MMIO accesses go to
 * the buses, power-off and reset to the run state. Needs no vCPU fd except
 * for crash reports, so unit tests drive it with a plain kvm_run and fake
 * buses. */
enum vcpu_outcome vcpu_handle_exit(struct vcpu *v);

/* Forces the vCPU out of KVM_RUN (the caller has already changed the
 * state the thread will see). */
void vcpu_kick(struct vcpu *v);

/* Prints registers to stderr (crash reports). */
void vcpu_dump(struct vcpu *v, const char *why);

#endif
