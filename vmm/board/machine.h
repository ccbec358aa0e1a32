/* The machine memvm builds from a struct vm_config: guest RAM, the KVM VM
 * and its vCPUs, the devices, the monitor and the console, and its life:
 * boot, pause and resume, guest reboot, and how it ends (the process exit
 * status). The only object main() sees. */
#ifndef MEMVM_MACHINE_H
#define MEMVM_MACHINE_H

#include <stddef.h>

#include "vmm/lib/util.h"

struct machine;
struct vm_config;

/* Process exit statuses. isa-debug-exit yields odd values (V << 1) | 1,
 * so the crash statuses are even. */
#define EXIT_STATUS_OK        0
#define EXIT_STATUS_ERROR     1 /* configuration or host error before/while running */
#define EXIT_STATUS_CRASH     2 /* guest triple fault / KVM shutdown or crash event */
#define EXIT_STATUS_UNHANDLED 4 /* a vCPU exit memvm does not handle, or failed entry */
#define EXIT_STATUS_EMULATION 6 /* the host could not emulate a guest instruction */

/* Builds the whole machine, loads the guest, creates the vCPUs; nothing
 * runs yet. All set-up (files, sockets, eventfds, device threads) happens
 * here. Returns 0 or -errno with one line in err, or MACHINE_CREATE_DUMPED
 * when -machine dumpdtb wrote its file (the caller exits 0). *out is set
 * either way and must be given to machine_destroy(). */
#define MACHINE_CREATE_DUMPED 1
int machine_create(const struct vm_config *cfg, struct machine **out, char *err, size_t errlen) WUR;

/* Runs until the guest powers off or crashes, memvm is told to quit or a
 * signal arrives; guest reboots happen inside. Returns the exit status. */
int machine_run(struct machine *m);

/* Frees everything; safe on a partly created machine and on NULL. */
void machine_destroy(struct machine *m);

#endif
