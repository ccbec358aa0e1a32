/* The sandbox memvm and memvm-ctl enter once set-up is done: no
 * capabilities left (when started as root), no_new_privs, and seccomp
 * allow-lists of the system calls each thread really makes. A call off the
 * list stops the process with SIGSYS after one line naming the thread and
 * the call; with log=on the kernel logs it instead (audit, `dmesg`) and
 * the call goes ahead, for finding what a new code path needs.
 *
 * Roles and what they may do (the lists are in sandbox.c):
 *   process  every thread of memvm (installed on all threads at once):
 *            what the event loop and monitor need, plus the vCPU and
 *            console threads' calls
 *   vcpu     each vCPU thread narrows itself further as it starts: KVM
 *            ioctls, memory and futex calls, writes, signals
 *   ctl      memvm-ctl once connected: reads, writes, polls, memory
 * State is process-wide (a signal handler reports denials). */
#ifndef MEMVM_SANDBOX_H
#define MEMVM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/lib/util.h"

struct sandbox_opts {
	bool enabled;      /* -sandbox on (default) */
	bool log;          /* -sandbox on,log=on: log denied calls, do not stop */
	const char *runas; /* -runas USER: become USER (needs root); NULL: stay */
};

/* memvm after set-up, from the main thread: drops capabilities (the
 * bounding set first, while it still may), becomes o->runas, sets
 * no_new_privs and installs the process filter on every thread. 0, or a
 * negative errno with one line in err. With !o->enabled only runas. */
int sandbox_enter(const struct sandbox_opts *o, char *err, size_t errlen) WUR;

/* -runas USER's ids, for checking before set-up: 0, or -ENOENT (no such
 * user) / -EPERM (not root) with one line in err. */
int sandbox_lookup_user(const char *user, unsigned *uid, unsigned *gid, char *err,
			size_t errlen) WUR;

/* A vCPU thread, as it starts: stacks the vCPU filter on the process
 * one. No-op unless sandbox_enter() installed a filter. 0 or -errno. */
int sandbox_enter_vcpu(void) WUR;

/* memvm-ctl once its socket is connected. 0 or -errno with err. */
int sandbox_enter_ctl(char *err, size_t errlen) WUR;

/* Names the calling thread in a denial line ("vCPU 0"); the string must
 * outlive the thread. Default "main". */
void sandbox_set_thread_name(const char *name);

/* Test hook (the x-debug-sandbox-probe monitor command): makes a system
 * call no filter allows, which must stop the process. */
void sandbox_probe_forbidden(void);

#endif
