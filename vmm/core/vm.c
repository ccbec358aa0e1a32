#include "vmm/core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pm.h"
#include "devices/serial.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_rng.h"
#include "memory/guest_mem.h"
#include "memory/guest_ram.h"
#include "vmm/board/console.h"
#include "vmm/lib/evloop.h"
#include "vmm/core/kvm.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/board/machine.h"
#include "vmm/monitor/monitor.h"
#include "vmm/core/vcpu.h"

enum run_state { RS_RUNNING, RS_PAUSED, RS_STOPPING };

/* Registrations replayed on the new KVM VM after a guest reboot. */
#define VM_MAX_FD_LINKS 256
#define VM_MAX_RESET_HOOKS 32
struct fd_link {
	bool is_irqfd;
	int fd;
	uint32_t gsi;
	uint64_t addr, datamatch;
	uint32_t len;
};

struct vm {
	struct vm_config cfg;
	struct kvm_sys kvm;
	int vm_fd;
	int sig_fd;

	struct guest_mem *gm;
	struct guest_ram *ram;
	struct bus *pio;
	struct bus *mmio;
	struct evloop *loop;

	struct serial *uart;
	int uart_out_fd;
	bool uart_out_owned;
	struct console *console;
	struct i8042 *kbd;
	struct pm *pm;
	struct debug_exit *dbg;
	struct machine_link link;

	struct virtio_mmio *virtio[LAYOUT_VIRTIO_MMIO_MAX];
	unsigned nvirtio;
	struct boot_config virtio_slots; /* allocates windows and IRQs as the loader expects */
	struct virtio_platform platform;
	struct virtio_rng *rng;
	struct balloon *balloon;
	struct monitor *monitor;
	struct monitor_backend mon_be;
	const char *quit_reason;
	void (*balloon_listener)(void *opaque, uint64_t guest_bytes);
	void *balloon_listener_opaque;

	struct boot_entry entry;
	struct vcpu *vcpus;
	unsigned nvcpus;

	/* Run state, shared with vCPU threads. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum run_state state; /* read without the lock on the fast path */
	unsigned live_threads;
	unsigned paused_threads;
	bool req_pending;
	enum machine_request req;
	int req_status;
	enum vcpu_outcome outcome;
	unsigned outcome_vcpu;

	struct { void (*fn)(void *); void *opaque; } reset_hooks[VM_MAX_RESET_HOOKS];
	unsigned nreset_hooks;
	struct fd_link links[VM_MAX_FD_LINKS];
	unsigned nlinks;
	unsigned reboots;
};

/* ---- run-state machine ---------------------------------------------- */

void vm_request(struct vm *vm, enum machine_request req, int status)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->req_pending) {
		vm->req = req;
		vm->req_status = status;
		/* Read without the lock on the vCPU fast path. */
		__atomic_store_n(&vm->req_pending, true, __ATOMIC_RELEASE);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	evloop_stop(vm->loop);
}

