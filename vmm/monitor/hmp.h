/* The human monitor (HMP): QEMU's command spelling and output text for
 * what memvm supports (help, info status|balloon|memory|ksm|cpus|kvm|
 * version|memory_size_summary, balloon MiB, stop, cont, system_reset,
 * system_powerdown, quit). Commands run through the QMP dispatcher, as in
 * QEMU, so both monitors behave alike.
 *
 * The prompt is QEMU's "(qemu) ": scripts and tools written for QEMU's
 * monitor wait for exactly that string. Unlike QEMU, input is not echoed
 * (no readline on sockets), which keeps scripted sessions clean. Output
 * lines end in "\r\n" on the wire, as QEMU's. */
#ifndef MEMVM_HMP_H
#define MEMVM_HMP_H

#include "vmm/lib/version.h"
#include "vmm/monitor/qmp.h"

#define HMP_PROMPT "(qemu) "
#define HMP_GREETING "memvm " MEMVM_VERSION " monitor - type 'help' for more information\n"

/* Runs one command line; returns its output ("\n" line ends, possibly
 * empty; malloc'd) or NULL when out of memory. */
char *hmp_run(const struct qmp_ctx *ctx, const char *line) WUR;

/* Copy of text with "\n" turned into "\r\n" (malloc'd). */
char *hmp_crlf(const char *text) WUR;

#endif
