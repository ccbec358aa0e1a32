#include "vmm/config/config.h"

#include <stdio.h>
#include <string.h>

void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ram_size = 128ull << 20;
	cfg->smp = 1;
	cfg->mem_merge = true;
	cfg->thp = true;
	cfg->mem_dump = true;
	cfg->mem_reserve = true;
	snprintf(cfg->ram_id, sizeof(cfg->ram_id), "microvm.ram");
	cfg->serial = SERIAL_STDIO;
	cfg->host_quirks = true;
	cfg->sandbox = true;
	cfg->dt = TRI_AUTO;
	cfg->debug_exit_port = 0x501;
	cfg->debug_exit_size = 2;
}
