/* Host memory pressure for the autopilot (see host_pressure.h). */
#include "memory/host_pressure.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct host_pressure {
	int psi_fd;     /* memory.pressure or /proc/pressure/memory */
	int trigger_fd; /* a second open of it with a trigger written, or -1 */
	int current_fd; /* cgroup memory.current, -1: system-wide */
	int high_fd, max_fd;
	int meminfo_fd;
	int huge_free_fd, huge_resv_fd;
	char source[PATH_MAX + 8];
};

static const char *const cgroup_mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };

/* Reads a whole small file from offset 0 into buf (NUL-terminated). */
static int slurp(int fd, char *buf, size_t n)
{
	if (fd < 0)
		return -ENOENT;
	ssize_t r = pread(fd, buf, n - 1, 0);
	if (r < 0)
		return -errno;
	buf[r] = 0;
	return 0;
}

static int open_ro(const char *dir, const char *name)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return -1;
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* A cgroup file's value: a number, or "max" (UINT64_MAX). */
static int read_limit(int fd, uint64_t *out)
{
	char buf[64];
	if (slurp(fd, buf, sizeof(buf)))
		return -EIO;
	if (!strncmp(buf, "max", 3)) {
		*out = UINT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EIO;
	*out = v;
	return 0;
}

/* memvm's cgroup v2 directory, or false. */
static bool own_cgroup(char *dir, size_t n)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[PATH_MAX + 16], rel[PATH_MAX] = "";
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			size_t len = strlen(line + 3);
			if (len >= sizeof(rel))
				break;
			memcpy(rel, line + 3, len + 1);
			found = true;
			break;
		}
	}
	fclose(f);
	if (!found)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(cgroup_mounts); i++) {
		char probe[PATH_MAX];
		if (snprintf(probe, sizeof(probe), "%s/cgroup.controllers", cgroup_mounts[i]) >=
		    (int)sizeof(probe))
			continue;
		if (access(probe, R_OK))
			continue;
		if (snprintf(dir, n, "%s%s", cgroup_mounts[i], strcmp(rel, "/") ? rel : "") >=
		    (int)n)
			return false;
		return true;
	}
	return false;
}

/* The nearest cgroup, memvm's own or an ancestor below the root, with a
 * finite memory.high or memory.max. */
static bool open_limited_cgroup(struct host_pressure *hp)
{
	char dir[PATH_MAX];
	if (!own_cgroup(dir, sizeof(dir)))
		return false;
	for (;;) {
		int high = open_ro(dir, "memory.high"), max = open_ro(dir, "memory.max");
		uint64_t h = UINT64_MAX, m = UINT64_MAX;
		if (high >= 0)
			(void)read_limit(high, &h);
		if (max >= 0)
			(void)read_limit(max, &m);
		if (h != UINT64_MAX || m != UINT64_MAX) {
			hp->current_fd = open_ro(dir, "memory.current");
			hp->psi_fd = open_ro(dir, "memory.pressure");
			if (hp->current_fd >= 0) {
				hp->high_fd = high;
				hp->max_fd = max;
				snprintf(hp->source, sizeof(hp->source), "cgroup %s", dir);
				return true;
			}
			if (hp->psi_fd >= 0)
				close(hp->psi_fd);
			hp->psi_fd = -1;
		}
		if (high >= 0)
			close(high);
		if (max >= 0)
			close(max);
		/* No memory.high at the root: stop below it. */
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return false;
		*slash = 0;
		int probe = open_ro(dir, "memory.high");
		if (probe < 0)
			return false;
		close(probe);
	}
}

/* A trigger: woken (EPOLLPRI) when tasks stall 100 ms within 1 s. */
static void open_trigger(struct host_pressure *hp, const char *path)
{
	static const char trig[] = "some 100000 1000000";
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, trig, sizeof(trig)) < 0) {
		close(fd);
		return;
	}
	hp->trigger_fd = fd;
}

int host_pressure_open(uint64_t huge_page_size, struct host_pressure **out)
{
	struct host_pressure *hp = calloc(1, sizeof(*hp));
	if (!hp)
		return -ENOMEM;
	hp->psi_fd = hp->trigger_fd = hp->current_fd = hp->high_fd = hp->max_fd = -1;
	hp->meminfo_fd = hp->huge_free_fd = hp->huge_resv_fd = -1;
	char path[PATH_MAX + 32];
	if (open_limited_cgroup(hp)) {
		snprintf(path, sizeof(path), "%s/memory.pressure", hp->source + strlen("cgroup "));
	} else {
		snprintf(hp->source, sizeof(hp->source), "system");
		snprintf(path, sizeof(path), "/proc/pressure/memory");
		hp->psi_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (hp->psi_fd >= 0)
		open_trigger(hp, path);
	hp->meminfo_fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (huge_page_size > 4096) {
		char dir[128];
		snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
			 huge_page_size >> 10);
		hp->huge_free_fd = open_ro(dir, "free_hugepages");
		hp->huge_resv_fd = open_ro(dir, "resv_hugepages");
	}
	*out = hp;
	return 0;
}

void host_pressure_free(struct host_pressure *hp)
{
	if (!hp)
		return;
	int fds[] = { hp->psi_fd, hp->trigger_fd, hp->current_fd,   hp->high_fd,
		      hp->max_fd, hp->meminfo_fd, hp->huge_free_fd, hp->huge_resv_fd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(hp);
}

static bool meminfo_field(const char *text, const char *key, uint64_t *out)
{
	const char *p = strstr(text, key);
	if (!p)
		return false;
	unsigned long long kb;
	if (sscanf(p + strlen(key), " %llu", &kb) != 1)
		return false;
	*out = (uint64_t)kb << 10;
	return true;
}

int host_pressure_read(struct host_pressure *hp, struct host_pressure_sample *out)
{
	char buf[4096];
	*out = (struct host_pressure_sample){ 0 };
	if (!slurp(hp->psi_fd, buf, sizeof(buf))) {
		/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=123" */
		const char *t = strstr(buf, "total=");
		unsigned long long v;
		if (!strncmp(buf, "some", 4) && t && sscanf(t, "total=%llu", &v) == 1) {
			out->psi = true;
			out->stall_us = v;
		}
	}
	if (hp->current_fd >= 0) {
		uint64_t cur, high = UINT64_MAX, max = UINT64_MAX;
		if (!read_limit(hp->current_fd, &cur)) {
			(void)read_limit(hp->high_fd, &high);
			(void)read_limit(hp->max_fd, &max);
			if (MIN(high, max) != UINT64_MAX) {
				out->limited = true;
				out->usage = cur;
				out->limit = MIN(high, max);
			}
		}
	}
	if (!out->limited && !slurp(hp->meminfo_fd, buf, sizeof(buf))) {
		uint64_t total, avail;
		if (meminfo_field(buf, "MemTotal:", &total) &&
		    meminfo_field(buf, "MemAvailable:", &avail) && avail <= total) {
			out->limited = true;
			out->usage = total - avail;
			out->limit = total;
		}
	}
	uint64_t hfree, hresv;
	if (!read_limit(hp->huge_free_fd, &hfree) && !read_limit(hp->huge_resv_fd, &hresv)) {
		out->huge = true;
		out->huge_free = hfree > hresv ? hfree - hresv : 0;
	}
	return out->psi || out->limited || out->huge ? 0 : -EIO;
}

int host_pressure_trigger_fd(const struct host_pressure *hp)
{
	return hp->trigger_fd;
}

const char *host_pressure_source(const struct host_pressure *hp)
{
	return hp->source;
}
