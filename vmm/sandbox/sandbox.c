#include "vmm/sandbox/sandbox.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Calls any thread makes: memory, futexes, signals, time, writing logs,
 * thread exit. glibc picks among variants (clock_nanosleep or nanosleep,
 * newfstatat or fstat), so the lists name them all. */
static const char *const common_calls[] = {
	"read",
	"write",
	"readv",
	"writev",
	"futex",
	"futex_waitv",
	"rt_sigreturn",
	"rt_sigprocmask",
	"rt_sigtimedwait",
	"sigaltstack",
	"restart_syscall",
	"exit",
	"exit_group",
	"gettid",
	"getpid",
	"tgkill",
	"madvise",
	"mmap",
	"munmap",
	"mprotect",
	"mremap",
	"brk",
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"clock_nanosleep",
	"nanosleep",
	"sched_yield",
	"rseq",
	"set_robust_list",
	"getrandom",
	"fstat",
	"newfstatat",
	"lseek",
	"close",
};

/* The event loop, the monitor, the balloon, a guest reboot (a new KVM VM,
 * new vCPU threads, the kernel read again), console output, and exit;
 * seccomp and prctl for each new vCPU thread stacking its own filter. */
static const char *const main_calls[] = {
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"epoll_ctl",
	"poll",
	"ppoll",
	"accept",
	"accept4",
	"recvfrom",
	"recvmsg",
	"sendto",
	"sendmsg",
	"shutdown",
	"getsockopt",
	"getsockname",
	"getpeername",
	"openat",
	"open",
	"stat",
	"lstat",
	"statfs",
	"fstatfs",
	"statx",
	"pread64",
	"preadv",
	"fallocate",
	"mincore",
	"timerfd_settime",
	"timerfd_gettime",
	"fcntl",
	"dup",
	"unlink",
	"unlinkat",
	"getdents64",
	"ioctl",
	"clone",
	"clone3",
	"sched_getaffinity",
	"prctl",
	"sysinfo",
	"uname",
	"readlink",
	"readlinkat",
	"fsync",
	"fdatasync",
	"rt_sigaction",
	"kill",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"membarrier",
	"seccomp",
};

/* What a vCPU thread does besides the common calls: KVM ioctls only
 * (type KVMIO, 0xAE, checked on the request number). */
static const char *const vcpu_calls[] = { "ioctl" };

/* memvm-ctl once connected. */
static const char *const ctl_calls[] = { "poll", "ppoll", "recvfrom", "sendto", "ioctl" };

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* Sanitizer builds: LeakSanitizer stops the world with ptrace from a
 * cloned tracer and reads /proc; reports may start a symbolizer. */
static const char *const san_calls[] = {
	"ptrace",
	"wait4",
	"waitid",
	"prctl",
	"getdents",
	"getdents64",
	"openat",
	"open",
	"rt_sigaction",
	"clone",
	"clone3",
	"fork",
	"vfork",
	"execve",
	"getppid",
	"kill",
	"readlink",
	"readlinkat",
	"pipe",
	"pipe2",
	"dup2",
	"dup3",
	"sched_getaffinity",
	"uname",
	"getrlimit",
	"prlimit64",
	"setrlimit",
	"ioctl",
	"fcntl",
	"stat",
	"lstat",
	"statx",
	"pread64",
	"sysinfo",
};
#endif

#define KVMIO 0xAE

/* Names of system calls for the SIGSYS handler, resolved before any
 * filter is in place (resolving allocates). */
#define MAX_NR 512
static char call_names[MAX_NR][24];
static __thread const char *thread_name;
static const char *prog = "memvm";
static bool filter_installed;
static bool log_mode;

static void sigsys_put(char *buf, size_t *pos, size_t cap, const char *s)
{
	while (*s && *pos + 1 < cap)
		buf[(*pos)++] = *s++;
}

/* A denied call: say which, then die of SIGSYS (SA_RESETHAND restored the
 * default action; the signal raised again is delivered on return). */
static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char line[320], num[12];
	size_t n = 0;
	int nr = si->si_syscall, k = 0;
	unsigned v = nr < 0 ? 0 : (unsigned)nr;
	char tmp[12];
	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < k; i++)
		num[i] = tmp[k - 1 - i];
	num[k] = '\0';
	sigsys_put(line, &n, sizeof(line), prog);
	sigsys_put(line, &n, sizeof(line), ": error: sandbox: the ");
	sigsys_put(line, &n, sizeof(line), thread_name ? thread_name : "main");
	sigsys_put(line, &n, sizeof(line), " thread made system call ");
	sigsys_put(line, &n, sizeof(line),
		   nr >= 0 && nr < MAX_NR && call_names[nr][0] ? call_names[nr] : "?");
	sigsys_put(line, &n, sizeof(line), " (");
	sigsys_put(line, &n, sizeof(line), num);
	sigsys_put(line, &n, sizeof(line), "), which the sandbox forbids: a bug, please report it");
	if (prog[5] == '\0')
		sigsys_put(line, &n, sizeof(line), " (-sandbox off runs without it meanwhile)");
	sigsys_put(line, &n, sizeof(line), "\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing else to tell */
	}
	raise(sig);
}

