/* QMP commands of the memory autopilot (balloon/autopilot.h), in memvm's
 * x- namespace: x-query-memvm-autopilot (state, limits, host and guest
 * pressure, the last move) and x-memvm-autopilot (turn it on or off, set
 * its limits; answers with the new state). Without a balloon both answer
 * QEMU's DeviceNotActive. */
#ifndef MEMVM_AUTOPILOT_QMP_H
#define MEMVM_AUTOPILOT_QMP_H

#include "vmm/monitor/qmp.h"

/* For qmp_ctx.extra. */
extern const struct qmp_command autopilot_commands[];

#endif
