/* Console output a stopped reader cannot wedge (`memvm | less`, a full
 * pipe, Ctrl-S on a terminal): the UART writes into a pipe of its own,
 * non-blocking and 1 MiB deep, and a thread copies it to the real output
 * with blocking writes. When the reader stops, the pipe fills, the UART
 * drops bytes (serial_dropped counts them) and no vCPU ever waits. */
#ifndef MEMVM_CONOUT_H
#define MEMVM_CONOUT_H

#include "vmm/lib/util.h"

struct conout;

/* out_fd stays the caller's (closed after conout_close). 0 or -errno. */
int conout_open(int out_fd, struct conout **out) WUR;
/* The end the UART writes to (non-blocking). */
int conout_fd(const struct conout *c);
/* Writes what is queued within timeout_ms, then stops the thread even if
 * the reader is stuck. Call when nothing writes to conout_fd any more.
 * NULL is a no-op. */
void conout_close(struct conout *c, int timeout_ms);

#endif
