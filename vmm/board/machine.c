#include "vmm/board/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "balloon/autopilot.h"
#include "balloon/balloon.h"
#include "devices/bus.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pm.h"
#include "devices/serial.h"
#include "devices/virtio_rng.h"
#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "memory/ram.h"
#include "vmm/board/conout.h"
#include "vmm/board/console.h"
#include "vmm/board/devices.h"
#include "vmm/board/load.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/entry.h"
#include "vmm/config/config.h"
#include "vmm/core/kvm.h"
#include "vmm/core/runstate.h"
#include "vmm/core/vcpu.h"
#include "vmm/core/vm.h"
#include "vmm/lib/evloop.h"
#include "vmm/lib/sigbus.h"
#include "vmm/monitor/monitor.h"
#include "vmm/sandbox/sandbox.h"

struct machine {
	struct vm_config cfg;
	struct kvm_sys kvm;
	int sig_fd;

	struct evloop *loop;
	struct runstate *rs;
	struct guest_mem *gm;
	struct guest_ram *ram;
	struct bus *pio;
	struct bus *mmio;
	struct vm *vm;
	struct devmgr *dm;

	struct serial *uart;
	int uart_out_fd;
	bool uart_out_owned;
	struct conout *conout; /* the UART's output, a reader that stops cannot wedge */
	struct console *console;
	struct i8042 *kbd;
	struct pm *pm;
	struct debug_exit *dbg;
	struct virtio_rng *rng[VM_MAX_VIRTIO];
	struct balloon *balloon;
	struct autopilot *autopilot;

	struct monitor *monitor;
	enum shutdown_cause quit_cause; /* NONE: Ctrl-A x (host-ui) */
	bool reset_announced;           /* the monitor's system_reset sent RESET itself */
	/* system_powerdown pressed Ctrl-Alt-Del: the guest's own reset that
	 * answers it powers the machine off (as Firecracker's exits). */
	bool powerdown_requested;

	struct boot_entry entry;
};

/* ---- guest RAM ------------------------------------------------------ */

/* SIGINT, SIGTERM or SIGHUP arrived (they stay blocked and pending until
 * the event loop reads them): set-up stops and memvm exits 1. */
static bool machine_quit_pending(void *opaque)
{
	sigset_t set;
	(void)opaque;
	if (sigpending(&set))
		return false;
	return sigismember(&set, SIGINT) == 1 || sigismember(&set, SIGTERM) == 1 ||
	       sigismember(&set, SIGHUP) == 1;
}

/* Maps RAM per cfg: [0, min(size, 3 GiB)) and the rest from 4 GiB. */
static int machine_ram_new(const struct vm_config *cfg, struct guest_mem *gm,
			   struct guest_ram **out, char *err, size_t errlen)
{
	struct guest_ram_region r[2];
	struct ram_config rc;

	ram_config_init(&rc, cfg->ram_size);
	rc.mem_path = cfg->mem_path;
	rc.prealloc = cfg->mem_prealloc;
	rc.prealloc_threads = cfg->prealloc_threads;
	rc.merge = cfg->mem_merge;
	rc.thp = cfg->thp;
	rc.shared = cfg->mem_shared;
	rc.hugetlb_size = cfg->mem_hugetlb_size;
	rc.dump = cfg->mem_dump;
	rc.reserve = cfg->mem_reserve;
	rc.progress = true;
	rc.cancelled = machine_quit_pending;
	unsigned long long gpa[2], len[2], off[2];
	unsigned n = layout_ram_regions(cfg->ram_size, gpa, len, off);
	for (unsigned i = 0; i < n; i++)
		r[i] = (struct guest_ram_region){ .gpa = gpa[i], .len = len[i], .offset = off[i] };
	int ret = guest_ram_new(&rc, r, n, gm, out, err, errlen);
	if (ret)
		return ret;
	/* memvm's own touches of RAM the host cannot back end cleanly. */
	for (size_t i = 0; i < guest_mem_count(gm); i++) {
		const struct guest_region *g = guest_mem_region(gm, i);
		if ((ret = sigbus_guard_add_ram(g->hva, g->size, g->gpa))) {
			snprintf(err, errlen, "guarding guest RAM: %s", strerror(-ret));
			return ret;
		}
	}
	if ((ret = sigbus_guard_init()))
		snprintf(err, errlen, "sigaction(SIGBUS): %s", strerror(-ret));
	return ret;
}

