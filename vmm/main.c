/* memvm entry point: parse the command line, build the VM, run it. The
 * only place that exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmm/config/cli.h"
#include "vmm/board/console.h"
#include "vmm/board/machine.h"
#include "vmm/lib/version.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	char err[512];
	struct machine *vm = NULL;

	/* As QEMU: a monitor or console peer that goes away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	config_defaults(&cfg);
	if (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "memvm: error: %s\n", err);
		return EXIT_STATUS_ERROR;
	}
	if (cfg.want_help) {
		cli_usage(stdout);
		return EXIT_STATUS_OK;
	}
	if (cfg.want_version) {
		printf("memvm version " MEMVM_VERSION "\n");
		return EXIT_STATUS_OK;
	}
	if (!cfg.kernel && !cfg.dumpdtb) {
		fprintf(stderr, "memvm: error: no guest to run: give -kernel FILE (see -help)\n");
		return EXIT_STATUS_ERROR;
	}
	int ret = machine_create(&cfg, &vm, err, sizeof(err));
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
