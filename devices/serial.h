/* 8250/16550A UART. Output goes to a file descriptor; input is pushed in
 * by the console code on the event-loop thread. */
#ifndef MEMVM_SERIAL_H
#define MEMVM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "vmm/lib/util.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_PORT_LEN  8

struct serial;

/* Sets the interrupt line to level (0/1); called with the UART lock held. */
typedef void (*serial_irq_fn)(void *opaque, int level);

/* out_fd < 0 discards output. Writing never waits: give a non-blocking
 * fd, or one that cannot fill (a regular file), so a full output costs
 * dropped bytes (serial_dropped) and never a stuck vCPU. */
struct serial *serial_new(int out_fd, serial_irq_fn irq, void *irq_opaque) WUR;
void serial_free(struct serial *s);

/* The PIO bus handlers for this device type. */
extern const struct bus_ops serial_bus_ops;

/* Queues received bytes; returns how many fit in the receive FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Free space in the receive FIFO. */
size_t serial_rx_space(struct serial *s);
/* Output bytes dropped because out_fd was full. */
uint64_t serial_dropped(struct serial *s);
/* Back to power-on state (guest reboot). */
void serial_reset(struct serial *s);

#endif
