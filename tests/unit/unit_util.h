/* Helpers shared by unit tests: a mapping whose second page has no
 * backing (a touch there is SIGBUS), and a forked child whose exit status
 * and stderr the test inspects (for code that exits, or installs what
 * cannot be undone, such as a seccomp filter). Header-only: each test is
 * its own binary. */
#ifndef MEMVM_UNIT_UTIL_H
#define MEMVM_UNIT_UTIL_H

#include <check.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two shared pages of a memfd that holds one: the second lies past the
 * end of the file. munmap(p, 8192) when done. */
static inline uint8_t *unit_map_half_backed(void)
{
	int fd = memfd_create("memvm-unit-test", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p;
}

/* Runs fn(arg) in a child (no core dumps) with stderr to a pipe; the
 * child exits with fn's return value. Returns the wait status, the
 * child's stderr in out (NUL-terminated). */
static inline int unit_run_child(int (*fn)(void *), void *arg, char *out, size_t outlen)
{
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		_exit(fn(arg));
	}
	close(pipefd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < outlen && (r = read(pipefd[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pipefd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

#endif
