/* i8042 keyboard controller with a keyboard that has one job: the host can
 * press Ctrl-Alt-Del (system_powerdown, as Firecracker's SendCtrlAltDel),
 * which Linux's atkbd turns into ctrl_alt_del(). Enough of the controller
 * for Linux's i8042 driver to find a keyboard port (command byte, self
 * tests, keyboard commands answered with ACK), no AUX port, and the 0xFE
 * "pulse reset line" command reboots the machine, as guests expect on PCs.
 *
 * Scan codes are set 2 (the command byte's translation bit is off unless
 * the guest sets it, then set 1). Port accesses come from vCPU threads and
 * the key press from the event loop: a lock orders them. */
#ifndef MEMVM_I8042_H
#define MEMVM_I8042_H

#include "devices/bus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64
#define I8042_IRQ       1

/* Raises (1) or lowers (0) the keyboard IRQ line. */
typedef void (*i8042_irq_fn)(void *opaque, int level);

struct i8042;

/* irq may be NULL (no interrupts: the guest polls). */
struct i8042 *i8042_new(const struct run_link *link, i8042_irq_fn irq, void *irq_opaque) WUR;
void i8042_free(struct i8042 *k);
/* Back to power-on state (machine reset). */
void i8042_reset(struct i8042 *k);
/* Queues Ctrl-Alt-Del, pressed and released: 0, or -EAGAIN while the
 * guest has not read what was queued before (its buffer is full). */
int i8042_ctrl_alt_del(struct i8042 *k) WUR;
/* Handles both ports; register it at 0x60 (len 1) and 0x64 (len 1). */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_cmd_ops;

#endif
