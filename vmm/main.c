/* memvm entry point: parse the command line, build the VM, run it. The
 * only place that exits. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config/cli.h"
#include "vmm/board/console.h"
#include "vmm/board/machine.h"
#include "vmm/lib/version.h"

/* -writeconfig FILE: 0, or 1 with the error printed. */
static int write_config(const struct vm_config *cfg)
{
	bool out = !strcmp(cfg->writeconfig, "-");
	FILE *f = out ? stdout : fopen(cfg->writeconfig, "we");
	if (!f || writeconfig_write(cfg, f) || (out ? fflush(f) : fclose(f))) {
		fprintf(stderr, "memvm: error: -writeconfig %s: %s\n", cfg->writeconfig,
			strerror(errno));
		if (f && !out)
			fclose(f);
		return 1;
	}
	return 0;
}

static int run(struct vm_config *cfg)
{
	char err[512];
	struct machine *vm = NULL;
	if (cfg->want_help) {
		cli_usage(stdout);
		return EXIT_STATUS_OK;
	}
	if (cfg->want_version) {
		printf("memvm version " MEMVM_VERSION "\n");
		return EXIT_STATUS_OK;
	}
	if (cfg->writeconfig && write_config(cfg))
		return EXIT_STATUS_ERROR;
	if (!cfg->kernel && !cfg->dumpdtb) {
		if (cfg->writeconfig)
			return EXIT_STATUS_OK; /* only the file was asked for */
		fprintf(stderr, "memvm: error: no guest to run: give -kernel FILE (see -help)\n");
		return EXIT_STATUS_ERROR;
	}
	int ret = machine_create(cfg, &vm, err, sizeof(err));
	if (ret == MACHINE_CREATE_DUMPED) {
		machine_destroy(vm);
		return EXIT_STATUS_OK;
	}
	if (ret) {
		console_restore_terminal();
		fprintf(stderr, "memvm: error: %s\n", err);
		machine_destroy(vm);
		return EXIT_STATUS_ERROR;
	}
	int status = machine_run(vm);
	machine_destroy(vm);
	fflush(stdout);
	return status;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	char err[512];

	/* As QEMU: a monitor or console peer that goes away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	config_defaults(&cfg);
	if (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "memvm: error: %s\n", err);
		cli_free(&cfg);
		return EXIT_STATUS_ERROR;
	}
	int status = run(&cfg);
	cli_free(&cfg);
	return status;
}
