/* The human monitor (HMP): QEMU's command spelling and output text for
 * what memvm supports (help|?, info balloon|cpus|ksm|kvm|memory|
 * memory_size_summary|memdev|name|status|uuid|version, balloon SIZE (MiB, or with -m's
 * suffixes), stop|s, cont|c, system_reset, system_powerdown, quit|q).
 * Commands run through the QMP dispatcher, as in QEMU, so both monitors
 * behave alike; in the other direction HMP gives QMP its
 * human-monitor-command (hmp_qmp_commands, for qmp_ctx.extra).
 *
 * The banner and the prompt are QEMU's ("QEMU 7.2.0 monitor - ...",
 * "(qemu) "): scripts and tools written for QEMU's monitor wait for exactly
 * those. On a socket, input is echoed as QEMU's readline echoes it (the
 * printable bytes, and CR LF where a line ends), so a transcript reads as
 * QEMU's does. Output lines end in "\r\n" on the wire, as QEMU's. */
#ifndef MEMVM_HMP_H
#define MEMVM_HMP_H

#include "vmm/lib/version.h"
#include "vmm/monitor/qmp.h"

#define HMP_PROMPT "(qemu) "
/* QEMU's banner, with the QEMU version whose monitor memvm speaks: scripts
 * wait for it ("info version" names memvm). */
#define HMP_GREETING "QEMU " QMP_QEMU_VERSION " monitor - type 'help' for more information\n"

/* Runs one command line; returns its output ("\n" line ends, possibly
 * empty; malloc'd) or NULL when out of memory. */
char *hmp_run(const struct qmp_ctx *ctx, const char *line) WUR;

/* Copy of text with "\n" turned into "\r\n" (malloc'd). */
char *hmp_crlf(const char *text) WUR;

/* QMP commands HMP implements, for qmp_ctx.extra: human-monitor-command
 * (runs command-line with hmp_run() on the same ctx and returns its output
 * with "\r\n" line ends, as QEMU). */
extern const struct qmp_command hmp_qmp_commands[];

#endif
