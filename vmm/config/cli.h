/* Command line: QEMU-style options parsed into a struct vm_config.
 * Parsing never exits: errors come back as one line in `err`. */
#ifndef MEMVM_CLI_H
#define MEMVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/config/config.h"
#include "vmm/config/readconfig.h"
#include "vmm/lib/util.h"

/* Parses argv into cfg (after config_defaults). 0 or -EINVAL with a one-line
 * message in err. Pointers in cfg point into argv, and into the words of
 * -readconfig files (read where the option stands, so later options
 * override the file; an error in a file's word names the file, line and
 * key). Call cli_free() when done with cfg. */
int cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen) WUR;
/* Releases what cli_parse allocated (the files' words). */
void cli_free(struct vm_config *cfg);

void cli_usage(void *stream);
/* Every option name the parser knows (without the dash), up to max: how
 * many there are. */
size_t cli_option_names(const char **out, size_t max);

#endif
