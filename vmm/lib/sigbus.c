#include "vmm/lib/sigbus.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define MAX_RAM      8
#define MAX_PATHS    8
#define PATH_MAX_LEN 108 /* sun_path */

struct ram_range {
	uintptr_t start, end;
	uint64_t gpa;
};

static struct ram_range ranges[MAX_RAM];
static volatile sig_atomic_t nranges;
static char paths[MAX_PATHS][PATH_MAX_LEN];
static void (*volatile fatal_fn)(void);

/* Everything below runs in the handler: only write(), unlink(), _exit(). */
static size_t put_str(char *buf, size_t pos, size_t cap, const char *s)
{
	while (*s && pos + 1 < cap)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_hex(char *buf, size_t pos, size_t cap, uint64_t v)
{
	char tmp[19];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	pos = put_str(buf, pos, cap, "0x");
	while (n && pos + 1 < cap)
		buf[pos++] = tmp[--n];
	return pos;
}

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	for (sig_atomic_t i = 0; i < nranges; i++) {
		if (a < ranges[i].start || a >= ranges[i].end)
			continue;
		char line[400];
		size_t n = put_str(line, 0, sizeof(line), "memvm: error: guest RAM at ");
		n = put_hex(line, n, sizeof(line), ranges[i].gpa + (a - ranges[i].start));
		n = put_str(line, n, sizeof(line),
			    " has no backing page (SIGBUS): the huge page pool or the memory "
			    "filesystem behind guest RAM ran out; raise /proc/sys/vm/nr_hugepages "
			    "or free space, and use -mem-prealloc to check at start\n");
		if (write(STDERR_FILENO, line, n) < 0) {
			/* nothing left to tell anyone */
		}
		void (*fn)(void) = fatal_fn;
		if (fn)
			fn();
		for (int p = 0; p < MAX_PATHS; p++)
			if (paths[p][0])
				unlink(paths[p]);
		_exit(1);
	}
	/* Not guest RAM: a bug. Default action on return re-faults: core. */
	signal(sig, SIG_DFL);
}

int sigbus_guard_init(void)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

int sigbus_guard_add_ram(const void *hva, uint64_t len, uint64_t gpa)
{
	if (nranges == MAX_RAM)
		return -ENOSPC;
	if (len == 0 || len > UINTPTR_MAX - (uintptr_t)hva)
		return -EINVAL;
	ranges[nranges] = (struct ram_range){ (uintptr_t)hva, (uintptr_t)hva + len, gpa };
	/* The entry is complete before the handler may see it. */
	__atomic_store_n(&nranges, nranges + 1, __ATOMIC_RELEASE);
	return 0;
}

void sigbus_guard_clear_ram(void)
{
	__atomic_store_n(&nranges, 0, __ATOMIC_RELEASE);
}

void sigbus_guard_add_path(const char *path)
{
	size_t len = strlen(path);
	if (len >= PATH_MAX_LEN)
		return;
	for (int p = 0; p < MAX_PATHS; p++) {
		if (!paths[p][0]) {
			memcpy(paths[p], path, len + 1);
			return;
		}
	}
}

void sigbus_guard_remove_path(const char *path)
{
	for (int p = 0; p < MAX_PATHS; p++)
		if (!strcmp(paths[p], path))
			paths[p][0] = '\0';
}

void sigbus_guard_on_fatal(void (*fn)(void))
{
	fatal_fn = fn;
}
