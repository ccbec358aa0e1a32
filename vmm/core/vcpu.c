#include "vmm/core/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/bus.h"
#include "memory/guest_mem.h"
#include "vmm/core/kvm.h"
#include "vmm/sandbox/sandbox.h"

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_signal_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* CPUID bits masked when the host's kernel-mode emulator lacks the
 * instructions behind them (HOST-NOTES.md). On such hosts guest CPUID in
 * kernel mode still shows host bits, so the command line does the real
 * work; on hardware hosts this masking is what takes effect. */
struct cpuid_mask {
	uint32_t leaf, index;
	bool indexed;
	uint32_t eax, ebx, ecx, edx; /* bits to clear */
};

static const struct cpuid_mask quirk_masks[] = {
	/* leaf 1 ECX: pclmulqdq(1) fma(12) cx16(13) movbe(22) popcnt(23) aes(25)
	 * xsave(26) osxsave(27) avx(28) f16c(29) rdrand(30) */
	{ 1, 0, false, 0, 0,
	  (1u << 1) | (1u << 12) | (1u << 13) | (1u << 22) | (1u << 23) | (1u << 25) | (1u << 26) |
		  (1u << 27) | (1u << 28) | (1u << 29) | (1u << 30),
	  0 },
	/* leaf 7.0 EBX: fsgsbase(0) bmi1(3) hle(4) avx2(5) bmi2(8) invpcid(10) rtm(11)
	 * avx512f(16) rdseed(18) adx(19) smap(20) clflushopt(23) clwb(24) sha(29);
	 * ECX: umip(2) gfni(8) vaes(9) vpclmulqdq(10) rdpid(22) */
	{ 7, 0, true, 0,
	  (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 10) | (1u << 11) |
		  (1u << 16) | (1u << 18) | (1u << 19) | (1u << 20) | (1u << 23) | (1u << 24) |
		  (1u << 29),
	  (1u << 2) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 22), 0 },
	/* leaf 0xd.1 EAX: xsaveopt(0) xsavec(1) xsaves(3) */
	{ 0xd, 1, true, (1u << 0) | (1u << 1) | (1u << 3), 0, 0, 0 },
	/* leaf 0x40000001 EAX: KVM_FEATURE_PV_SEND_IPI(11): the host loses the
	 * KVM_HC_SEND_IPI hypercall from emulated kernel mode (SMP boots hang) */
	{ 0x40000001, 0, false, (1u << 11), 0, 0, 0 },
	/* leaf 0x80000001: ECX abm/lzcnt(5); EDX pdpe1gb(26): no 1 GiB pages */
	{ 0x80000001, 0, false, 0, 0, (1u << 5), (1u << 26) },
};

static unsigned log2_ceil(unsigned n)
{
	unsigned s = 0;
	while ((1u << s) < n)
		s++;
	return s;
}

static int vcpu_set_cpuid(struct vcpu *v, const struct kvm_sys *kvm, unsigned nvcpus,
			  bool host_quirks)
{
	const struct kvm_cpuid2 *sup = kvm->supported_cpuid;
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, sup, sz);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			/* Initial APIC id, logical processor count, hypervisor bit. */
			e->ebx = (e->ebx & 0xffff) | ((uint32_t)v->id << 24) |
				 ((nvcpus > 255 ? 255 : nvcpus) << 16);
			e->ecx |= 1u << 31;
			/* TSC-deadline timer: KVM emulates it but leaves it out of
			 * KVM_GET_SUPPORTED_CPUID. Without it Linux keeps the PIT and,
			 * with no MP table routing IRQ 0 (-machine dt=on), check_timer()
			 * dereferences IRQ 0's missing irq_cfg. */
			if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
				e->ecx |= 1u << 24;
			if (nvcpus > 1)
				e->edx |= 1u << 28;
			break;
		case 4:
			/* Cores per package - 1 in EAX[31:26]; caches private. */
			e->eax = (e->eax & 0x3fff) | (((nvcpus - 1) & 0x3f) << 26);
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: one thread per core, nvcpus cores. */
			e->edx = v->id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0 | (1u << 8);
			} else if (e->index == 1) {
				e->eax = log2_ceil(nvcpus);
				e->ebx = nvcpus;
				e->ecx = 1 | (2u << 8);
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x40000000:
			e->eax = 0x40000001;
			memcpy(&e->ebx, "KVMK", 4);
			memcpy(&e->ecx, "VMKV", 4);
			memcpy(&e->edx, "M\0\0\0", 4);
			break;
		}
		if (!host_quirks)
			continue;
		for (size_t m = 0; m < ARRAY_SIZE(quirk_masks); m++) {
			const struct cpuid_mask *q = &quirk_masks[m];
			if (q->leaf != e->function || (q->indexed && q->index != e->index))
				continue;
			e->eax &= ~q->eax;
			e->ebx &= ~q->ebx;
			e->ecx &= ~q->ecx;
			e->edx &= ~q->edx;
		}
		/* Without XSAVE the guest must not see XSAVE state components. */
		if (e->function == 0xd && e->index == 0) {
			e->eax &= 0x3; /* x87 + SSE */
			e->edx = 0;
		}
	}
	int ret = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return ret;
}

