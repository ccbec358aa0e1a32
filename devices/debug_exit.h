/* isa-debug-exit, as in QEMU: a write of V ends memvm with exit status
 * (V << 1) | 1, so test payloads can return a value. */
#ifndef MEMVM_DEBUG_EXIT_H
#define MEMVM_DEBUG_EXIT_H

#include "devices/bus.h"

struct debug_exit;

struct debug_exit *debug_exit_new(const struct run_link *link) WUR;
void debug_exit_free(struct debug_exit *d);
extern const struct bus_ops debug_exit_ops;

#endif
