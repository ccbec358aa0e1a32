/* Last line of defence when memvm itself touches guest RAM that the host
 * cannot back (an empty huge page pool, a full tmpfs or disk under
 * -mem-path): the kernel raises SIGBUS. The accesses memvm can foresee
 * populate first and fail cleanly (guest_mem_access); this guard catches
 * the rest, e.g. a ring page the guest's own balloon gave away. Instead of
 * a core dump it prints one line, restores the terminal, removes the
 * monitor sockets and exits with status 1: the one exit outside main,
 * because nothing can resume after such a fault. A SIGBUS anywhere else
 * is a bug and still dumps core.
 *
 * Process-wide by nature (a signal handler): fixed tables, filled during
 * set-up, read only by the handler. */
#ifndef MEMVM_SIGBUS_H
#define MEMVM_SIGBUS_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

/* Installs the handler (idempotent). 0 or -errno. */
int sigbus_guard_init(void) WUR;

/* [hva, hva+len) is guest RAM starting at guest address gpa. -ENOSPC when
 * the table is full. */
int sigbus_guard_add_ram(const void *hva, uint64_t len, uint64_t gpa) WUR;
/* Forgets every RAM range (the RAM is being unmapped). */
void sigbus_guard_clear_ram(void);

/* A file to unlink on a fatal fault (a monitor socket); copied. Paths
 * that do not fit are ignored. remove takes it off the list again. */
void sigbus_guard_add_path(const char *path);
void sigbus_guard_remove_path(const char *path);

/* Called by the handler before exiting; must be async-signal-safe
 * (restoring the terminal with tcsetattr is). One slot, NULL clears. */
void sigbus_guard_on_fatal(void (*fn)(void));

#endif
