/* exit_limit: the floor for a port-I/O exit handled in user space. A VM
 * with one vCPU in real mode runs `out %al, $0x80` N times; this loop
 * re-enters KVM_RUN at once after each exit, doing nothing else. Prints
 * "EXITS_PER_SECOND N" (the exits counted from the first to the last).
 *   exit_limit [N]   (default 20000, as the exits64 payload) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 20000;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	size_t size = 0x10000;
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	/* mov $n, %ecx; 1: out %al, $0x80; dec %ecx; jnz 1b; hlt (16-bit code) */
	const uint8_t code[] = { 0x66,
				 0xb9,
				 (uint8_t)n,
				 (uint8_t)(n >> 8),
				 (uint8_t)(n >> 16),
				 (uint8_t)(n >> 24),
				 0xe6,
				 0x80,
				 0x66,
				 0x49,
				 0x75,
				 0xfa,
				 0xf4 };
	memcpy(mem + 0x1000, code, sizeof(code));
	struct kvm_userspace_memory_region r = { .slot = 0,
						 .guest_phys_addr = 0,
						 .memory_size = size,
						 .userspace_addr = (uintptr_t)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (cpu < 0)
		return fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu,
				   0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	struct kvm_sregs s;
	if (ioctl(cpu, KVM_GET_SREGS, &s) < 0)
		return fail("KVM_GET_SREGS");
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(cpu, KVM_SET_SREGS, &s) < 0)
		return fail("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	if (ioctl(cpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	uint32_t exits = 0;
	double t0 = 0, t1 = 0;
	for (;;) {
		if (ioctl(cpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x80) {
			if (exits++ == 0)
				t0 = now();
			t1 = now();
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		fprintf(stderr, "exit_limit: unexpected exit %u\n", run->exit_reason);
		return 1;
	}
	if (exits < 2 || t1 <= t0)
		return fail("too few exits");
	printf("%.0f %u\n", (exits - 1) / (t1 - t0), exits);
	return 0;
}
