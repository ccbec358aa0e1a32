/* The serial console on the terminal: stdin feeds the UART (raw mode when
 * it is a tty, restored on every exit path) and Ctrl-A x quits, as with
 * QEMU's -nographic. */
#ifndef MEMVM_CONSOLE_H
#define MEMVM_CONSOLE_H

#include <stdbool.h>

#include "devices/bus.h"
#include "vmm/lib/util.h"

struct console;
struct evloop;
struct serial;

/* in_fd is read on the event loop; link receives RUN_REQ_QUIT for Ctrl-A x. */
int console_open(struct console **out, struct evloop *loop, struct serial *uart, int in_fd,
		 const struct run_link *link) WUR;
/* Restores the terminal and stops reading. Safe with NULL. */
void console_close(struct console *c);

/* Restores any terminal memvm put in raw mode (for exit paths that cannot
 * reach console_close, e.g. a fatal signal). Async-signal-safe. */
void console_restore_terminal(void);

#endif