static int resolve_names(void)
{
	for (int nr = 0; nr < MAX_NR; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (s) {
			snprintf(call_names[nr], sizeof(call_names[nr]), "%s", s);
			free(s);
		}
	}
	struct sigaction sa = { .sa_sigaction = sigsys_handler,
				.sa_flags = SA_SIGINFO | SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

static int allow(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (ret < 0 && ret != -EEXIST)
			return ret;
	}
	return 0;
}

#define ALLOW(ctx, list) allow(ctx, list, ARRAY_SIZE(list))

static uint32_t deny_action(void)
{
	return log_mode ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
}

static int load(scmp_filter_ctx ctx, bool all_threads)
{
	int ret = 0;
	if (all_threads)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

/* Every capability out of the effective, permitted, inheritable and
 * ambient sets (the bounding set went first: drop_bounding_set). */
static int drop_capabilities(char *err, size_t errlen)
{
	if (CAP_AMBIENT_SUPPORTED())
		cap_reset_ambient();
	cap_t none = cap_init();
	if (!none)
		return errorf(err, errlen, -ENOMEM, "sandbox: out of memory");
	int ret = cap_set_proc(none) ? -errno : 0;
	cap_free(none);
	if (ret)
		return errorf(err, errlen, ret, "sandbox: dropping capabilities: %s",
			      strerror(-ret));
	return 0;
}

int sandbox_lookup_user(const char *user, unsigned *uid, unsigned *gid, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return errorf(err, errlen, -ENOENT, "-runas %s: no such user", user);
	if (geteuid() != 0)
		return errorf(err, errlen, -EPERM,
			      "-runas %s: memvm must be started as root to change user", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Supplementary groups dropped, then group and user: the order in which
 * each step still has the privilege the next one needs. */
static int become_user(const char *user, char *err, size_t errlen)
{
	unsigned uid, gid;
	int ret = sandbox_lookup_user(user, &uid, &gid, err, errlen);
	if (ret)
		return ret;
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		return errorf(err, errlen, -errno, "-runas %s: %s", user, strerror(errno));
	return 0;
}

/* The bounding set can only shrink while CAP_SETPCAP is effective. */
static int drop_bounding_set(char *err, size_t errlen)
{
	cap_t cur = cap_get_proc();
	if (!cur)
		return errorf(err, errlen, -errno, "sandbox: reading capabilities: %s",
			      strerror(errno));
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	cap_free(cur);
	if (setpcap != CAP_SET)
		return 0;
	for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++)
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c))
			return errorf(err, errlen, -errno, "sandbox: dropping capability %d: %s", c,
				      strerror(errno));
	return 0;
}

int sandbox_enter(const struct sandbox_opts *o, char *err, size_t errlen)
{
	int ret;
	if (!o->enabled)
		return o->runas ? become_user(o->runas, err, errlen) : 0;
	log_mode = o->log;
	if ((ret = resolve_names()))
		return errorf(err, errlen, ret, "sandbox: sigaction(SIGSYS): %s", strerror(-ret));
	if ((ret = drop_bounding_set(err, errlen)))
		return ret;
	if (o->runas && (ret = become_user(o->runas, err, errlen)))
		return ret;
	if ((ret = drop_capabilities(err, errlen)))
		return ret;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return errorf(err, errlen, -errno, "sandbox: no_new_privs: %s", strerror(errno));
	scmp_filter_ctx ctx = seccomp_init(deny_action());
	if (!ctx)
		return errorf(err, errlen, -ENOMEM, "sandbox: out of memory");
	if ((ret = ALLOW(ctx, common_calls)) || (ret = ALLOW(ctx, main_calls))
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	    || (ret = ALLOW(ctx, san_calls))
#endif
	) {
		seccomp_release(ctx);
		return errorf(err, errlen, ret, "sandbox: building the filter: %s", strerror(-ret));
	}
	if ((ret = load(ctx, true)))
		return errorf(err, errlen, ret,
			      "sandbox: installing the seccomp filter: %s; use -sandbox off on "
			      "a kernel without seccomp",
			      strerror(-ret));
	filter_installed = true;
	return 0;
}

int sandbox_enter_vcpu(void)
{
	if (!filter_installed)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(deny_action());
	if (!ctx)
		return -ENOMEM;
	int ret = ALLOW(ctx, common_calls);
	/* ioctl only on KVM's request numbers: (request >> 8) & 0xff. */
	for (size_t i = 0; !ret && i < ARRAY_SIZE(vcpu_calls); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
				       seccomp_syscall_resolve_name(vcpu_calls[i]), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	if (!ret)
		ret = ALLOW(ctx, san_calls);
#endif
	if (ret) {
		seccomp_release(ctx);
		return ret;
	}
	return load(ctx, false);
}

int sandbox_enter_ctl(char *err, size_t errlen)
{
	prog = "memvm-ctl";
	int ret = resolve_names();
	if (ret)
		return errorf(err, errlen, ret, "sandbox: sigaction(SIGSYS): %s", strerror(-ret));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return errorf(err, errlen, -errno, "sandbox: no_new_privs: %s", strerror(errno));
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return errorf(err, errlen, -ENOMEM, "sandbox: out of memory");
	if ((ret = ALLOW(ctx, common_calls)) || (ret = ALLOW(ctx, ctl_calls))
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	    || (ret = ALLOW(ctx, san_calls))
#endif
	) {
		seccomp_release(ctx);
		return errorf(err, errlen, ret, "sandbox: building the filter: %s", strerror(-ret));
	}
	if ((ret = load(ctx, false)))
		return errorf(err, errlen, ret, "sandbox: installing the seccomp filter: %s",
			      strerror(-ret));
	filter_installed = true;
	return 0;
}

void sandbox_set_thread_name(const char *name)
{
	thread_name = name;
}

void sandbox_probe_forbidden(void)
{
	/* On no list; personality(0xffffffff) only reads the persona, so the
	 * probe is harmless wherever it is allowed (no sandbox). */
	syscall(SYS_personality, 0xffffffffUL);
}
