/* The query commands a QEMU client sends early, answered as QEMU 7.2
 * answers them on a microvm machine: query-name, -uuid, -target,
 * -machines, -current-machine, -chardev, -memdev, -memory-devices,
 * -hotpluggable-cpus, -command-line-options, -qmp-schema, and empty lists
 * (never CommandNotFound) where memvm has nothing: query-block,
 * -block-jobs, -blockstats, -pci, -iothreads, -migrate. */
#ifndef MEMVM_QUERY_H
#define MEMVM_QUERY_H

#include "vmm/monitor/qmp.h"

/* For qmp_ctx.extra. */
extern const struct qmp_command query_commands[];

#endif
