/* ACPI-less power control ports: a write of SLP_EN|SLP_TYP (0x2000) to the
 * PM1a control ports QEMU uses (0x604 on q35/microvm-style machines,
 * 0xb004 on older PIIX) powers off; 0x06/0x0e to the 0xcf9 reset control
 * register resets. Bare-metal payloads and small kernels use these. */
#ifndef MEMVM_PM_H
#define MEMVM_PM_H

#include "devices/bus.h"

#define PM_PORT_Q35   0x604
#define PM_PORT_PIIX  0xb004
#define PM_PORT_LEN   2
#define PM_RESET_PORT 0xcf9

struct pm;

struct pm *pm_new(const struct run_link *link) WUR;
void pm_free(struct pm *pm);
extern const struct bus_ops pm_ctl_ops;   /* at 0x604 and 0xb004, len 2 */
extern const struct bus_ops pm_reset_ops; /* at 0xcf9, len 1 */

#endif