/* ---- monitor backend ------------------------------------------------ */

static int machine_be_sandbox_probe(void *opaque, bool vcpu)
{
	struct machine *m = opaque;
	if (!vcpu) {
		sandbox_probe_forbidden();
		return 0;
	}
	struct vcpu *v = vm_vcpu(m->vm, 0);
	if (!v)
		return -ENODEV;
	vcpu_probe_sandbox(v);
	vcpu_kick(v);
	return 0;
}

static int machine_be_stop(void *opaque)
{
	struct machine *m = opaque;
	runstate_pause(m->rs);
	return 0;
}

static int machine_be_cont(void *opaque)
{
	struct machine *m = opaque;
	runstate_resume(m->rs);
	return 0;
}

static bool machine_be_running(void *opaque)
{
	struct machine *m = opaque;
	return runstate_is_running(m->rs);
}

static bool machine_be_prelaunch(void *opaque)
{
	struct machine *m = opaque;
	return runstate_is_prelaunch(m->rs);
}

static void machine_be_quit(void *opaque)
{
	struct machine *m = opaque;
	m->quit_cause = SHUTDOWN_CAUSE_HOST_QMP_QUIT;
	runstate_request(m->rs, RUN_REQ_QUIT, 0);
}

static int machine_be_reset(void *opaque)
{
	struct machine *m = opaque;
	if (m->cfg.no_reboot) {
		/* As QEMU: a reset with -no-reboot ends the VM (SHUTDOWN, no RESET). */
		m->quit_cause = SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET;
		runstate_request(m->rs, RUN_REQ_QUIT, 0);
		return MONITOR_RESET_ENDS;
	}
	if (runstate_request(m->rs, RUN_REQ_RESET, 0))
		m->reset_announced = true;
	return 0;
}

static int machine_be_powerdown(void *opaque)
{
	struct machine *m = opaque;
	/* -EAGAIN: the last press is still unread (a guest without a keyboard
	 * driver); pressing again is no error, as QEMU's button. */
	int ret = i8042_ctrl_alt_del(m->kbd);
	m->powerdown_requested = true;
	return ret == -EAGAIN ? 0 : ret;
}

static int machine_be_thread_id(void *opaque, unsigned index)
{
	struct machine *m = opaque;
	return vm_vcpu_thread_id(m->vm, index);
}

static int machine_be_cpu_counters(void *opaque, unsigned index, struct monitor_cpu_counters *c)
{
	struct machine *m = opaque;
	return vm_vcpu_counters(m->vm, index, &c->exits, &c->run_ns, &c->insn_fixups);
}

