/* Command line: QEMU-style options parsed into a struct vm_config.
 * Parsing never exits: errors come back as one line in `err`. */
#ifndef MEMVM_CLI_H
#define MEMVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/config/config.h"
#include "vmm/lib/util.h"

/* Parses argv into cfg (after config_defaults). 0 or -EINVAL with a one-line
 * message in err. Pointers in cfg point into argv. */
int cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen) WUR;

void cli_usage(void *stream);

#endif
