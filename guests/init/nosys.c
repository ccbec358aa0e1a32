/*
 * /init for the memvm tiny guest that makes NO system calls.
 *
 * On the project's PVM hosts, SYSCALL from guest user mode does not reach the
 * guest kernel (see /work/shared/HOST-NOTES.md), so this init never enters
 * the kernel on purpose: it only reads its initial stack, writes to its own
 * memory and spins on `pause`. Page faults on first touch are the only
 * kernel entries it causes.
 *
 * Parameters come from the kernel command line: unknown `key=value` words
 * are passed to init as environment variables, which sit on the initial
 * stack (argc, argv[], NULL, envp[], NULL, auxv).
 *
 *   touch_mib=N          write to the first N MiB of a large zero-fill buffer
 *                        (one store per 4 KiB page), then idle. Default 0.
 *   touch_pattern=P      const  (default) every touched page holds the same
 *                               bytes: host-side KSM can merge them
 *                        unique every page holds different bytes
 *                        zero   pages are faulted in but stay all-zero
 *   touch_loop=1         keep rewriting the N MiB forever (pass number mixed
 *                        into unique pages), to keep dirtying guest memory
 *
 * The buffer (NOSYS_BIG_MIB, 1 GiB by default) is not in the file: the
 * linker script made by build-initramfs.sh splits it into several zero-fill
 * PT_LOAD segments, because the kernel's default overcommit heuristic
 * refuses any single mapping larger than the guest's RAM, and a 1 GiB .bss
 * in one piece would make exec of /init fail in a 256 MiB guest.
 */
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096UL
#define MIB       (1024UL * 1024UL)

/* Bounds of the zero-fill buffer, defined by the linker script. */
extern unsigned char __big_start[], __big_end[];

/* State visible in guest memory (e.g. from a VMM memory dump). */
volatile uint64_t nosys_touched_bytes;
volatile uint64_t nosys_passes;

enum pattern { PAT_CONST, PAT_UNIQUE, PAT_ZERO };

/*
 * Entry point: the kernel starts us with %rsp pointing at argc. Pass it to
 * the C code and spin forever if that ever returns.
 */
__asm__(".text\n"
	".globl _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call nosys_main\n"
	"1:	pause\n"
	"	jmp 1b\n"
	".size _start, . - _start\n");

void nosys_main(const uintptr_t *sp);

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static __attribute__((noreturn)) void idle_forever(void)
{
	for (;;)
		cpu_relax();
}

/* If s starts with key (which ends in '='), return the rest, else NULL. */
static const char *match(const char *s, const char *key)
{
	while (*key) {
		if (*s != *key)
			return NULL;
		s++;
		key++;
	}
	return s;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Decimal number; stops at the first non-digit, saturates on overflow. */
static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return UINT64_MAX;
		v = v * 10 + d;
	}
	return v;
}

static void touch(uint64_t bytes, enum pattern pat, uint64_t pass)
{
	unsigned char *base = __big_start;

	for (uint64_t off = 0; off < bytes; off += PAGE_SIZE) {
		volatile uint64_t *w = (volatile uint64_t *)(base + off);

		switch (pat) {
		case PAT_ZERO:
			*w = 0;
			break;
		case PAT_UNIQUE:
			/* "MEMVM" tag, page number and pass: no two pages alike. */
			w[0] = 0x4d454d564d000000ULL ^ (off / PAGE_SIZE);
			w[1] = pass;
			break;
		case PAT_CONST:
		default:
			*w = 0x4d454d564d4e4f53ULL; /* "MEMVMNOS" */
			break;
		}
		nosys_touched_bytes = off + PAGE_SIZE;
	}
}

void nosys_main(const uintptr_t *sp)
{
	uintptr_t argc = sp[0];
	const char *const *envp = (const char *const *)(sp + 1 + argc + 1);
	uint64_t max = (uint64_t)(__big_end - __big_start);
	uint64_t mib = 0, bytes;
	enum pattern pat = PAT_CONST;
	int loop = 0;

	for (; *envp; envp++) {
		const char *v;

		if ((v = match(*envp, "touch_mib=")))
			mib = parse_u64(v);
		else if ((v = match(*envp, "touch_pattern="))) {
			if (streq(v, "unique"))
				pat = PAT_UNIQUE;
			else if (streq(v, "zero"))
				pat = PAT_ZERO;
			else
				pat = PAT_CONST;
		} else if ((v = match(*envp, "touch_loop=")))
			loop = parse_u64(v) != 0;
	}

	bytes = mib > max / MIB ? max : mib * MIB;
	if (bytes == 0)
		idle_forever();

	do {
		touch(bytes, pat, nosys_passes);
		nosys_passes = nosys_passes + 1;
		cpu_relax();
	} while (loop);

	idle_forever();
}