/* Before the devices, so the balloon can report to it from the start. */
static int machine_create_monitor(struct machine *m, char *err, size_t errlen)
{
	char merr[256];
	int ret;
	const char *hooks = getenv("MEMVM_TEST_HOOKS");
	struct monitor_backend be = {
		.opaque = m,
		/* Tests only: the sandbox probe command exists with this set. */
		.sandbox_probe = hooks && !strcmp(hooks, "1") ? machine_be_sandbox_probe : NULL,
		.stop = machine_be_stop,
		.cont = machine_be_cont,
		.running = machine_be_running,
		.prelaunch = machine_be_prelaunch,
		.quit = machine_be_quit,
		.reset = machine_be_reset,
		.powerdown = machine_be_powerdown,
		.cpu_thread_id = machine_be_thread_id,
		.cpu_counters = machine_be_cpu_counters,
		.ram_size = m->cfg.ram_size,
		.ncpus = m->cfg.smp,
		.ram = guest_ram_block(m->ram),
		.guest_ram = m->ram,
		.cfg = &m->cfg,
	};
	if ((ret = monitor_new(&be, m->loop, &m->monitor))) {
		snprintf(err, errlen, "creating the monitor: %s", strerror(-ret));
		return ret;
	}
	if (m->cfg.qmp.set &&
	    (ret = monitor_add_qmp(m->monitor, &m->cfg.qmp, merr, sizeof(merr)))) {
		snprintf(err, errlen, "%s", merr);
		return ret;
	}
	if (m->cfg.monitor.set &&
	    (ret = monitor_add_hmp(m->monitor, &m->cfg.monitor, merr, sizeof(merr)))) {
		snprintf(err, errlen, "%s", merr);
		return ret;
	}
	return 0;
}

/* ---- devices -------------------------------------------------------- */

static void machine_uart_irq(void *opaque, int level)
{
	struct machine *m = opaque;
	/* Errors only while shutting down (irqchip gone); no VM once freed. */
	if (m->vm)
		(void)vm_irq_line(m->vm, LAYOUT_IRQ_SERIAL0, level);
}

static void machine_kbd_irq(void *opaque, int level)
{
	struct machine *m = opaque;
	if (m->vm)
		(void)vm_irq_line(m->vm, I8042_IRQ, level);
}

static void machine_reset_kbd(void *dev)
{
	i8042_reset(dev);
}

static void machine_reset_uart(void *dev)
{
	serial_reset(dev);
}

/* The legacy devices' port ranges: registered by machine_create_devices
 * and kept clear of -device isa-debug-exit before anything is built. */
enum machine_port_dev { MACHINE_PORT_UART, MACHINE_PORT_KBD, MACHINE_PORT_PM };
static const struct machine_port {
	uint16_t base, len;
	const struct bus_ops *ops;
	enum machine_port_dev dev;
} machine_ports[] = {
	{ SERIAL_COM1_BASE, SERIAL_PORT_LEN, &serial_bus_ops, MACHINE_PORT_UART },
	{ I8042_DATA_PORT, 1, &i8042_data_ops, MACHINE_PORT_KBD },
	{ I8042_CMD_PORT, 1, &i8042_cmd_ops, MACHINE_PORT_KBD },
	{ PM_PORT_Q35, PM_PORT_LEN, &pm_ctl_ops, MACHINE_PORT_PM },
	{ PM_PORT_PIIX, PM_PORT_LEN, &pm_ctl_ops, MACHINE_PORT_PM },
	{ PM_RESET_PORT, 1, &pm_reset_ops, MACHINE_PORT_PM },
};

static int machine_debug_exit_busy(const struct vm_config *cfg, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "-device isa-debug-exit,iobase=0x%x: port range in use by another device; pick "
		 "another iobase",
		 cfg->debug_exit_port);
	return -EEXIST;
}

static int machine_check_ports(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (!cfg->debug_exit)
		return 0;
	unsigned lo = cfg->debug_exit_port, end = lo + cfg->debug_exit_size;
	for (size_t i = 0; i < ARRAY_SIZE(machine_ports); i++) {
		const struct machine_port *pt = &machine_ports[i];
		if (lo < (unsigned)pt->base + pt->len && pt->base < end)
			return machine_debug_exit_busy(cfg, err, errlen);
	}
	return 0;
}

/* -device virtio-balloon's autopilot limits: the defaults for the RAM
 * size, with what the options set. */