int vcpu_create(struct vcpu *v, const struct vcpu_env *env, int vm_fd, const struct kvm_sys *kvm,
		unsigned id, unsigned nvcpus, bool mask_cpuid)
{
	int ret;
	memset(v, 0, sizeof(*v));
	v->env = *env;
	v->id = id;
	v->fd = -1;
	v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return -errno;
	v->run_size = kvm->vcpu_mmap_size;
	v->run = mmap(NULL, (size_t)v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		goto err;
	}
	ret = vcpu_set_cpuid(v, kvm, nvcpus, mask_cpuid);
	if (ret)
		goto err;
	return 0;
err:
	vcpu_destroy(v);
	return ret;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->run_size);
	v->run = NULL;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_dump(struct vcpu *v, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	bool have_r = ioctl(v->fd, KVM_GET_REGS, &r) == 0;
	bool have_s = ioctl(v->fd, KVM_GET_SREGS, &s) == 0;

	fprintf(stderr, "memvm: vCPU %u: %s\n", v->id, why);
	if (have_r) {
		fprintf(stderr,
			"  RIP=%016llx RSP=%016llx RFLAGS=%08llx\n"
			"  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
			"  RSI=%016llx RDI=%016llx RBP=%016llx\n"
			"  R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
			"  R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n",
			r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
			r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
	}
	if (have_s) {
		fprintf(stderr,
			"  CS=%04x(base %llx l%u db%u) SS=%04x CPL=%u\n"
			"  CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx EFER=%llx\n"
			"  GDT=%016llx/%x IDT=%016llx/%x\n",
			s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.ss.selector,
			s.cs.selector & 3u, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.gdt.base,
			s.gdt.limit, s.idt.base, s.idt.limit);
	}
	fflush(stderr);
}

/* Reads up to 15 bytes at the guest's RIP (through its page tables). */
static unsigned vcpu_fetch_insn(struct vcpu *v, uint64_t rip, uint8_t *buf)
{
	struct kvm_sregs s;
	uint64_t la = rip;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) == 0 && !s.cs.l)
		la = s.cs.base + rip;
	struct kvm_translation tr = { .linear_address = la };
	if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return 0;
	for (unsigned n = 15; n > 0; n--)
		if (guest_mem_read(v->env.gm, tr.physical_address, buf, n) == 0)
			return n;
	return 0;
}

#define CR0_MP (1ull << 1)
#define CR0_TS (1ull << 3)
#define FSW_ES 0x80u /* an unmasked x87 exception is pending */

/* The host emulator cannot execute INT3 or FWAIT in guest kernel mode (the
 * PVM host: Linux runs INT3 in its boot self-test and FWAIT in fpu__drop at
 * every task exit). Both are simple enough to do for the guest. */
