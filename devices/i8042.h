/* Minimal i8042 keyboard controller: no keyboard, but the 0xFE "pulse
 * reset line" command reboots the machine, as guests expect on PCs. */
#ifndef MEMVM_I8042_H
#define MEMVM_I8042_H

#include "devices/bus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64

struct i8042;

struct i8042 *i8042_new(const struct run_link *link) WUR;
void i8042_free(struct i8042 *k);
/* Handles both ports; register it at 0x60 (len 1) and 0x64 (len 1). */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_cmd_ops;

#endif