static int machine_autopilot_limits(const struct vm_config *cfg, struct autopilot_limits *l,
				    char *err, size_t errlen)
{
	const struct balloon_spec *bs = &cfg->balloon;
	char why[160];
	autopilot_limits_default(cfg->ram_size, l);
	if (bs->autopilot_floor)
		l->floor = bs->autopilot_floor;
	if (bs->autopilot_step)
		l->step = bs->autopilot_step;
	if (bs->autopilot_reserve)
		l->reserve = bs->autopilot_reserve;
	if (autopilot_limits_check(cfg->ram_size, l, why, sizeof(why))) {
		snprintf(err, errlen, "-device virtio-balloon: %s", why);
		return -EINVAL;
	}
	return 0;
}

/* Every balloon gets an autopilot, on or off: off it still reports host
 * and guest pressure. Its files are opened here, before the sandbox. */
static int machine_create_autopilot(struct machine *m, char *err, size_t errlen)
{
	struct autopilot_limits l;
	struct host_pressure *hp = NULL;
	int ret = machine_autopilot_limits(&m->cfg, &l, err, errlen);
	if (ret)
		return ret;
	uint64_t ps = ram_page_size(guest_ram_block(m->ram));
	if ((ret = host_pressure_open(ps > 4096 ? ps : 0, &hp))) {
		snprintf(err, errlen, "memory autopilot: %s", strerror(-ret));
		return ret;
	}
	struct autopilot_config ac = {
		.balloon = m->balloon,
		.loop = m->loop,
		.host = hp,
		.ram_size = m->cfg.ram_size,
		.huge_page_size = ps > 4096 ? ps : 0,
		.enabled = m->cfg.balloon.autopilot,
		.limits = &l,
		.on_event = monitor_autopilot_event, /* NULL monitor: no-op */
		.opaque = m->monitor,
	};
	if ((ret = autopilot_new(&ac, &m->autopilot))) {
		snprintf(err, errlen, "memory autopilot: %s", strerror(-ret));
		return ret;
	}
	monitor_set_autopilot(m->monitor, m->autopilot);
	return 0;
}

static int machine_create_balloon(struct machine *m, char *err, size_t errlen)
{
	const struct balloon_spec *bs = &m->cfg.balloon;
	struct balloon_config bc = {
		.deflate_on_oom = bs->deflate_on_oom,
		.free_page_reporting = bs->free_page_reporting,
		.stats_interval_s = bs->stats_interval_s,
		.ram_size = m->cfg.ram_size,
		.gm = m->gm,
		.loop = m->loop,
		.mem = &guest_ram_ops,
		.mem_opaque = m->ram,
		.on_actual_change = monitor_balloon_changed, /* NULL monitor: no-op */
		.opaque = m->monitor,
	};
	struct virtio_mmio *t;
	int ret = balloon_new(&bc, &m->balloon);
	if (ret) {
		snprintf(err, errlen, "creating virtio-balloon: %s", strerror(-ret));
		return ret;
	}
	if ((ret = devmgr_add_virtio(m->dm, balloon_virtio_device(m->balloon), &t, err, errlen)))
		return ret;
	balloon_attach(m->balloon, t);
	monitor_set_balloon(m->monitor, m->balloon);
	return machine_create_autopilot(m, err, errlen);
}

static int machine_open_serial(struct machine *m, char *err, size_t errlen)
{
	switch (m->cfg.serial) {
	case SERIAL_STDIO:
		m->uart_out_fd = STDOUT_FILENO;
		break;
	case SERIAL_FILE:
		m->uart_out_fd = open_output(m->cfg.serial_path, true);
		if (m->uart_out_fd < 0) {
			int ret = m->uart_out_fd;
			if (ret == -ESPIPE)
				snprintf(err, errlen,
					 "-serial file:%s: a pipe, socket or directory; "
					 "give a regular file or a device (or -serial stdio|none)",
					 m->cfg.serial_path);
			else
				snprintf(err, errlen, "-serial file:%s: %s", m->cfg.serial_path,
					 strerror(-ret));
			return ret;
		}
		m->uart_out_owned = true;
		break;
	case SERIAL_NONE:
		m->uart_out_fd = -1;
		break;
	}
	return 0;
}

