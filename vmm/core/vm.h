/* A memvm virtual machine: KVM VM, guest RAM and memslots, buses and
 * devices, vCPU threads, and the lifecycle (run, pause, reset, exit). */
#ifndef MEMVM_VM_H
#define MEMVM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "vmm/config/config.h"
#include "vmm/lib/util.h"

/* Process exit statuses. isa-debug-exit yields odd values (V << 1) | 1,
 * so the crash statuses are even. */
#define EXIT_STATUS_OK 0
#define EXIT_STATUS_ERROR 1      /* configuration or host error before/while running */
#define EXIT_STATUS_CRASH 2      /* guest triple fault / KVM shutdown or crash event */
#define EXIT_STATUS_UNHANDLED 4  /* a vCPU exit memvm does not handle, or failed entry */
#define EXIT_STATUS_EMULATION 6  /* the host could not emulate a guest instruction */

struct vm;
struct guest_mem;
struct evloop;

/* Builds the whole machine, loads the kernel, creates vCPUs; nothing runs
 * yet. Returns 0 or -errno with one line in err, or VM_CREATE_DUMPED when
 * -machine dumpdtb wrote its file (the caller exits 0). */
#define VM_CREATE_DUMPED 1
int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen) WUR;

/* Runs until the guest powers off, crashes, memvm is told to quit or a
 * signal arrives. Returns the process exit status. */
int vm_run(struct vm *vm);

/* Frees everything; safe on a partly created VM. */
void vm_destroy(struct vm *vm);

/* Asks the machine to stop, power off or reset; any thread. */
void vm_request(struct vm *vm, enum machine_request req, int status);

/* Pause/resume all vCPUs (monitor stop/cont). Return 0 or -errno. */
int vm_pause(struct vm *vm) WUR;
int vm_resume(struct vm *vm) WUR;
bool vm_is_running(const struct vm *vm);

/* Accessors for device set-up and the monitor. */
int vm_fd(const struct vm *vm);
struct guest_mem *vm_guest_mem(struct vm *vm);
struct evloop *vm_evloop(struct vm *vm);
struct bus *vm_pio_bus(struct vm *vm);
struct bus *vm_mmio_bus(struct vm *vm);
const struct vm_config *vm_config(const struct vm *vm);
unsigned vm_vcpu_count(const struct vm *vm);

/* virtio-mmio transports, in creation order (machine description). */
struct virtio_mmio;
unsigned vm_virtio_count(const struct vm *vm);
const struct virtio_mmio *vm_virtio(const struct vm *vm, unsigned i);

/* The balloon (NULL without -device virtio-balloon) and guest RAM. */
struct balloon;
struct ram;
struct balloon *vm_balloon(struct vm *vm);
struct ram *vm_ram(struct vm *vm);
/* fn(opaque, guest_bytes) when the guest changes the balloon's `actual`
 * (any thread): the monitor's BALLOON_CHANGE source. */
void vm_set_balloon_listener(struct vm *vm, void (*fn)(void *opaque, uint64_t guest_bytes),
			     void *opaque);

/* Sets a GSI line of the in-kernel irqchip. */
int vm_irq_line(struct vm *vm, uint32_t gsi, int level);
/* KVM_IOEVENTFD on an MMIO address with a data match. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd) WUR;
/* KVM_IRQFD: signalling fd raises gsi. */
int vm_irqfd(struct vm *vm, uint32_t gsi, int fd) WUR;

/* fn(opaque) runs on every guest reboot, with vCPUs stopped, to return a
 * device to its power-on state. */
int vm_add_reset_hook(struct vm *vm, void (*fn)(void *opaque), void *opaque) WUR;

/* Called by vCPU threads (vcpu.c). */
int vm_handle_pio(struct vm *vm, uint16_t port, void *data, uint32_t size, bool is_write);
int vm_handle_mmio(struct vm *vm, uint64_t addr, void *data, uint32_t len, bool is_write);

#endif
