/* Command line: QEMU-style options parsed into a struct vm_config.
 * Parsing never exits: errors come back as one line in `err`. */
#ifndef MEMVM_CLI_H
#define MEMVM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/util.h"

#define MEMVM_VERSION "0.1.0"

enum serial_mode { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE };
enum tristate { TRI_AUTO = -1, TRI_OFF = 0, TRI_ON = 1 };

/* A UNIX-socket chardev spec as in `-qmp unix:PATH,server=on,wait=off`,
 * or "stdio" for -monitor. */
struct chardev_spec {
	bool set;
	bool stdio;
	char path[108];
};

struct balloon_spec {
	bool enabled;
	bool deflate_on_oom;
	bool free_page_reporting;
	uint32_t stats_interval_s;
};

struct vm_config {
	uint64_t ram_size;
	unsigned smp;
	const char *kernel;
	const char *initrd;
	const char *append;

	const char *mem_path;
	bool mem_prealloc;
	unsigned prealloc_threads; /* 0: online CPUs */
	bool mem_merge;
	bool thp;
	bool mem_shared;

	enum serial_mode serial;
	const char *serial_path;

	bool no_reboot;
	bool start_paused;      /* -S */
	bool host_quirks;       /* -machine host-quirks=on|off */
	enum tristate dt;       /* -machine dt=on|off */
	bool pvh;               /* -machine pvh=on: Xen PVH entry of a vmlinux that has one */
	const char *dumpdtb;    /* -machine dumpdtb=FILE */

	bool debug_exit;        /* -device isa-debug-exit */
	uint16_t debug_exit_port;
	uint16_t debug_exit_size;

	bool rng;               /* -device virtio-rng */
	struct balloon_spec balloon;

	struct chardev_spec qmp;
	struct chardev_spec monitor;

	/* -version / -help: the caller prints and exits 0. */
	bool want_version;
	bool want_help;
};

void cli_defaults(struct vm_config *cfg);

/* Parses argv into cfg (after cli_defaults). 0 or -EINVAL with a one-line
 * message in err. Pointers in cfg point into argv. */
int cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen) WUR;

/* QEMU size syntax: a plain number is `default_unit` bytes (MiB for -m),
 * suffixes B/K/M/G/T/P/E (case-insensitive), decimals allowed ("1.5G").
 * 0 or -EINVAL / -ERANGE. */
int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *out) WUR;

void cli_usage(void *stream);

#endif
