#include "memory/host_mem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "vmm/lib/size.h"
#include "vmm/lib/util.h"

static bool read_u64_file(const char *path, uint64_t *out)
{
	char buf[64];
	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return false;
	*out = v;
	return true;
}

/* A "Key:   N kB" (or plain N) line of /proc/meminfo, in the file's unit. */
static bool meminfo_value(const char *key, uint64_t *out)
{
	char buf[8192];
	if (read_small_file("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return false;
	size_t klen = strlen(key);
	for (char *line = buf; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			*out = strtoull(line + klen + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

static bool default_huge_page_size(uint64_t page_size)
{
	uint64_t kb;
	return meminfo_value("Hugepagesize", &kb) && kb * 1024 == page_size;
}

struct hpool {
	bool known;
	uint64_t free; /* HugePages_Free: includes pages reserved by others */
	uint64_t resv;
	uint64_t available; /* free - resv + overcommit headroom */
};

static void read_hpool(uint64_t page_size, struct hpool *p)
{
	char dir[96], path[160];
	uint64_t free, resv, over = 0, surp = 0;

	memset(p, 0, sizeof(*p));
	snprintf(dir, sizeof(dir), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
		 page_size / 1024);
	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	bool ok = read_u64_file(path, &free);
	snprintf(path, sizeof(path), "%s/resv_hugepages", dir);
	ok = ok && read_u64_file(path, &resv);
	if (ok) {
		snprintf(path, sizeof(path), "%s/nr_overcommit_hugepages", dir);
		(void)read_u64_file(path, &over);
		snprintf(path, sizeof(path), "%s/surplus_hugepages", dir);
		(void)read_u64_file(path, &surp);
	} else if (default_huge_page_size(page_size)) {
		ok = meminfo_value("HugePages_Free", &free) &&
		     meminfo_value("HugePages_Rsvd", &resv);
		(void)meminfo_value("HugePages_Surp", &surp);
		(void)read_u64_file("/proc/sys/vm/nr_overcommit_hugepages", &over);
	}
	if (!ok)
		return;
	p->known = true;
	p->free = free;
	p->resv = resv;
	p->available = (free > resv ? free - resv : 0) + (over > surp ? over - surp : 0);
}

/* Where the administrator raises the pool for this page size. */
static const char *hpool_knob(uint64_t page_size, char *buf, size_t n)
{
	if (default_huge_page_size(page_size))
		snprintf(buf, n, "/proc/sys/vm/nr_hugepages");
	else
		snprintf(buf, n, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
			 page_size / 1024);
	return buf;
}

bool host_mem_huge_fits(uint64_t page_size, uint64_t pages)
{
	struct hpool p;
	read_hpool(page_size, &p);
	return !p.known || p.available >= pages;
}

void host_mem_huge_why(const struct host_mem_huge *h, uint64_t pages, char *why, size_t n)
{
	struct hpool p;
	char knob[128];
	struct statfs sf;

	char who[320];
	read_hpool(h->page_size, &p);
	hpool_knob(h->page_size, knob, sizeof(knob));
	if (h->mem_path)
		snprintf(who, sizeof(who), "-mem-path %s", h->mem_path);
	else
		snprintf(who, sizeof(who), "memory-backend-memfd with hugetlb=on");
	if (p.known && p.available < pages)
		snprintf(why, n,
			 "%s: %" PRIu64 " free huge pages of %s, %" PRIu64
			 " needed for %s; raise %s by at least %" PRIu64,
			 who, p.available, SIZE_STR(h->page_size), pages, SIZE_STR(h->ram_size),
			 knob, pages - p.available);
	else if (!fstatfs(h->fd, &sf) && sf.f_blocks != 0 &&
		 sf.f_blocks != (__typeof__(sf.f_blocks))-1 && (uint64_t)sf.f_bfree < pages)
		snprintf(why, n,
			 "%s: the hugetlbfs mount allows %" PRIu64 " more "
			 "pages of %s (size= option), %" PRIu64 " needed for %s; remount it "
			 "with a larger size=",
			 who, (uint64_t)sf.f_bfree, SIZE_STR(h->page_size), pages,
			 SIZE_STR(h->ram_size));
	else
		snprintf(why, n,
			 "%s: cannot get %" PRIu64 " huge pages of %s for %s "
			 "(%" PRIu64 " free in the pool; a hugetlb cgroup limit?); raise %s",
			 who, pages, SIZE_STR(h->page_size), SIZE_STR(h->ram_size), p.available,
			 knob);
}

bool host_mem_fits_available(uint64_t ram_size, uint64_t need, char *why, size_t n)
{
	uint64_t avail_kb;
	if (!meminfo_value("MemAvailable", &avail_kb) || need / 1024 <= avail_kb)
		return true;
	if (need == ram_size)
		snprintf(why, n,
			 "-mem-prealloc: %s of guest RAM does not fit in the %s the "
			 "host has available; lower -m or drop -mem-prealloc",
			 SIZE_STR(ram_size), SIZE_STR(avail_kb * 1024));
	else
		snprintf(why, n,
			 "-mem-prealloc: %s of guest RAM needs %s but the host has %s "
			 "available; lower -m or drop -mem-prealloc",
			 SIZE_STR(ram_size), SIZE_STR(need), SIZE_STR(avail_kb * 1024));
	return false;
}

bool host_mem_fits_total(uint64_t ram_size, char *why, size_t n)
{
	uint64_t total_kb;
	if (!meminfo_value("MemTotal", &total_kb) || ram_size / 1024 <= total_kb)
		return true;
	snprintf(why, n,
		 "guest RAM (%s) is larger than this host's memory (%s); the guest can be "
		 "killed when it uses it all",
		 SIZE_STR(ram_size), SIZE_STR(total_kb * 1024));
	return false;
}

int host_mem_ksm_run(void)
{
	uint64_t v;
	return read_u64_file("/sys/kernel/mm/ksm/run", &v) ? (int)v : -1;
}

int64_t host_mem_ksm_merging_pages(void)
{
	uint64_t v;
	char buf[1024];
	if (read_u64_file("/proc/self/ksm_merging_pages", &v))
		return (int64_t)v;
	if (read_small_file("/proc/self/ksm_stat", buf, sizeof(buf)) > 0) {
		char *s = strstr(buf, "ksm_merging_pages ");
		if (s)
			return (int64_t)strtoull(s + strlen("ksm_merging_pages "), NULL, 10);
	}
	return -1;
}

int host_mem_smaps(uintptr_t start, uint64_t len, struct host_mem_vma *out)
{
	*out = (struct host_mem_vma){ 0 };
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	char line[512];
	bool in = false;
	uint64_t end = start + len;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, kb;
		char key[64];
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') &&
		    line[strspn(line, "0123456789abcdef")] == '-') {
			in = lo >= start && hi <= end; /* a mapping inside the range */
			continue;
		}
		if (!in || sscanf(line, "%63[^:]: %llu kB", key, &kb) != 2)
			continue;
		uint64_t b = (uint64_t)kb << 10;
		if (!strcmp(key, "Rss"))
			out->rss += b;
		else if (!strcmp(key, "AnonHugePages") || !strcmp(key, "ShmemPmdMapped"))
			out->thp += b;
		else if (!strcmp(key, "Swap"))
			out->swap += b;
		else if (!strcmp(key, "Shared_Hugetlb") || !strcmp(key, "Private_Hugetlb"))
			out->hugetlb += b;
	}
	fclose(f);
	return 0;
}

int64_t host_mem_self_rss(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	long long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : (int64_t)kb << 10;
}
