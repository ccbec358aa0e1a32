/* QEMU's object tree (QOM) as memvm's machine would appear in QEMU 7.2 on
 * a microvm machine: /, /objects (the RAM backend), /chardevs, /machine
 * with peripheral, peripheral-anon (the balloon and rngs) and unattached
 * (the vCPUs). qom-list, qom-get and qom-set walk it; query-memdev and
 * query-chardev (vmm/monitor/query.h) read the same model, so the views
 * agree. Paths resolve as QEMU resolves them: absolute, or a trailing run
 * of whole components that names one object. */
#ifndef MEMVM_QOM_H
#define MEMVM_QOM_H

#include <jansson.h>

#include "vmm/monitor/qmp.h"

/* The RAM backend's default id (QEMU microvm's default-ram-id); an
 * -object memory-backend-* gives its own. */
#define QOM_RAM_ID "microvm.ram"

/* qom-list, qom-get, qom-set (for qmp_ctx.extra). */
extern const struct qmp_command qom_commands[];

/* query-memdev's list and query-chardev's list (new references; NULL
 * when out of memory). */
json_t *qom_memdev_list(const struct qmp_ctx *ctx) WUR;
json_t *qom_chardev_list(const struct qmp_ctx *ctx) WUR;

#endif