int vcpu_fixup_plan(const uint8_t *insn, unsigned n, uint64_t cr0, uint16_t fsw,
		    struct vcpu_fixup *out)
{
	if (n < 1)
		return -ENOTSUP;
	switch (insn[0]) {
	case 0xcc: /* INT3: a trap, so the pushed RIP is the next instruction */
		*out = (struct vcpu_fixup){ .advance = 1, .vector = 3 };
		return 0;
	case 0x9b: /* FWAIT: faults (RIP unchanged) as the SDM says, else a no-op */
		if ((cr0 & CR0_MP) && (cr0 & CR0_TS))
			*out = (struct vcpu_fixup){ .advance = 0, .vector = 7 };
		else if (fsw & FSW_ES)
			*out = (struct vcpu_fixup){ .advance = 0, .vector = 16 };
		else
			*out = (struct vcpu_fixup){ .advance = 1, .vector = -1 };
		return 0;
	default:
		return -ENOTSUP;
	}
}

static int vcpu_apply_fixup(struct vcpu *v, struct kvm_regs *regs, const struct vcpu_fixup *f)
{
	struct kvm_vcpu_events ev;
	regs->rip += f->advance;
	if (f->advance && ioctl(v->fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	if (f->vector >= 0) {
		if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			return -errno;
		ev.exception.injected = 1;
		ev.exception.nr = (uint8_t)f->vector;
		/* #BP, #NM and #MF push no error code */
		ev.exception.has_error_code = 0;
		ev.exception.error_code = 0;
		ev.flags = 0;
		if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
			return -errno;
	}
	__atomic_fetch_add(&v->insn_fixups, 1, __ATOMIC_RELAXED);
	return 0;
}

static enum vcpu_outcome vcpu_handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t bytes[16];
	unsigned n = 0;

	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		char why[96];
		snprintf(why, sizeof(why), "KVM internal error, suberror %u",
			 run->internal.suberror);
		vcpu_dump(v, why);
		return VCPU_OUTCOME_UNHANDLED;
	}
	if (run->emulation_failure.ndata >= 2 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > 15)
			n = 15;
		memcpy(bytes, run->emulation_failure.insn_bytes, n);
	}
	struct kvm_regs regs;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return VCPU_OUTCOME_ERROR;
	if (n == 0)
		n = vcpu_fetch_insn(v, regs.rip, bytes);
	struct kvm_sregs s;
	bool have_sregs = ioctl(v->fd, KVM_GET_SREGS, &s) == 0;
	struct kvm_fpu fpu = { 0 };
	if (n >= 1 && bytes[0] == 0x9b && ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
		return VCPU_OUTCOME_ERROR;
	struct vcpu_fixup fix;
	if (have_sregs && vcpu_fixup_plan(bytes, n, s.cr0, fpu.fsw, &fix) == 0)
		return vcpu_apply_fixup(v, &regs, &fix) ? VCPU_OUTCOME_ERROR : VCPU_OUTCOME_NONE;

	unsigned cpl = have_sregs ? (s.cs.selector & 3u) : 0;
	char hex[3 * 16 + 1] = "";
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", bytes[i]);
	fprintf(stderr,
		"memvm: vCPU %u: the host cannot emulate the instruction at RIP=%016llx "
		"(CPL %u): %s%s\n",
		v->id, regs.rip, cpl, n ? hex : "(bytes unavailable)",
		v->env.host_quirks ? "" : "; try without -machine host-quirks=off");
	vcpu_dump(v, "emulation failure");
	return VCPU_OUTCOME_EMULATION;
}

/* Unassigned MMIO reads as zeros (bus_read gives all-ones, as port I/O
 * keeps); writes are dropped. Both are logged, rate-limited, for debugging. */
static void vcpu_mmio(struct vcpu *v, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	static struct ratelimit rl = RATELIMIT_INIT(5000, 5);
	int ret = is_write ? bus_write(v->env.mmio, addr, data, len)
			   : bus_read(v->env.mmio, addr, data, len);
	if (ret != -ENOENT)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (ratelimit_ok(&rl))
		log_debug("guest %s of %u bytes at unassigned MMIO 0x%llx",
			  is_write ? "write" : "read", len, (unsigned long long)addr);
}

