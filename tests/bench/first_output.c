/* first_output: runs a VMM and measures what `make bench` compares.
 *
 *   first_output [-s FROM] [-p TEXT] [-m RAM_MIB] [-t SECONDS] [-q] -- CMD...
 *
 * Starts CMD with its stdout and stderr on a pipe and prints one line,
 * "SECONDS VMM_RSS_KIB GUEST_RSS_KIB", taken when TEXT first appears in
 * its output (any output when TEXT is not given): the time since exec, the
 * process's RSS minus the resident part of its guest RAM mapping(s), and
 * that resident part. Guest RAM is every mapping at least RAM_MIB large
 * (both VMMs map it in one piece per region; QEMU may round it up). Without
 * -q it then kills CMD (SIGKILL); with -q it leaves it running and prints
 * its pid as a fourth field, for a later step of the benchmark.
 * With -s, SECONDS counts from FROM's first appearance instead of exec.
 * "first_output -r PID -m RAM_MIB" prints "VMM_RSS_KIB GUEST_RSS_KIB" of a
 * running process.
 * Exit status 1 and a line on stderr if TEXT never came within -t SECONDS
 * (default 120) or CMD ended first. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sums Rss of the mappings of at least min_kib (guest RAM) and of all. */
static int rss_split(pid_t pid, unsigned long min_kib, unsigned long *total, unsigned long *guest)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	unsigned long lo, hi, kib;
	int big = 0;
	*total = *guest = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			big = min_kib && (hi - lo) / 1024 >= min_kib;
		} else if (sscanf(line, "Rss: %lu kB", &kib) == 1) {
			*total += kib;
			if (big)
				*guest += kib;
		}
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	const char *text = NULL, *from = NULL;
	double t_from = -1;
	unsigned long ram_mib = 0;
	double limit = 120;
	int keep = 0, opt;
	pid_t of = 0;
	while ((opt = getopt(argc, argv, "+s:p:m:t:qr:")) != -1) {
		switch (opt) {
		case 's':
			from = optarg;
			break;
		case 'p':
			text = optarg;
			break;
		case 'm':
			ram_mib = strtoul(optarg, NULL, 0);
			break;
		case 't':
			limit = atof(optarg);
			break;
		case 'q':
			keep = 1;
			break;
		case 'r':
			of = (pid_t)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (of > 0) {
		unsigned long total, guest;
		if (rss_split(of, ram_mib * 1024, &total, &guest) < 0)
			return 1;
		printf("%lu %lu\n", total - guest, guest);
		return 0;
	}
	if (optind >= argc) {
		fprintf(stderr,
			"usage: first_output [-p TEXT] [-m RAM_MIB] [-t S] [-q] -- CMD...\n");
		return 2;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	close(p[1]);
	/* Keep the tail of the output so TEXT split across reads is found. */
	static char buf[1 << 16];
	size_t len = 0, tl = text ? strlen(text) : 0;
	for (;;) {
		double left = limit - (now() - t0);
		if (left <= 0) {
			fprintf(stderr, "first_output: %s: no \"%s\" within %.0f s\n", argv[optind],
				text ? text : "output", limit);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (len > sizeof(buf) / 2) {
			size_t keep_n = tl < len ? tl : len;
			memmove(buf, buf + len - keep_n, keep_n);
			len = keep_n;
		}
		ssize_t n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0) {
			int st;
			waitpid(pid, &st, 0);
			fprintf(stderr, "first_output: %s ended (status %d) before \"%s\"\n",
				argv[optind], WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
				text ? text : "output");
			return 1;
		}
		len += (size_t)n;
		buf[len] = 0;
		if (from && t_from < 0) {
			char *at = memmem(buf, len, from, strlen(from));
			if (!at)
				continue;
			t_from = now();
			/* TEXT counts only after FROM */
			len -= (size_t)(at - buf);
			memmove(buf, at, len);
			buf[len] = 0;
		}
		if (!text || memmem(buf, len, text, tl))
			break;
	}
	double t = now() - (from ? t_from : t0);
	unsigned long total = 0, guest = 0;
	if (rss_split(pid, ram_mib * 1024, &total, &guest) < 0)
		total = guest = 0;
	if (keep) {
		/* The VMM's console output still needs a reader: drain it in a child. */
		printf("%.4f %lu %lu %d\n", t, total - guest, guest, (int)pid);
		fflush(stdout);
		if (fork() == 0) {
			char sink[4096];
			fclose(stdout);
			while (read(p[0], sink, sizeof(sink)) > 0)
				;
			_exit(0);
		}
		return 0;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("%.4f %lu %lu\n", t, total - guest, guest);
	return 0;
}
