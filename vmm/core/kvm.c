#include "vmm/core/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
};

static bool cpu_has_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return true; /* unknown: assume a normal host */
	char line[4096];
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

bool kvm_host_emulates_kernel(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return true;
	/* /dev/kvm without hardware virtualization means some software path. */
	return !cpu_has_hw_virt();
}

static struct kvm_cpuid2 *get_supported_cpuid(int fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int e = errno;
		free(c);
		if (e != E2BIG)
			return NULL;
	}
	return NULL;
}

int kvm_open(struct kvm_sys *kvm, char *err, size_t errlen)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen,
				 "/dev/kvm does not exist: load the kvm module "
				 "(modprobe kvm_intel or kvm_amd) or run on a host with KVM");
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
				 "/dev/kvm: permission denied: run as root or add "
				 "your user to the kvm group");
		else
			snprintf(err, errlen, "/dev/kvm: %s", strerror(e));
		return -e;
	}
	int ver = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm: API version %d, memvm needs %d", ver,
			 KVM_API_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen,
				 "/dev/kvm lacks %s, which memvm needs; use a newer "
				 "host kernel",
				 required_caps[i].name);
			goto fail;
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "/dev/kvm: bad KVM_GET_VCPU_MMAP_SIZE %d",
			 kvm->vcpu_mmap_size);
		goto fail;
	}
	kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4;
	kvm->supported_cpuid = get_supported_cpuid(kvm->fd);
	if (!kvm->supported_cpuid) {
		snprintf(err, errlen, "/dev/kvm: KVM_GET_SUPPORTED_CPUID failed: %s",
			 strerror(errno));
		goto fail;
	}
	kvm->emulated_kernel = kvm_host_emulates_kernel();
	return 0;
fail:
	close(kvm->fd);
	kvm->fd = -1;
	return -ENOTSUP;
}

void kvm_close(struct kvm_sys *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
	free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
}
