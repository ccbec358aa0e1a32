/* What a memvm machine is made of: the options of the command line (and,
 * later, of config files), independent of how they were spelled. */
#ifndef MEMVM_CONFIG_H
#define MEMVM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

struct cfg_words;

/* The most vCPUs a memvm machine has: APIC ids are 8 bits, 0xff is the
 * broadcast id and the IOAPIC takes id ncpus. The host's KVM may allow
 * fewer (checked when the machine is built). */
#define VM_MAX_CPUS 254u
/* virtio-mmio devices (balloon and rngs together): one 4 KiB window and
 * one GSI each, GSIs 5..22 without 8 and 12. */
#define VM_MAX_VIRTIO 16u

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
	/* The memory autopilot (balloon/autopilot.h): on at start, and its
	 * limits in bytes (0: the default for the RAM size). */
	bool autopilot;
	uint64_t autopilot_floor, autopilot_step, autopilot_reserve;
};

/* -object memory-backend-ram|file|memfd: memvm's RAM, when -machine
 * memory-backend names it (QEMU's modern spelling of -m/-mem-path). */
struct memdev_spec {
	bool set;
	char id[64];
	const char *qom_type; /* "memory-backend-ram", "-file" or "-memfd" */
	uint64_t size;
	const char *mem_path; /* file */
	bool share, prealloc, merge, dump, reserve, hugetlb;
	unsigned prealloc_threads; /* 0: not given */
	uint64_t hugetlb_size;     /* memfd hugetlbsize=; 0: not given */
};

struct vm_config {
	uint64_t ram_size;
	bool ram_size_set; /* -m was given */
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
	bool mem_dump;             /* dump=on (default): RAM in core dumps */
	bool mem_reserve;          /* reserve=on (default): hugetlb pages reserved */
	uint64_t mem_hugetlb_size; /* memory-backend-memfd,hugetlb=on: page size */
	/* The RAM backend as QOM and query-memdev name it: "microvm.ram" (QEMU
	 * microvm's default-ram-id) and a type derived from the backing, or the
	 * -object's own. */
	char ram_id[64];
	const char *ram_qom_type; /* NULL: from mem_path / mem_shared */
	struct memdev_spec memdev;
	const char *memory_backend; /* -machine memory-backend=ID */

	enum serial_mode serial;
	const char *serial_path;

	bool no_reboot;
	bool sandbox;        /* -sandbox on|off (default on) */
	bool sandbox_log;    /* -sandbox on,log=on */
	const char *runas;   /* -runas USER; NULL: stay who we are */
	bool start_paused;   /* -S */
	bool host_quirks;    /* -machine host-quirks=on|off */
	enum tristate dt;    /* -machine dt=on|off */
	bool pvh;            /* -machine pvh=on: Xen PVH entry of a vmlinux that has one */
	const char *dumpdtb; /* -machine dumpdtb=FILE */

	bool debug_exit; /* -device isa-debug-exit */
	uint16_t debug_exit_port;
	uint16_t debug_exit_size;

	unsigned rng; /* how many -device virtio-rng */
	struct balloon_spec balloon;

	struct chardev_spec qmp;
	struct chardev_spec monitor;

	char name[128]; /* -name (QMP query-name); "": none */
	char uuid[37];  /* -uuid, lower case (query-uuid); "": the all-zero UUID */

	const char *writeconfig; /* -writeconfig FILE ("-": stdout) */
	/* The words of -readconfig files, which cfg's strings point into
	 * (cli_free() releases them). */
	struct cfg_words *owned_words;

	/* -version / -help: the caller prints and exits 0. */
	bool want_version;
	bool want_help;
};

/* memvm's defaults: 128 MiB, one vCPU, console on stdio, KSM and THP on. */
void config_defaults(struct vm_config *cfg);

#endif
