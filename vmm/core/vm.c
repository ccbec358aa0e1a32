#include "vmm/core/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/virtio_mmio.h"
#include "memory/guest_mem.h"
#include "vmm/core/kvm.h"
#include "vmm/core/runstate.h"

/* Registrations replayed on the new KVM VM after a guest reboot. */
#define VM_MAX_FD_LINKS 256

struct fd_link {
	bool is_irqfd;
	int fd;
	uint32_t gsi;
	uint64_t addr, datamatch;
	uint32_t len;
};

struct vm {
	struct vm_params p;
	int fd;
	struct fd_link links[VM_MAX_FD_LINKS];
	unsigned nlinks;

	struct vcpu *vcpus;
	unsigned nvcpus;
};

static int vm_open(struct vm *vm, char *err, size_t errlen)
{
	const char *what;
	do {
		vm->fd = ioctl(vm->p.kvm->fd, KVM_CREATE_VM, 0);
	} while (vm->fd < 0 && errno == EINTR);
	if (vm->fd < 0) {
		what = "KVM_CREATE_VM";
		goto fail;
	}
	what = "KVM_SET_TSS_ADDR";
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)vm->p.tss_addr) < 0)
		goto fail;
	what = "KVM_SET_IDENTITY_MAP_ADDR";
	uint64_t idmap = vm->p.identity_map_addr;
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		goto fail;
	what = "KVM_CREATE_IRQCHIP";
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	what = "KVM_CREATE_PIT2";
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		goto fail;

	for (size_t i = 0; i < guest_mem_count(vm->p.gm); i++) {
		const struct guest_region *r = guest_mem_region(vm->p.gm, i);
		struct kvm_userspace_memory_region m = {
			.slot = r->slot,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
			int e = errno;
			snprintf(err, errlen,
				 "KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB at 0x%llx): %s",
				 r->slot, (unsigned long long)(r->size >> 20),
				 (unsigned long long)r->gpa, strerror(e));
			return -e;
		}
	}
	return 0;
fail:;
	int e = errno;
	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

static void vm_kick_all(void *opaque)
{
	struct vm *vm = opaque;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

int vm_new(const struct vm_params *p, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->p = *p;
	vm->fd = -1;
	int ret = vm_open(vm, err, errlen);
	if (ret) {
		vm_free(vm);
		return ret;
	}
	runstate_set_kick(p->rs, vm_kick_all, vm);
	*out = vm;
	return 0;
}

static void vm_destroy_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	vm->nvcpus = 0;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop_vcpus(vm);
	runstate_set_kick(vm->p.rs, NULL, NULL);
	vm_destroy_vcpus(vm);
	free(vm->vcpus);
	if (vm->fd >= 0)
		close(vm->fd);
	free(vm);
}

int vm_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };
	return ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

static int vm_apply_link(struct vm *vm, const struct fd_link *l)
{
	if (l->is_irqfd) {
		struct kvm_irqfd irqfd = { .fd = (uint32_t)l->fd, .gsi = l->gsi };
		return ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
	}
	struct kvm_ioeventfd io = {
		.datamatch = l->datamatch,
		.addr = l->addr,
		.len = l->len,
		.fd = l->fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
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

static int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct fd_link l = {
		.is_irqfd = false, .fd = fd, .addr = addr, .len = len, .datamatch = datamatch
	};
	return vm_add_link(vm, &l);
}

static int vm_irqfd(struct vm *vm, uint32_t gsi, int fd)
{
	struct fd_link l = { .is_irqfd = true, .fd = fd, .gsi = gsi };
	return vm_add_link(vm, &l);
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

struct virtio_platform vm_virtio_platform(struct vm *vm)
{
	return (struct virtio_platform){
		.opaque = vm,
		.ioeventfd = vm_platform_ioeventfd,
		.irqfd = vm_platform_irqfd,
	};
}

int vm_create_vcpus(struct vm *vm, const struct vcpu_env *env, unsigned n, bool mask_cpuid,
		    char *err, size_t errlen)
{
	if (!vm->vcpus) {
		vm->vcpus = calloc(n, sizeof(*vm->vcpus));
		if (!vm->vcpus) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	vm_destroy_vcpus(vm);
	for (unsigned i = 0; i < n; i++) {
		int ret = vcpu_create(&vm->vcpus[i], env, vm->fd, vm->p.kvm, i, n, mask_cpuid);
		if (ret) {
			snprintf(err, errlen, "creating vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
		vm->nvcpus++;
	}
	return 0;
}

struct vcpu *vm_vcpu(struct vm *vm, unsigned i)
{
	return i < vm->nvcpus ? &vm->vcpus[i] : NULL;
}

int vm_vcpu_thread_id(struct vm *vm, unsigned i)
{
	return i < vm->nvcpus ? __atomic_load_n(&vm->vcpus[i].tid, __ATOMIC_ACQUIRE) : -1;
}

int vm_vcpu_counters(struct vm *vm, unsigned i, uint64_t *exits, uint64_t *run_ns, uint64_t *fixups)
{
	if (i >= vm->nvcpus)
		return -ENOENT;
	const struct vcpu *v = &vm->vcpus[i];
	*exits = __atomic_load_n(&v->exits, __ATOMIC_RELAXED);
	uint64_t since = __atomic_load_n(&v->run_since, __ATOMIC_ACQUIRE);
	*run_ns = __atomic_load_n(&v->run_ns, __ATOMIC_RELAXED);
	uint64_t now = clock_ns();
	if (since && now > since)
		*run_ns += now - since;
	*fixups = __atomic_load_n(&v->insn_fixups, __ATOMIC_RELAXED);
	return 0;
}

int vm_start_vcpus(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		runstate_thread_starting(vm->p.rs);
		int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret) {
			runstate_thread_failed(vm->p.rs);
			return -ret;
		}
		v->thread_started = true;
	}
	return 0;
}

void vm_stop_vcpus(struct vm *vm)
{
	runstate_stop(vm->p.rs);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->thread_started) {
			pthread_join(v->thread, NULL);
			v->thread_started = false;
		}
	}
}

void vm_close(struct vm *vm)
{
	vm_destroy_vcpus(vm);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
}

int vm_recreate(struct vm *vm, char *err, size_t errlen)
{
	int ret;
	vm_close(vm);
	if ((ret = vm_open(vm, err, errlen)))
		return ret;
	for (unsigned i = 0; i < vm->nlinks; i++) {
		if ((ret = vm_apply_link(vm, &vm->links[i]))) {
			snprintf(err, errlen, "re-registering %s: %s",
				 vm->links[i].is_irqfd ? "irqfd" : "ioeventfd", strerror(-ret));
			return ret;
		}
	}
	return 0;
}