/* Called by a vCPU thread before each KVM_RUN. */
bool vm_vcpu_should_run(struct vm *vm, struct vcpu *v);
bool vm_vcpu_should_run(struct vm *vm, struct vcpu *v)
{
	(void)v;
	if (__atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == RS_RUNNING &&
	    !__atomic_load_n(&vm->req_pending, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&vm->lock);
	while (vm->state == RS_PAUSED && !vm->req_pending) {
		vm->paused_threads++;
		pthread_cond_broadcast(&vm->cond);
		pthread_cond_wait(&vm->cond, &vm->lock);
		vm->paused_threads--;
	}
	bool run = vm->state == RS_RUNNING && !vm->req_pending;
	pthread_mutex_unlock(&vm->lock);
	return run;
}

void vm_vcpu_finished(struct vm *vm, struct vcpu *v, enum vcpu_outcome outcome);
void vm_vcpu_finished(struct vm *vm, struct vcpu *v, enum vcpu_outcome outcome)
{
	pthread_mutex_lock(&vm->lock);
	vm->live_threads--;
	if (outcome != VCPU_OUTCOME_NONE && vm->outcome == VCPU_OUTCOME_NONE) {
		vm->outcome = outcome;
		vm->outcome_vcpu = v->id;
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (outcome != VCPU_OUTCOME_NONE)
		vm_request(vm, MACHINE_QUIT, 0);
}

static void vm_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

int vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != RS_RUNNING) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	__atomic_store_n(&vm->state, RS_PAUSED, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->paused_threads < vm->live_threads && !vm->req_pending)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state == RS_PAUSED)
		__atomic_store_n(&vm->state, RS_RUNNING, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

bool vm_is_running(const struct vm *vm)
{
	return __atomic_load_n(&vm->state, __ATOMIC_ACQUIRE) == RS_RUNNING;
}

/* ---- accessors and KVM helpers --------------------------------------- */

int vm_fd(const struct vm *vm) { return vm->vm_fd; }
struct guest_mem *vm_guest_mem(struct vm *vm) { return vm->gm; }
struct evloop *vm_evloop(struct vm *vm) { return vm->loop; }
struct bus *vm_pio_bus(struct vm *vm) { return vm->pio; }
struct bus *vm_mmio_bus(struct vm *vm) { return vm->mmio; }
const struct vm_config *vm_config(const struct vm *vm) { return &vm->cfg; }
unsigned vm_vcpu_count(const struct vm *vm) { return vm->nvcpus; }
unsigned vm_virtio_count(const struct vm *vm) { return vm->nvirtio; }
struct balloon *vm_balloon(struct vm *vm) { return vm->balloon; }
struct ram *vm_ram(struct vm *vm) { return guest_ram_block(vm->ram); }
void vm_set_balloon_listener(struct vm *vm, void (*fn)(void *, uint64_t), void *opaque)
{
	vm->balloon_listener_opaque = opaque;
	vm->balloon_listener = fn;
}
const struct virtio_mmio *vm_virtio(const struct vm *vm, unsigned i)
{
	return i < vm->nvirtio ? vm->virtio[i] : NULL;
}

int vm_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

static int vm_apply_link(struct vm *vm, const struct fd_link *l)
{
	if (l->is_irqfd) {
		struct kvm_irqfd irqfd = { .fd = (uint32_t)l->fd, .gsi = l->gsi };
		return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
	}
	struct kvm_ioeventfd io = {
		.datamatch = l->datamatch, .addr = l->addr, .len = l->len, .fd = l->fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int vm_add_link(struct vm *vm, const struct fd_link *l)
{
	if (vm->nlinks == VM_MAX_FD_LINKS)
		return -ENOSPC;
	int ret = vm_apply_link(vm, l);
	if (ret == 0)
		vm->links[vm->nlinks++] = *l;
	return ret;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct fd_link l = { .is_irqfd = false, .fd = fd, .addr = addr, .len = len,
			     .datamatch = datamatch };
	return vm_add_link(vm, &l);
}

int vm_irqfd(struct vm *vm, uint32_t gsi, int fd)
{
	struct fd_link l = { .is_irqfd = true, .fd = fd, .gsi = gsi };
	return vm_add_link(vm, &l);
}

int vm_add_reset_hook(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	if (vm->nreset_hooks == VM_MAX_RESET_HOOKS)
		return -ENOSPC;
	vm->reset_hooks[vm->nreset_hooks].fn = fn;
	vm->reset_hooks[vm->nreset_hooks].opaque = opaque;
	vm->nreset_hooks++;
	return 0;
}

int vm_handle_pio(struct vm *vm, uint16_t port, void *data, uint32_t size, bool is_write)
{
	if (is_write)
		return bus_write(vm->pio, port, data, size);
	return bus_read(vm->pio, port, data, size);
}

int vm_handle_mmio(struct vm *vm, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	static struct ratelimit rl = RATELIMIT_INIT(5000, 5);
	int ret = is_write ? bus_write(vm->mmio, addr, data, len)
			   : bus_read(vm->mmio, addr, data, len);
	if (ret == -ENOENT) {
		if (!is_write)
			memset(data, 0, len);
		if (ratelimit_ok(&rl))
			log_debug("guest %s of %u bytes at unassigned MMIO 0x%llx",
				  is_write ? "write" : "read", len, (unsigned long long)addr);
	}
	return ret;
}

/* ---- set-up ---------------------------------------------------------- */

static void vm_link_request(void *opaque, enum machine_request req, int status)
{
	vm_request(opaque, req, status);
}

static void vm_uart_irq(void *opaque, int level)
{
	struct vm *vm = opaque;
	if (vm_irq_line(vm, LAYOUT_IRQ_SERIAL0, level)) { /* irqchip gone: shutting down */ }
}

static void vm_reset_uart(void *opaque)
{
	serial_reset(opaque);
}

static void vm_on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_notice("terminating on signal %u", si.ssi_signo);
	vm->quit_reason = "host-signal";
	vm_request(vm, MACHINE_QUIT, 0);
}

static int vm_create_kvm(struct vm *vm, char *err, size_t errlen)
{
	do {
		vm->vm_fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	} while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS) < 0) {
		snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	uint64_t idmap = LAYOUT_IDENTITY_MAP;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
		snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_add_memslots(struct vm *vm, char *err, size_t errlen)
{
	for (size_t i = 0; i < guest_mem_count(vm->gm); i++) {
		const struct guest_region *r = guest_mem_region(vm->gm, i);
		struct kvm_userspace_memory_region m = {
			.slot = r->slot, .guest_phys_addr = r->gpa, .memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB at 0x%llx): %s",
				 r->slot, (unsigned long long)(r->size >> 20),
				 (unsigned long long)r->gpa, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int vm_platform_ioeventfd(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch,
				 int fd)
{
	return vm_ioeventfd(opaque, addr, len, datamatch, fd);
}

static int vm_platform_irqfd(void *opaque, uint32_t gsi, int fd)
{
	return vm_irqfd(opaque, gsi, fd);
}

static void vm_reset_virtio(void *opaque)
{
	virtio_mmio_reset(opaque);
}

/* Adds a virtio-mmio device in the next window with the next free IRQ. */
static int vm_add_virtio(struct vm *vm, struct virtio_device dev, struct virtio_mmio **out,
			 char *err, size_t errlen)
{
	uint64_t base;
	uint32_t irq;
	int ret = loader_config_add_virtio(&vm->virtio_slots, &base, &irq);
	if (ret) {
		snprintf(err, errlen, "too many virtio devices (at most %d)", LAYOUT_VIRTIO_MMIO_MAX);
		return ret;
	}
	struct virtio_mmio_config vc = {
		.base = base, .irq = irq, .gm = vm->gm, .loop = vm->loop,
		.platform = &vm->platform, .device = dev,
	};
	struct virtio_mmio *t;
	ret = virtio_mmio_new(&vc, &t);
	if (ret) {
		snprintf(err, errlen, "creating %s: %s", dev.ops->name, strerror(-ret));
		return ret;
	}
	vm->virtio[vm->nvirtio++] = t;
	if ((ret = vm_add_reset_hook(vm, vm_reset_virtio, t))) {
		snprintf(err, errlen, "too many devices");
		return ret;
	}
	ret = virtio_mmio_register(vm->mmio, t);
	if (ret) {
		snprintf(err, errlen, "registering %s at 0x%llx: %s", dev.ops->name,
			 (unsigned long long)base, strerror(-ret));
		return ret;
	}
	if (out)
		*out = t;
	return 0;
}

static void vm_balloon_changed(void *opaque, uint64_t guest_bytes)
{
	struct vm *vm = opaque;
	if (vm->balloon_listener)
		vm->balloon_listener(vm->balloon_listener_opaque, guest_bytes);
}

static int vm_create_balloon(struct vm *vm, char *err, size_t errlen)
{
	const struct balloon_spec *bs = &vm->cfg.balloon;
	struct balloon_config bc = {
		.deflate_on_oom = bs->deflate_on_oom,
		.free_page_reporting = bs->free_page_reporting,
		.stats_interval_s = bs->stats_interval_s,
		.ram_size = vm->cfg.ram_size,
		.gm = vm->gm,
		.loop = vm->loop,
		.mem = &guest_ram_ops,
		.mem_opaque = vm->ram,
		.on_actual_change = vm_balloon_changed,
		.opaque = vm,
	};
	struct virtio_mmio *t;
	int ret = balloon_new(&bc, &vm->balloon);
	if (ret) {
		snprintf(err, errlen, "creating virtio-balloon: %s", strerror(-ret));
		return ret;
	}
	if ((ret = vm_add_virtio(vm, balloon_virtio_device(vm->balloon), &t, err, errlen)))
		return ret;
	balloon_attach(vm->balloon, t);
	return 0;
}

/* ---- monitor backend ------------------------------------------------ */

static int vm_be_stop(void *opaque) { return vm_pause(opaque); }
static int vm_be_cont(void *opaque) { return vm_resume(opaque); }
static bool vm_be_running(void *opaque) { return vm_is_running(opaque); }

static void vm_be_quit(void *opaque)
{
	struct vm *vm = opaque;
	vm->quit_reason = "host-qmp-quit";
	vm_request(vm, MACHINE_QUIT, 0);
}

static int vm_be_reset(void *opaque)
{
	struct vm *vm = opaque;
	if (vm->cfg.no_reboot) {
		/* As QEMU: a reset with -no-reboot ends the VM. */
		vm->quit_reason = "host-qmp-system-reset";
		vm_request(vm, MACHINE_QUIT, 0);
		return 0;
	}
	vm_request(vm, MACHINE_RESET, -1);
	return 0;
}

static int vm_be_thread_id(void *opaque, unsigned index)
{
	struct vm *vm = opaque;
	return index < vm->nvcpus ? __atomic_load_n(&vm->vcpus[index].tid, __ATOMIC_ACQUIRE) : -1;
}

static void vm_monitor_balloon_changed(void *opaque, uint64_t guest_bytes)
{
	monitor_balloon_changed(opaque, guest_bytes);
}

static int vm_create_monitor(struct vm *vm, char *err, size_t errlen)
{
	char merr[256];
	int ret;
	vm->mon_be = (struct monitor_backend){
		.opaque = vm, .stop = vm_be_stop, .cont = vm_be_cont, .running = vm_be_running,
		.quit = vm_be_quit, .reset = vm_be_reset, .powerdown = NULL,
		.cpu_thread_id = vm_be_thread_id, .ram_size = vm->cfg.ram_size,
		.ncpus = vm->cfg.smp, .balloon = vm->balloon, .ram = guest_ram_block(vm->ram),
	};
	if ((ret = monitor_new(&vm->mon_be, vm->loop, &vm->monitor))) {
		snprintf(err, errlen, "creating the monitor: %s", strerror(-ret));
		return ret;
	}
	if (vm->cfg.qmp.set && (ret = monitor_add_qmp(vm->monitor, &vm->cfg.qmp, merr, sizeof(merr)))) {
		snprintf(err, errlen, "%s", merr);
		return ret;
	}
	if (vm->cfg.monitor.set &&
	    (ret = monitor_add_hmp(vm->monitor, &vm->cfg.monitor, merr, sizeof(merr)))) {
		snprintf(err, errlen, "%s", merr);
		return ret;
	}
	vm_set_balloon_listener(vm, vm_monitor_balloon_changed, vm->monitor);
	return 0;
}

static int vm_create_devices(struct vm *vm, char *err, size_t errlen)
{
	int ret;
	vm->link = (struct machine_link){ .request = vm_link_request, .opaque = vm };

	switch (vm->cfg.serial) {
	case SERIAL_STDIO:
		vm->uart_out_fd = STDOUT_FILENO;
		break;
	case SERIAL_FILE:
		vm->uart_out_fd = open(vm->cfg.serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->uart_out_fd < 0) {
			snprintf(err, errlen, "-serial file:%s: %s", vm->cfg.serial_path, strerror(errno));
			return -errno;
		}
		vm->uart_out_owned = true;
		break;
	case SERIAL_NONE:
		vm->uart_out_fd = -1;
		break;
	}
	vm->uart = serial_new(vm->uart_out_fd, vm_uart_irq, vm);
	vm->kbd = i8042_new(&vm->link);
	vm->pm = pm_new(&vm->link);
	if (!vm->uart || !vm->kbd || !vm->pm)
		goto nomem;
	if ((ret = vm_add_reset_hook(vm, vm_reset_uart, vm->uart)))
		goto busy;
	if ((ret = bus_register(vm->pio, SERIAL_COM1_BASE, SERIAL_PORT_LEN, &serial_bus_ops, vm->uart)) ||
	    (ret = bus_register(vm->pio, I8042_DATA_PORT, 1, &i8042_data_ops, vm->kbd)) ||
	    (ret = bus_register(vm->pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, vm->kbd)) ||
	    (ret = bus_register(vm->pio, PM_PORT_Q35, PM_PORT_LEN, &pm_ctl_ops, vm->pm)) ||
	    (ret = bus_register(vm->pio, PM_PORT_PIIX, PM_PORT_LEN, &pm_ctl_ops, vm->pm)) ||
	    (ret = bus_register(vm->pio, PM_RESET_PORT, 1, &pm_reset_ops, vm->pm)))
		goto busy;
	if (vm->cfg.debug_exit) {
		vm->dbg = debug_exit_new(&vm->link);
		if (!vm->dbg)
			goto nomem;
		ret = bus_register(vm->pio, vm->cfg.debug_exit_port, vm->cfg.debug_exit_size,
				   &debug_exit_ops, vm->dbg);
		if (ret) {
			snprintf(err, errlen, "-device isa-debug-exit,iobase=0x%x: port range in use by "
				 "another device; pick another iobase", vm->cfg.debug_exit_port);
			return ret;
		}
	}
	vm->platform = (struct virtio_platform){
		.opaque = vm, .ioeventfd = vm_platform_ioeventfd, .irqfd = vm_platform_irqfd,
	};
	loader_config_init(&vm->virtio_slots);
	if (vm->cfg.rng) {
		vm->rng = virtio_rng_new();
		if (!vm->rng)
			goto nomem;
		if ((ret = vm_add_virtio(vm, virtio_rng_device(vm->rng), NULL, err, errlen)))
			return ret;
	}
	if (vm->cfg.balloon.enabled && (ret = vm_create_balloon(vm, err, errlen)))
		return ret;
	if ((vm->cfg.qmp.set || vm->cfg.monitor.set) && (ret = vm_create_monitor(vm, err, errlen)))
		return ret;
	if (vm->cfg.serial == SERIAL_STDIO) {
		ret = console_open(&vm->console, vm->loop, vm->uart, STDIN_FILENO, &vm->link);
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

static int vm_setup_signals(struct vm *vm, char *err, size_t errlen)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before any thread exists, so every thread inherits it and
	 * the signals arrive only through the signalfd on the main loop. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	vm->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0 || evloop_add(vm->loop, vm->sig_fd, EPOLLIN, vm_on_signal, vm)) {
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

/* Loads the guest and creates the vCPUs in their boot state: at start and
 * again on every guest reboot. */
static int vm_boot_setup(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = &vm->cfg;
	int ret = machine_load(vm, &vm->entry, vm->kvm.emulated_kernel, err, errlen);
	if (ret)
		return ret;
	if (!vm->vcpus) {
		vm->vcpus = calloc(cfg->smp, sizeof(*vm->vcpus));
		if (!vm->vcpus) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < cfg->smp; i++)
		vm->vcpus[i].fd = -1;
	vm->nvcpus = 0;
	for (unsigned i = 0; i < cfg->smp; i++) {
		ret = vcpu_create(&vm->vcpus[i], vm, vm->vm_fd, &vm->kvm, i, cfg->smp,
				  cfg->host_quirks && vm->kvm.emulated_kernel);
		if (ret) {
			snprintf(err, errlen, "creating vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
		vm->nvcpus++;
	}
	if ((ret = vcpu_write_boot_tables(vm->gm))) {
		snprintf(err, errlen, "guest RAM too small for the boot page tables");
		return ret;
	}
	if ((ret = vcpu_set_boot_state(&vm->vcpus[0], &vm->entry))) {
		snprintf(err, errlen, "setting boot registers: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	int ret;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->cfg = *cfg;
	vm->vm_fd = vm->sig_fd = vm->uart_out_fd = -1;
	vm->kvm.fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->state = cfg->start_paused ? RS_PAUSED : RS_RUNNING;
	*out = vm;

	vm->loop = evloop_new();
	vm->gm = guest_mem_new();
	vm->pio = bus_new("pio");
	vm->mmio = bus_new("mmio");
	if (!vm->loop || !vm->gm || !vm->pio || !vm->mmio) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((ret = vm_setup_signals(vm, err, errlen)))
		return ret;
	if ((ret = kvm_open(&vm->kvm, err, errlen)))
		return ret;
	if (cfg->smp > (unsigned)vm->kvm.max_vcpus) {
		snprintf(err, errlen, "-smp %u: this host's KVM supports at most %d vCPUs",
			 cfg->smp, vm->kvm.max_vcpus);
		return -EINVAL;
	}
	if ((ret = machine_ram_new(cfg, vm->gm, &vm->ram, err, errlen)))
		return ret;
	if ((ret = vm_create_kvm(vm, err, errlen)))
		return ret;
	if ((ret = vm_add_memslots(vm, err, errlen)))
		return ret;
	if ((ret = vm_create_devices(vm, err, errlen)))
		return ret;
	if (cfg->dumpdtb) {
		/* As QEMU: write the device tree of the machine as built, then exit. */
		if ((ret = machine_dump_dtb(vm, vm->kvm.emulated_kernel, err, errlen)))
			return ret;
		return VM_CREATE_DUMPED;
	}
	return vm_boot_setup(vm, err, errlen);
}

/* ---- running --------------------------------------------------------- */

static int vm_start_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		pthread_mutex_lock(&vm->lock);
		vm->live_threads++;
		pthread_mutex_unlock(&vm->lock);
		int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret) {
			pthread_mutex_lock(&vm->lock);
			vm->live_threads--;
			pthread_mutex_unlock(&vm->lock);
			return -ret;
		}
		v->thread_started = true;
	}
	return 0;
}

static void vm_stop_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->state, RS_STOPPING, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->thread_started) {
			pthread_join(v->thread, NULL);
			v->thread_started = false;
		}
	}
}

static int vm_outcome_status(enum vcpu_outcome o)
{
	switch (o) {
	case VCPU_OUTCOME_CRASH: return EXIT_STATUS_CRASH;
	case VCPU_OUTCOME_UNHANDLED: return EXIT_STATUS_UNHANDLED;
	case VCPU_OUTCOME_EMULATION: return EXIT_STATUS_EMULATION;
	case VCPU_OUTCOME_ERROR: return EXIT_STATUS_ERROR;
	case VCPU_OUTCOME_NONE: break;
	}
	return EXIT_STATUS_OK;
}

/* Guest reboot: a fresh KVM VM (so no vCPU, LAPIC, irqchip or paravirt
 * MSR state survives), cleared RAM, reset devices, the kernel reloaded. */
static int vm_reboot(struct vm *vm, char *err, size_t errlen)
{
	int ret;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm->nvcpus = 0;
	close(vm->vm_fd);
	vm->vm_fd = -1;
	if ((ret = guest_ram_clear(vm->ram))) {
		snprintf(err, errlen, "clearing guest RAM: %s", strerror(-ret));
		return ret;
	}
	if ((ret = vm_create_kvm(vm, err, errlen)) || (ret = vm_add_memslots(vm, err, errlen)))
		return ret;
	for (unsigned i = 0; i < vm->nlinks; i++) {
		if ((ret = vm_apply_link(vm, &vm->links[i]))) {
			snprintf(err, errlen, "re-registering %s: %s",
				 vm->links[i].is_irqfd ? "irqfd" : "ioeventfd", strerror(-ret));
			return ret;
		}
	}
	for (unsigned i = 0; i < vm->nreset_hooks; i++)
		vm->reset_hooks[i].fn(vm->reset_hooks[i].opaque);
	if ((ret = vm_boot_setup(vm, err, errlen)))
		return ret;
	pthread_mutex_lock(&vm->lock);
	__atomic_store_n(&vm->req_pending, false, __ATOMIC_RELEASE);
	vm->outcome = VCPU_OUTCOME_NONE;
	__atomic_store_n(&vm->state, RS_RUNNING, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->lock);
	vm->reboots++;
	return 0;
}

int vm_run(struct vm *vm)
{
	int ret;
again:
	ret = vm_start_vcpus(vm);
	if (ret) {
		log_error("starting vCPU threads: %s", strerror(-ret));
		vm_stop_vcpus(vm);
		return EXIT_STATUS_ERROR;
	}
	for (;;) {
		ret = evloop_run(vm->loop);
		if (ret) {
			log_error("event loop: %s", strerror(-ret));
			vm_stop_vcpus(vm);
			return EXIT_STATUS_ERROR;
		}
		pthread_mutex_lock(&vm->lock);
		bool pending = vm->req_pending;
		pthread_mutex_unlock(&vm->lock);
		if (pending)
			break;
	}
	vm_stop_vcpus(vm);

	if (vm->outcome != VCPU_OUTCOME_NONE) {
		monitor_event_shutdown(vm->monitor, true, "guest-panic");
		return vm_outcome_status(vm->outcome);
	}
	switch (vm->req) {
	case MACHINE_POWEROFF:
		monitor_event_shutdown(vm->monitor, true, "guest-shutdown");
		return EXIT_STATUS_OK;
	case MACHINE_RESET:
		/* req_status -1: system_reset from the monitor, which sent RESET. */
		if (!vm->cfg.no_reboot) {
			char err[256];
			if (vm->req_status != -1)
				monitor_event_reset(vm->monitor, true, "guest-reset");
			log_debug("guest reset: rebooting");
			if (vm_reboot(vm, err, sizeof(err))) {
				log_error("guest reboot failed: %s", err);
				return EXIT_STATUS_ERROR;
			}
			goto again;
		}
		monitor_event_shutdown(vm->monitor, true, "guest-reset");
		return EXIT_STATUS_OK;
	case MACHINE_DEBUG_EXIT:
		monitor_event_shutdown(vm->monitor, true, "guest-shutdown");
		return vm->req_status;
	case MACHINE_QUIT:
		/* The monitor announced its own quit; signals and Ctrl-A x here. */
		if (!vm->quit_reason || strcmp(vm->quit_reason, "host-qmp-quit"))
			monitor_event_shutdown(vm->monitor, false,
					       vm->quit_reason ? vm->quit_reason : "host-ui");
		return vm->req_status;
	}
	return EXIT_STATUS_OK;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop_vcpus(vm);
	console_close(vm->console);
	vm_set_balloon_listener(vm, NULL, NULL);
	monitor_free(vm->monitor);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	for (unsigned i = 0; i < vm->nvirtio; i++)
		virtio_mmio_free(vm->virtio[i]);
	virtio_rng_free(vm->rng);
	balloon_free(vm->balloon);
	serial_free(vm->uart);
	i8042_free(vm->kbd);
	pm_free(vm->pm);
	debug_exit_free(vm->dbg);
	if (vm->uart_out_owned)
		close(vm->uart_out_fd);
	guest_ram_free(vm->ram);
	bus_free(vm->pio);
	bus_free(vm->mmio);
	guest_mem_free(vm->gm);
	evloop_free(vm->loop);
	kvm_close(&vm->kvm);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}
