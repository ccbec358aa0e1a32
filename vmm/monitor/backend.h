/* What the monitor drives and reports, shared by the socket side
 * (monitor.h) and the protocol (qmp.h): the backend the machine fills in
 * and QEMU's shutdown causes. */
#ifndef MEMVM_MONITOR_BACKEND_H
#define MEMVM_MONITOR_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

struct autopilot;
struct balloon;
struct guest_ram;
struct ram;
struct vm_config;

/* QEMU's QOM path of an anonymous -device virtio-balloon. */
#define MONITOR_BALLOON_QOM_PATH "/machine/peripheral-anon/device[0]"

#define MONITOR_RESET_ENDS 1

/* QEMU's ShutdownCause: the "reason" of SHUTDOWN and RESET events. */
enum shutdown_cause {
	SHUTDOWN_CAUSE_NONE,                  /* "none" */
	SHUTDOWN_CAUSE_HOST_ERROR,            /* "host-error" */
	SHUTDOWN_CAUSE_HOST_QMP_QUIT,         /* "host-qmp-quit" */
	SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET, /* "host-qmp-system-reset" */
	SHUTDOWN_CAUSE_HOST_SIGNAL,           /* "host-signal" */
	SHUTDOWN_CAUSE_HOST_UI,               /* "host-ui" */
	SHUTDOWN_CAUSE_GUEST_SHUTDOWN,        /* "guest-shutdown" */
	SHUTDOWN_CAUSE_GUEST_RESET,           /* "guest-reset" */
	SHUTDOWN_CAUSE_GUEST_PANIC,           /* "guest-panic" */
	SHUTDOWN_CAUSE_SUBSYSTEM_RESET,       /* "subsystem-reset" */
	SHUTDOWN_CAUSE_SNAPSHOT_LOAD,         /* "snapshot-load" */
	SHUTDOWN_CAUSE__MAX
};

/* What the monitor drives; the machine fills it (tests use fakes). Callbacks
 * run on the loop thread and may be NULL where noted. monitor_new() copies
 * the struct, so it need not outlive the monitor (balloon_qom_path, which
 * is referenced, must); attach the balloon and RAM later with
 * monitor_set_balloon() and monitor_set_ram(), e.g. when the monitor is
 * created before the devices. */
/* A vCPU's counters since the VM started. */
struct monitor_cpu_counters {
	uint64_t exits;       /* KVM_RUN returns */
	uint64_t run_ns;      /* wall time inside KVM_RUN */
	uint64_t insn_fixups; /* instructions memvm ran for the host's emulator */
};

struct monitor_backend {
	void *opaque;
	int (*stop)(void *opaque); /* pause all vCPUs: 0 or -errno */
	int (*cont)(void *opaque); /* resume them: 0 or -errno */
	bool (*running)(void *opaque);
	/* Paused since start (-S) or a reset while paused: QEMU's "prelaunch"
	 * (NULL: never). */
	bool (*prelaunch)(void *opaque);
	/* Asks the VM to exit with status 0 (the monitor sends the SHUTDOWN
	 * event with reason host-qmp-quit itself). */
	void (*quit)(void *opaque);
	/* system_reset: 0 when the machine resets (the monitor sends RESET,
	 * reason host-qmp-system-reset), MONITOR_RESET_ENDS when the reset
	 * ends the VM instead (-no-reboot: the machine sends SHUTDOWN only, as
	 * QEMU does), or -errno. */
	int (*reset)(void *opaque);
	/* Asks the guest to power off (memvm: Ctrl-Alt-Del on the i8042);
	 * NULL or -ENOTSUP: "not supported" error. */
	int (*powerdown)(void *opaque);
	/* Host thread id of vCPU `index`, or -1 (NULL: -1 for all). */
	int (*cpu_thread_id)(void *opaque, unsigned index);
	/* vCPU `index`'s counters for x-query-memvm-vcpus: 0 or -errno (NULL:
	 * the command reports none). */
	int (*cpu_counters)(void *opaque, unsigned index, struct monitor_cpu_counters *out);
	/* Test hook (NULL in normal runs): a forbidden system call on the
	 * monitor's thread now, or on vCPU 0's thread soon. 0 or -errno. */
	int (*sandbox_probe)(void *opaque, bool vcpu);
	uint64_t ram_size; /* guest RAM in bytes */
	unsigned ncpus;
	struct balloon *balloon;      /* NULL: no balloon device */
	struct autopilot *autopilot;  /* NULL: none (no balloon) */
	const char *balloon_qom_path; /* NULL: MONITOR_BALLOON_QOM_PATH */
	struct ram *ram;              /* NULL: no RAM details in memory queries */
	struct guest_ram *guest_ram;  /* NULL: no ledger in x-query-memvm-memory */
	/* What the machine was built from (names, paths, backend and device
	 * options for QOM and the queries); referenced, must outlive the
	 * monitor. NULL: memvm's defaults. */
	const struct vm_config *cfg;
};

#endif