static int machine_create_devices(struct machine *m, char *err, size_t errlen)
{
	struct run_link link = runstate_link(m->rs);
	int ret;

	struct devmgr_env env = {
		.pio = m->pio,
		.mmio = m->mmio,
		.gm = m->gm,
		.loop = m->loop,
		.platform = vm_virtio_platform(m->vm),
	};
	if ((ret = devmgr_new(&env, &m->dm)))
		goto nomem;
	int uart_fd = m->uart_out_fd; /* opened by machine_create, before RAM */
	if (uart_fd >= 0) {
		if ((ret = conout_open(uart_fd, &m->conout))) {
			snprintf(err, errlen, "console output: %s", strerror(-ret));
			return ret;
		}
		uart_fd = conout_fd(m->conout);
	}
	m->uart = serial_new(uart_fd, machine_uart_irq, m);
	m->kbd = i8042_new(&link, machine_kbd_irq, m);
	m->pm = pm_new(&link);
	if (!m->uart || !m->kbd || !m->pm)
		goto nomem;
	if ((ret = devmgr_add_reset(m->dm, machine_reset_uart, m->uart)) ||
	    (ret = devmgr_add_reset(m->dm, machine_reset_kbd, m->kbd)))
		goto busy;
	void *port_devs[] = {
		[MACHINE_PORT_UART] = m->uart,
		[MACHINE_PORT_KBD] = m->kbd,
		[MACHINE_PORT_PM] = m->pm,
	};
	for (size_t i = 0; i < ARRAY_SIZE(machine_ports); i++) {
		const struct machine_port *pt = &machine_ports[i];
		if ((ret = devmgr_add_pio(m->dm, pt->base, pt->len, pt->ops, port_devs[pt->dev])))
			goto busy;
	}
	if (m->cfg.debug_exit) {
		m->dbg = debug_exit_new(&link);
		if (!m->dbg)
			goto nomem;
		if (devmgr_add_pio(m->dm, m->cfg.debug_exit_port, m->cfg.debug_exit_size,
				   &debug_exit_ops, m->dbg))
			return machine_debug_exit_busy(&m->cfg, err, errlen);
	}
	for (unsigned i = 0; i < m->cfg.rng && i < ARRAY_SIZE(m->rng); i++) {
		m->rng[i] = virtio_rng_new();
		if (!m->rng[i])
			goto nomem;
		if ((ret = devmgr_add_virtio(m->dm, virtio_rng_device(m->rng[i]), NULL, err,
					     errlen)))
			return ret;
	}
	if (m->cfg.balloon.enabled && (ret = machine_create_balloon(m, err, errlen)))
		return ret;
	if (m->cfg.serial == SERIAL_STDIO) {
		ret = console_open(&m->console, m->loop, m->uart, STDIN_FILENO, &link);
		if (ret) {
			snprintf(err, errlen, "console on stdin: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory creating devices");
	return -ENOMEM;
busy:
	snprintf(err, errlen, "device port ranges overlap: %s", strerror(-ret));
	return ret;
}

/* ---- signals -------------------------------------------------------- */

static void machine_on_signal(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(m->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_notice("terminating on signal %u", si.ssi_signo);
	m->quit_cause = SHUTDOWN_CAUSE_HOST_SIGNAL;
	runstate_request(m->rs, RUN_REQ_QUIT, 0);
}

static int machine_setup_signals(struct machine *m, char *err, size_t errlen)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread exists, so every thread inherits it and
	 * the signals arrive only through the signalfd on the main loop. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->sig_fd < 0 || evloop_add(m->loop, m->sig_fd, EPOLLIN, machine_on_signal, m)) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -errno;
	}
	/* vCPU kicks must not run a handler on other threads. */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int ret = vcpu_signal_init();
	if (ret)
		snprintf(err, errlen, "sigaction: %s", strerror(-ret));
	return ret;
}