enum vcpu_outcome vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char why[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		bool wr = run->io.direction == KVM_EXIT_IO_OUT;
		for (uint32_t i = 0; i < run->io.count; i++) {
			if (wr)
				bus_write(v->env.pio, run->io.port, data, run->io.size);
			else
				bus_read(v->env.pio, run->io.port, data, run->io.size);
			data += run->io.size;
		}
		return VCPU_OUTCOME_NONE;
	}
	case KVM_EXIT_MMIO:
		vcpu_mmio(v, run->mmio.phys_addr, run->mmio.data,
			  run->mmio.len > 8 ? 8 : run->mmio.len, run->mmio.is_write);
		return VCPU_OUTCOME_NONE;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; we always have one. */
		return VCPU_OUTCOME_NONE;
	case KVM_EXIT_INTR:
		return VCPU_OUTCOME_NONE;
	case KVM_EXIT_SHUTDOWN:
		vcpu_dump(v, "triple fault (KVM_EXIT_SHUTDOWN): guest crashed");
		return VCPU_OUTCOME_CRASH;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			runstate_request(v->env.rs, RUN_REQ_POWEROFF, 0);
			return VCPU_OUTCOME_NONE;
		case KVM_SYSTEM_EVENT_RESET:
			runstate_request(v->env.rs, RUN_REQ_RESET, 0);
			return VCPU_OUTCOME_NONE;
		default:
			snprintf(why, sizeof(why), "guest crash system event %u",
				 run->system_event.type);
			vcpu_dump(v, why);
			return VCPU_OUTCOME_CRASH;
		}
	case KVM_EXIT_INTERNAL_ERROR:
		return vcpu_handle_internal_error(v);
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_dump(v, why);
		return VCPU_OUTCOME_UNHANDLED;
	default:
		snprintf(why, sizeof(why), "unhandled exit reason %u", run->exit_reason);
		vcpu_dump(v, why);
		return VCPU_OUTCOME_UNHANDLED;
	}
}

void vcpu_probe_sandbox(struct vcpu *v)
{
	__atomic_store_n(&v->sandbox_probe, true, __ATOMIC_RELEASE);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	enum vcpu_outcome outcome = VCPU_OUTCOME_NONE;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	__atomic_store_n(&v->tid, (int)gettid(), __ATOMIC_RELEASE);
	snprintf(v->name, sizeof(v->name), "vCPU %u", v->id);
	sandbox_set_thread_name(v->name);
	int sret = sandbox_enter_vcpu();
	if (sret) {
		log_error("vCPU %u: installing its seccomp filter: %s", v->id, strerror(-sret));
		runstate_vcpu_finished(v->env.rs, v->id, VCPU_OUTCOME_ERROR);
		return NULL;
	}

	for (;;) {
		/* Clear before checking the state: a kick that lands after the
		 * check sets it again and KVM_RUN returns at once. */
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (!runstate_vcpu_should_run(v->env.rs))
			break;
		if (__atomic_load_n(&v->sandbox_probe, __ATOMIC_ACQUIRE))
			sandbox_probe_forbidden();
		/* An idle vCPU can stay in KVM_RUN for seconds (hlt is handled in
		 * the kernel): readers add the current call from run_since. */
		uint64_t t0 = clock_ns();
		__atomic_store_n(&v->run_since, t0, __ATOMIC_RELEASE);
		int rr = ioctl(v->fd, KVM_RUN, 0);
		int run_errno = errno;
		uint64_t t1 = clock_ns();
		__atomic_store_n(&v->run_since, 0, __ATOMIC_RELEASE);
		__atomic_fetch_add(&v->run_ns, t1 - t0, __ATOMIC_RELAXED);
		errno = run_errno;
		if (rr < 0) {
			/* EINTR: kicked. EAGAIN: an AP leaving wait-for-SIPI. */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EFAULT)
				log_error(
					"vCPU %u: guest RAM could not be backed (KVM_RUN: %s): the huge "
					"page pool or host memory ran out; raise /proc/sys/vm/nr_hugepages "
					"or use -mem-prealloc",
					v->id, strerror(errno));
			else
				log_error("vCPU %u: KVM_RUN failed: %s", v->id, strerror(errno));
			outcome = VCPU_OUTCOME_ERROR;
			break;
		}
		__atomic_fetch_add(&v->exits, 1, __ATOMIC_RELAXED);
		outcome = vcpu_handle_exit(v);
		if (outcome != VCPU_OUTCOME_NONE)
			break;
	}
	runstate_vcpu_finished(v->env.rs, v->id, outcome);
	return NULL;
}
