/* VM config files: QEMU's -readconfig INI syntax, parsed with inih, turned
 * into the command-line words they stand for, so a file and options mean
 * the same and options after -readconfig override it. QEMU's sections
 * ([machine], [memory], [smp-opts], [object "ID"], [device "ID"], [name],
 * [sandbox], [chardev "ID"] with [mon]) plus memvm's own ([boot] kernel,
 * initrd, append; [memvm] mem-path, mem-prealloc, uuid, no-reboot,
 * start-paused, runas, serial; [monitor] qmp, hmp). Values may be quoted.
 * -writeconfig writes a configuration back in the same syntax. */
#ifndef MEMVM_READCONFIG_H
#define MEMVM_READCONFIG_H

#include <stdio.h>

#include "vmm/config/config.h"
#include "vmm/lib/util.h"

/* Command-line words, each with where it came from ("FILE:LINE: [section]
 * key" for a file's, NULL for the command line's). */
struct cfg_words {
	char **argv;
	char **origin;
	int argc, cap;
};

/* Appends the words FILE stands for: 0, or -errno with one line naming the
 * file, the line and the key in err. */
int readconfig_load(const char *path, struct cfg_words *w, char *err, size_t errlen) WUR;
/* Appends one word (copied); origin may be NULL. 0 or -ENOMEM. */
int readconfig_push(struct cfg_words *w, const char *word, const char *origin) WUR;
void readconfig_words_free(struct cfg_words *w);

/* The configuration as a file -readconfig reads back to the same one. */
int writeconfig_write(const struct vm_config *cfg, FILE *f) WUR;

#endif
