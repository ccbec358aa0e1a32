/* A KVM virtual machine: the VM fd with its in-kernel irqchip and PIT, the
 * memslots of guest memory, the irqfd/ioeventfd registrations and the
 * vCPUs with their threads. vm_recreate() replaces all KVM state for a
 * guest reboot (no vCPU, LAPIC, irqchip or paravirt MSR state survives)
 * and replays the memslots and registrations. What runs on the VM (buses,
 * devices, the boot) belongs to the board, which hands each vCPU its
 * environment. */
#ifndef MEMVM_VM_H
#define MEMVM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/vcpu.h"
#include "vmm/lib/util.h"

struct guest_mem;
struct kvm_sys;
struct virtio_platform;
struct vm;

struct vm_params {
	const struct kvm_sys *kvm;
	struct guest_mem *gm;       /* every region becomes a memslot */
	struct runstate *rs;        /* the vCPU threads' run state */
	uint64_t tss_addr;          /* KVM_SET_TSS_ADDR: three pages outside RAM and MMIO */
	uint64_t identity_map_addr; /* KVM_SET_IDENTITY_MAP_ADDR: one page, likewise */
};

/* KVM_CREATE_VM, irqchip, PIT, memslots. 0 or -errno with one line in err. */
int vm_new(const struct vm_params *p, struct vm **out, char *err, size_t errlen) WUR;
/* Stops and joins the vCPU threads, closes everything. NULL is a no-op. */
void vm_free(struct vm *vm);

/* Sets a GSI line of the in-kernel irqchip. */
int vm_irq_line(struct vm *vm, uint32_t gsi, int level);
/* virtio-mmio's platform: KVM_IOEVENTFD on an MMIO address with a data
 * match and KVM_IRQFD raising a GSI, both replayed by vm_recreate(). */
struct virtio_platform vm_virtio_platform(struct vm *vm);

/* Creates n vCPUs, each given env; mask_cpuid as in vcpu_create. */
int vm_create_vcpus(struct vm *vm, const struct vcpu_env *env, unsigned n, bool mask_cpuid,
		    char *err, size_t errlen) WUR;
struct vcpu *vm_vcpu(struct vm *vm, unsigned i);
/* Host thread id of a running vCPU, -1 if none (monitor query-cpus-fast). */
int vm_vcpu_thread_id(struct vm *vm, unsigned i);
/* vCPU i's exits, wall time inside KVM_RUN and instructions memvm ran for
 * the host's emulator, so far: 0, or -ENOENT for no such vCPU. */
int vm_vcpu_counters(struct vm *vm, unsigned i, uint64_t *exits, uint64_t *run_ns,
		     uint64_t *fixups) WUR;

/* Starts a thread per vCPU: 0 or -errno (threads already started keep
 * running: vm_stop_vcpus() ends them). */
int vm_start_vcpus(struct vm *vm) WUR;
/* Sets the run state to stopping, kicks every vCPU and joins its thread. */
void vm_stop_vcpus(struct vm *vm);

/* Guest reboot, with the vCPU threads stopped. vm_close destroys the vCPUs
 * and the KVM VM (registrations are kept), so guest RAM can then be
 * cleared without KVM tracking it; vm_recreate (closing first if needed)
 * creates a new VM and replays memslots and registrations. */
void vm_close(struct vm *vm);
int vm_recreate(struct vm *vm, char *err, size_t errlen) WUR;

#endif
