/* /dev/kvm: open, API version and capability checks, host detection. */
#ifndef MEMVM_KVM_H
#define MEMVM_KVM_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/lib/util.h"

struct kvm_cpuid2;

struct kvm_sys {
	int fd;               /* /dev/kvm */
	int vcpu_mmap_size;   /* size of each vCPU's kvm_run mapping */
	int max_vcpus;        /* KVM_CAP_MAX_VCPUS (or NR_VCPUS) */
	bool emulated_kernel; /* host emulates guest kernel mode (see HOST-NOTES) */
	struct kvm_cpuid2 *supported_cpuid;
};

/* Opens /dev/kvm and checks the API version and every capability memvm
 * relies on. On failure: -errno and one line in err naming what is missing. */
int kvm_open(struct kvm_sys *kvm, char *err, size_t errlen) WUR;
void kvm_close(struct kvm_sys *kvm);

/* True when the host KVM runs guest kernel mode through an instruction
 * emulator (nested "PVM" hosts: kvm_pvm loaded, no vmx/svm CPU flag), as
 * kvm_open sets emulated_kernel. Needs no /dev/kvm, so configuration
 * checks can ask before opening it. */
bool kvm_host_emulates_kernel(void);

#endif
