/* Fuzz target: a VM config file read by -readconfig (inih and our reader:
 * unindented lines, long values in pieces, sections turned into option
 * words), then the options those words make parsed as memvm would. The
 * file is given through a memfd; errors must be one line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/config/cli.h"
#include "vmm/config/readconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	char err[512] = "";
	struct vm_config cfg;
	config_defaults(&cfg);
	char *argv[] = { "memvm", "-readconfig", path, NULL };
	int r = cli_parse(3, argv, &cfg, err, sizeof(err));
	if (r && (!err[0] || strchr(err, '\n')))
		abort();
	if (!r) {
		/* What was read writes back to something that reads the same. */
		FILE *f = fopen("/dev/null", "w");
		if (!f || writeconfig_write(&cfg, f))
			abort();
		fclose(f);
	}
	cli_free(&cfg);
	return 0;
}