/* ---- preflight ------------------------------------------------------ */

/* What the configuration alone decides is refused before the expensive
 * steps (KVM, mapping and preallocating RAM, the devices), with the
 * messages those steps would give: a -smp 254 with -m 4G -mem-prealloc
 * and too long an -append fails at once, not after the prealloc. */
static int machine_preflight(const struct vm_config *cfg, char *err, size_t errlen)
{
	unsigned uid, gid;
	if (cfg->runas && sandbox_lookup_user(cfg->runas, &uid, &gid, err, errlen))
		return -EINVAL;
	struct load_params lp = { .cfg = cfg, .emulated_kernel = kvm_host_emulates_kernel() };
	int ret = load_preflight(&lp, err, errlen);
	if (ret)
		return ret;
	struct autopilot_limits l;
	if (cfg->balloon.enabled && (ret = machine_autopilot_limits(cfg, &l, err, errlen)))
		return ret;
	return machine_check_ports(cfg, err, errlen);
}

/* ---- boot ----------------------------------------------------------- */

/* Loads the guest and creates the vCPUs in their boot state: at start and
 * again on every guest reboot. */
static int machine_boot(struct machine *m, char *err, size_t errlen)
{
	const struct vm_config *cfg = &m->cfg;
	struct load_params lp = { .cfg = cfg,
				  .dm = m->dm,
				  .emulated_kernel = m->kvm.emulated_kernel };
	struct vcpu_env env = {
		.pio = m->pio,
		.mmio = m->mmio,
		.gm = m->gm,
		.rs = m->rs,
		.host_quirks = cfg->host_quirks,
	};
	int ret = load_guest(&lp, m->gm, &m->entry, err, errlen);
	if (ret)
		return ret;
	if ((ret = vm_create_vcpus(m->vm, &env, cfg->smp,
				   cfg->host_quirks && m->kvm.emulated_kernel, err, errlen)))
		return ret;
	if ((ret = boot_entry_write_tables(m->gm))) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "boot page tables: guest RAM has no backing page: %s",
				 GUEST_MEM_NOBACK_FIX);
		else
			snprintf(err, errlen, "guest RAM too small for the boot page tables");
		return ret;
	}
	if ((ret = boot_entry_set_regs(vm_vcpu(m->vm, 0)->fd, &m->entry))) {
		snprintf(err, errlen, "setting boot registers: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

/* Guest reboot: a fresh KVM VM, cleared RAM, reset devices, the kernel
 * reloaded. */
static int machine_reboot(struct machine *m, bool paused, char *err, size_t errlen)
{
	int ret;
	/* The old VM goes first: clearing RAM it still maps would make KVM
	 * invalidate every page of it, for nothing. */
	vm_close(m->vm);
	if ((ret = guest_ram_clear(m->ram))) {
		if (ret == -ENOMEM)
			snprintf(err, errlen,
				 "guest reboot: preallocated RAM cannot be backed again: %s",
				 GUEST_MEM_NOBACK_FIX);
		else
			snprintf(err, errlen, "clearing guest RAM: %s", strerror(-ret));
		return ret;
	}
	if ((ret = vm_recreate(m->vm, err, errlen)))
		return ret;
	devmgr_reset(m->dm);
	if ((ret = machine_boot(m, err, errlen)))
		return ret;
	m->reset_announced = false;
	m->powerdown_requested = false; /* a reboot answers a pending powerdown */
	runstate_restart(m->rs, paused);
	return 0;
}

int machine_create(const struct vm_config *cfg, struct machine **out, char *err, size_t errlen)
{
	int ret;
	struct machine *m = calloc(1, sizeof(*m));
	*out = m;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = *cfg;
	m->sig_fd = m->uart_out_fd = -1;
	m->kvm.fd = -1;
	if ((ret = machine_preflight(cfg, err, errlen)) ||
	    (ret = machine_open_serial(m, err, errlen)))
		return ret;

	m->loop = evloop_new();
	m->gm = guest_mem_new();
	m->pio = bus_new("pio");
	m->mmio = bus_new("mmio");
	if (!m->loop || !m->gm || !m->pio || !m->mmio ||
	    runstate_new(cfg->start_paused, m->loop, &m->rs)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((ret = machine_setup_signals(m, err, errlen)))
		return ret;
	if ((ret = kvm_open(&m->kvm, err, errlen)))
		return ret;
	if (cfg->smp > (unsigned)m->kvm.max_vcpus) {
		snprintf(err, errlen, "-smp %u: this host's KVM supports at most %d vCPUs",
			 cfg->smp, m->kvm.max_vcpus);
		return -EINVAL;
	}
	if ((ret = machine_ram_new(cfg, m->gm, &m->ram, err, errlen)))
		return ret;
	struct vm_params vp = {
		.kvm = &m->kvm,
		.gm = m->gm,
		.rs = m->rs,
		.tss_addr = LAYOUT_TSS,
		.identity_map_addr = LAYOUT_IDENTITY_MAP,
	};
	if ((ret = vm_new(&vp, &m->vm, err, errlen)))
		return ret;
	if ((cfg->qmp.set || cfg->monitor.set) && (ret = machine_create_monitor(m, err, errlen)))
		return ret;
	if ((ret = machine_create_devices(m, err, errlen)))
		return ret;
	if (cfg->dumpdtb) {
		/* As QEMU: write the device tree of the machine as built, then exit. */
		struct load_params lp = { .cfg = cfg,
					  .dm = m->dm,
					  .emulated_kernel = m->kvm.emulated_kernel };
		if ((ret = load_dump_dtb(&lp, err, errlen)))
			return ret;
		return MACHINE_CREATE_DUMPED;
	}
	if ((ret = machine_boot(m, err, errlen)))
		return ret;
	/* Asked to quit while setting up: the guest never starts. */
	if (machine_quit_pending(NULL)) {
		snprintf(err, errlen,
			 "interrupted by a signal while setting up; the guest was not "
			 "started");
		return -EINTR;
	}
	/* Everything is open, mapped and started: least privilege from here. */
	struct sandbox_opts so = { .enabled = cfg->sandbox,
				   .log = cfg->sandbox_log,
				   .runas = cfg->runas };
	if (cfg->runas) {
		unsigned uid, gid;
		if ((ret = sandbox_lookup_user(cfg->runas, &uid, &gid, err, errlen)))
			return ret;
		if ((ret = monitor_chown_sockets(m->monitor, uid, gid))) {
			snprintf(err, errlen, "-runas %s: handing over the monitor sockets: %s",
				 cfg->runas, strerror(-ret));
			return ret;
		}
	}
	return sandbox_enter(&so, err, errlen);
}

/* ---- running -------------------------------------------------------- */

static int machine_outcome_status(enum vcpu_outcome o)
{
	switch (o) {
	case VCPU_OUTCOME_CRASH:
		return EXIT_STATUS_CRASH;
	case VCPU_OUTCOME_UNHANDLED:
		return EXIT_STATUS_UNHANDLED;
	case VCPU_OUTCOME_EMULATION:
		return EXIT_STATUS_EMULATION;
	case VCPU_OUTCOME_ERROR:
		return EXIT_STATUS_ERROR;
	case VCPU_OUTCOME_NONE:
		break;
	}
	return EXIT_STATUS_OK;
}

int machine_run(struct machine *m)
{
	enum run_request req;
	int status, ret;
again:
	ret = vm_start_vcpus(m->vm);
	if (ret) {
		log_error("starting vCPU threads: %s", strerror(-ret));
		vm_stop_vcpus(m->vm);
		return EXIT_STATUS_ERROR;
	}
	do {
		ret = evloop_run(m->loop);
		if (ret) {
			log_error("event loop: %s", strerror(-ret));
			vm_stop_vcpus(m->vm);
			return EXIT_STATUS_ERROR;
		}
	} while (!runstate_pending(m->rs, &req, &status));
	/* A machine paused by the monitor stays paused across system_reset. */
	bool paused = !runstate_is_running(m->rs);
	vm_stop_vcpus(m->vm);

	enum vcpu_outcome outcome = runstate_outcome(m->rs, NULL);
	if (outcome != VCPU_OUTCOME_NONE) {
		monitor_event_shutdown(m->monitor, true, SHUTDOWN_CAUSE_GUEST_PANIC);
		return machine_outcome_status(outcome);
	}
	switch (req) {
	case RUN_REQ_POWEROFF:
		monitor_event_shutdown(m->monitor, true, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
		return EXIT_STATUS_OK;
	case RUN_REQ_RESET:
		if (m->powerdown_requested && !m->reset_announced) {
			log_debug("guest reset after system_powerdown: powering off");
			monitor_event_shutdown(m->monitor, true, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
			return EXIT_STATUS_OK;
		}
		if (!m->cfg.no_reboot) {
			char err[256];
			if (!m->reset_announced)
				monitor_event_reset(m->monitor, true, SHUTDOWN_CAUSE_GUEST_RESET);
			log_debug("guest reset: rebooting");
			if (machine_reboot(m, paused, err, sizeof(err))) {
				log_error("guest reboot failed: %s", err);
				return EXIT_STATUS_ERROR;
			}
			goto again;
		}
		monitor_event_shutdown(m->monitor, true, SHUTDOWN_CAUSE_GUEST_RESET);
		return EXIT_STATUS_OK;
	case RUN_REQ_DEBUG_EXIT:
		monitor_event_shutdown(m->monitor, true, SHUTDOWN_CAUSE_GUEST_SHUTDOWN);
		return status;
	case RUN_REQ_QUIT:
		/* The monitor announced its own quit; signals and Ctrl-A x here. */
		if (m->quit_cause != SHUTDOWN_CAUSE_HOST_QMP_QUIT)
			monitor_event_shutdown(m->monitor, false,
					       m->quit_cause != SHUTDOWN_CAUSE_NONE
						       ? m->quit_cause
						       : SHUTDOWN_CAUSE_HOST_UI);
		return status;
	}
	return EXIT_STATUS_OK;
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	vm_free(m->vm); /* stops the vCPU threads first */
	m->vm = NULL;
	console_close(m->console);
	/* The balloon and the monitor point at each other: detach, free the
	 * transports, then the devices, then the monitor. */
	monitor_set_balloon(m->monitor, NULL);
	monitor_set_autopilot(m->monitor, NULL);
	autopilot_free(m->autopilot);
	m->autopilot = NULL;
	devmgr_free(m->dm);
	for (unsigned i = 0; i < ARRAY_SIZE(m->rng); i++)
		virtio_rng_free(m->rng[i]);
	balloon_free(m->balloon);
	monitor_free(m->monitor);
	if (m->sig_fd >= 0)
		close(m->sig_fd);
	uint64_t dropped = m->uart ? serial_dropped(m->uart) : 0;
	serial_free(m->uart);
	m->uart = NULL;
	conout_close(m->conout, 1000);
	if (dropped)
		log_notice("console: %llu bytes of guest output dropped: the output was not being "
			   "read",
			   (unsigned long long)dropped);
	i8042_free(m->kbd);
	pm_free(m->pm);
	debug_exit_free(m->dbg);
	if (m->uart_out_owned)
		close(m->uart_out_fd);
	sigbus_guard_clear_ram();
	guest_ram_free(m->ram);
	bus_free(m->pio);
	bus_free(m->mmio);
	guest_mem_free(m->gm);
	runstate_free(m->rs);
	evloop_free(m->loop);
	kvm_close(&m->kvm);
	free(m);
}
