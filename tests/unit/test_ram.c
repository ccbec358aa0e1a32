/* Guest RAM backings, errors, discard, prealloc and summary (no /dev/kvm).
 * File backings live under a tmpfs (/dev/shm). As root the suite also
 * mounts a read-only and a 4 MiB tmpfs and a hugetlbfs, and reserves huge
 * pages itself (restoring nr_hugepages afterwards); otherwise those tests
 * print SKIP with the reason and pass. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "memory/prealloc.h"
#include "memory/ram.h"
#include "tests/unit/check_main.h"

#define MiB        (1ull << 20)
#define HUGE       (2 * MiB)
#define POOL_EXTRA 16 /* huge pages the suite adds to the pool */

static char g_base[256];   /* temp dir on tmpfs */
static char g_plain[300];  /* empty directory for file backings (tmpfs) */
static char g_disk[256];   /* empty directory on a disk filesystem, "" if none */
static char g_ro[300];     /* read-only tmpfs (root) */
static char g_small[300];  /* 4 MiB tmpfs (root) */
static char g_huge[300];   /* hugetlbfs, 2 MiB pages, size=2G (root) */
static char g_hsmall[300]; /* hugetlbfs, 2 MiB pages, size=4M (root) */
static bool g_ro_ok, g_small_ok, g_huge_ok, g_hsmall_ok;
static const char *g_huge_skip = "not set up";
static long g_old_nr = -1, g_set_nr = -1;

/* ---- helpers ---- */

struct reports {
	int warnings, notices;
	char last_warning[512], last_notice[512];
};

static void capture(void *opaque, enum ram_report_kind kind, const char *line)
{
	struct reports *r = opaque;
	if (kind == RAM_REPORT_WARNING) {
		r->warnings++;
		snprintf(r->last_warning, sizeof(r->last_warning), "%s", line);
	} else {
		r->notices++;
		snprintf(r->last_notice, sizeof(r->last_notice), "%s", line);
	}
}

static void cfg_init(struct ram_config *c, uint64_t size, struct reports *r)
{
	ram_config_init(c, size);
	c->progress = false;
	memset(r, 0, sizeof(*r));
	c->report = capture;
	c->report_opaque = r;
}

static uint64_t resident(void *base, uint64_t len)
{
	static unsigned char vec[1 << 16];
	uint64_t n = 0;
	ck_assert_uint_le(len / 4096, sizeof(vec));
	ck_assert_int_eq(mincore(base, len, vec), 0);
	for (uint64_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	return n * 4096;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	ck_assert_ptr_nonnull(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static uint64_t fd_blocks_bytes(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static long read_long(const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static bool write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	int n = snprintf(buf, sizeof(buf), "%ld\n", v);
	bool ok = write(fd, buf, (size_t)n) == n;
	close(fd);
	return ok;
}

#define HP_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"
static long huge_avail(void)
{
	return read_long(HP_DIR "free_hugepages") - read_long(HP_DIR "resv_hugepages");
}

/* Free huge pages of our own hugetlbfs mount (its size= budget minus what
 * its files and mappings hold, reservations included). This is the pool
 * accounting HugePages_Free follows, but only for this mount, so other
 * processes on the machine using huge pages cannot disturb the tests. */
static long mount_free(const char *dir)
{
	struct statfs sf;
	ck_assert_int_eq(statfs(dir, &sf), 0);
	ck_assert_uint_gt(sf.f_blocks, 0);
	return (long)sf.f_bfree;
}

static void rm_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		char p[600];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

/* ---- fixtures (unchecked: they run in the parent, so they clean up
 * even after a test's child process failed) ---- */

static bool on_tmpfs(const char *dir)
{
	struct statfs sf;
	return !statfs(dir, &sf) && sf.f_type == TMPFS_MAGIC;
}

static void setup_dirs(void)
{
	const char *parent = on_tmpfs("/dev/shm") ? "/dev/shm" : on_tmpfs("/run") ? "/run" : "/tmp";
	snprintf(g_base, sizeof(g_base), "%s/memvm-test-ram-XXXXXX", parent);
	if (!mkdtemp(g_base))
		abort();
	snprintf(g_plain, sizeof(g_plain), "%s/plain", g_base);
	snprintf(g_ro, sizeof(g_ro), "%s/ro", g_base);
	snprintf(g_small, sizeof(g_small), "%s/small", g_base);
	snprintf(g_huge, sizeof(g_huge), "%s/huge", g_base);
	snprintf(g_hsmall, sizeof(g_hsmall), "%s/hsmall", g_base);
	mkdir(g_plain, 0700);
	mkdir(g_ro, 0700);
	mkdir(g_small, 0700);
	mkdir(g_huge, 0700);
	snprintf(g_disk, sizeof(g_disk), "/var/tmp/memvm-test-ram-XXXXXX");
	if (!mkdtemp(g_disk) || on_tmpfs(g_disk)) {
		rmdir(g_disk);
		g_disk[0] = '\0';
	}
	mkdir(g_hsmall, 0700);
	if (geteuid() == 0) {
		g_ro_ok = !mount("memvm-test", g_ro, "tmpfs", MS_RDONLY, "size=1m");
		g_small_ok = !mount("memvm-test", g_small, "tmpfs", 0, "size=4m");
	}
}

static void teardown_dirs(void)
{
	if (g_ro_ok)
		umount(g_ro);
	if (g_small_ok) {
		rm_files(g_small);
		umount(g_small);
	}
	g_ro_ok = g_small_ok = false;
	rm_files(g_plain);
	rmdir(g_plain);
	if (g_disk[0]) {
		rm_files(g_disk);
		rmdir(g_disk);
	}
	rmdir(g_ro);
	rmdir(g_small);
	rmdir(g_huge);
	rmdir(g_hsmall);
	rmdir(g_base);
}

static void setup_huge(void)
{
	setup_dirs();
	g_huge_ok = false;
	if (geteuid() != 0) {
		g_huge_skip = "needs root to mount hugetlbfs and reserve huge pages";
		return;
	}
	if (mount("memvm-test", g_huge, "hugetlbfs", 0, "pagesize=2M,size=2G")) {
		g_huge_skip = "cannot mount hugetlbfs";
		return;
	}
	g_hsmall_ok = !mount("memvm-test", g_hsmall, "hugetlbfs", 0, "pagesize=2M,size=4M");
	g_old_nr = read_long(HP_DIR "nr_hugepages");
	if (g_old_nr < 0 || !write_long(HP_DIR "nr_hugepages", g_old_nr + POOL_EXTRA) ||
	    read_long(HP_DIR "nr_hugepages") != g_old_nr + POOL_EXTRA) {
		g_huge_skip = "the kernel could not add 16 huge pages of 2 MiB to the pool";
		if (g_old_nr >= 0)
			write_long(HP_DIR "nr_hugepages", g_old_nr);
		g_old_nr = -1;
		umount(g_huge);
		if (g_hsmall_ok)
			umount(g_hsmall);
		g_hsmall_ok = false;
		return;
	}
	g_set_nr = g_old_nr + POOL_EXTRA;
	g_huge_ok = true;
}

static void teardown_huge(void)
{
	if (g_huge_ok) {
		rm_files(g_huge);
		umount(g_huge);
		if (g_hsmall_ok) {
			rm_files(g_hsmall);
			umount(g_hsmall);
		}
		g_hsmall_ok = false;
		/* Give back only what we added if someone else changed it meanwhile. */
		long now = read_long(HP_DIR "nr_hugepages");
		write_long(HP_DIR "nr_hugepages", now == g_set_nr ? g_old_nr : now - POOL_EXTRA);
	}
	g_huge_ok = false;
	teardown_dirs();
}

#define NEED_ROOT_MOUNT(ok)                                                          \
	do {                                                                         \
		if (!(ok)) {                                                         \
			printf("SKIP: %s: needs root to mount a tmpfs\n", __func__); \
			return;                                                      \
		}                                                                    \
	} while (0)

#define NEED_HUGE()                                                      \
	do {                                                             \
		if (!g_huge_ok) {                                        \
			printf("SKIP: %s: %s\n", __func__, g_huge_skip); \
			return;                                          \
		}                                                        \
	} while (0)

/* ---- anonymous and memfd ---- */

START_TEST(t_config_defaults)
{
	struct ram_config c;
	ram_config_init(&c, 123 * 4096);
	ck_assert_uint_eq(c.size, 123 * 4096);
	ck_assert(c.merge && c.thp && c.progress);
	ck_assert(!c.shared && !c.prealloc && !c.mem_path && !c.report);
	ck_assert_uint_eq(c.prealloc_threads, 0);
	ck_assert_str_eq(ram_backing_name(RAM_BACKING_ANON), "anonymous");
	ck_assert_str_eq(ram_backing_name(RAM_BACKING_MEMFD), "memfd");
	ck_assert_str_eq(ram_backing_name(RAM_BACKING_FILE), "file");
	ck_assert_str_eq(ram_backing_name(RAM_BACKING_HUGETLBFS), "hugetlbfs");
}
END_TEST

START_TEST(t_anon_basic)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	cfg_init(&c, 8 * MiB, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_ANON);
	ck_assert_int_eq(ram_fd(ram), -1);
	ck_assert_uint_eq(ram_size(ram), 8 * MiB);
	ck_assert_uint_eq(ram_page_size(ram), 4096);
	ck_assert_uint_eq((uintptr_t)ram_base(ram) % (2 * MiB), 0);
	ck_assert_uint_eq(resident(ram_base(ram), 8 * MiB), 0);
	memset(ram_base(ram), 0x5a, 8 * MiB);

	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_str_eq(s.backing, "anonymous");
	ck_assert_ptr_null(s.mem_path);
	ck_assert_uint_eq(s.page_size, 4096);
	ck_assert_uint_eq(s.size, 8 * MiB);
	ck_assert(!s.shared && !s.preallocated);
	ck_assert(s.merge_requested && s.merge_effective);
	ck_assert(s.thp); /* THP is "madvise" on these hosts */
	ck_assert_int_eq(s.rss_bytes, (int64_t)(8 * MiB));
	ck_assert_int_ge(s.ksm_merging_pages, 0); /* kernel 6.18 has the counter */
	ck_assert(s.ksm_run == 0 || s.ksm_run == 1 || s.ksm_run == 2);
	ck_assert_int_eq(r.notices + r.warnings, 0); /* nothing to say for plain RAM */
	ram_unmap(ram);
}
END_TEST

START_TEST(t_memfd_and_ksm_notice)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	cfg_init(&c, 4 * MiB, &r);
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_MEMFD);
	ck_assert_int_ge(ram_fd(ram), 0);
	ck_assert_int_eq(fcntl(ram_fd(ram), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	memcpy((char *)ram_base(ram) + MiB, "hello", 5);
	char buf[6] = { 0 };
	ck_assert_int_eq(pread(ram_fd(ram), buf, 5, MiB), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(r.notices, 1);
	ck_assert_str_eq(r.last_notice, "mem-merge=on has no effect on shared or hugetlbfs memory "
					"(KSM merges only private anonymous pages)");
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_str_eq(s.backing, "memfd");
	ck_assert(s.shared && s.merge_requested && !s.merge_effective && !s.thp);
	ram_unmap(ram);

	cfg_init(&c, 4 * MiB, &r);
	c.shared = true;
	c.merge = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(r.notices, 0);
	ram_unmap(ram);
}
END_TEST

START_TEST(t_size_errors)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram = (struct ram *)1;
	char err[256];

	cfg_init(&c, 0, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ram);
	ck_assert_ptr_nonnull(strstr(err, "zero"));

	cfg_init(&c, 4 * MiB + 1, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a multiple of 4 KiB"));

	cfg_init(&c, UINT64_MAX & ~4095ull, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EOVERFLOW);
	ck_assert_ptr_nonnull(strstr(err, "address space"));

	/* 4 EiB passes the arithmetic but no kernel maps it. */
	cfg_init(&c, 1ull << 62, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "cannot map 4 EiB of guest RAM"));

	/* -m 1T -mem-prealloc on a 24 GiB host: refused before mapping. */
	cfg_init(&c, 1ull << 40, &r);
	c.prealloc = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(err, "-mem-prealloc: 1 TiB of guest RAM does not fit"));
	ck_assert_ptr_nonnull(strstr(err, "available"));
	ck_assert_ptr_null(strchr(err, '\n'));

	/* Without prealloc it maps (MAP_NORESERVE) with a warning. */
	cfg_init(&c, 1ull << 40, &r);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(r.warnings, 1);
	ck_assert_ptr_nonnull(strstr(r.last_warning, "larger than this host's memory"));
	ram_unmap(ram);
}
END_TEST

/* ---- files on -mem-path ---- */

START_TEST(t_dir_tmpfs_tmpfile)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_plain;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(count_entries(g_plain), 0); /* unlinked at once */
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_FILE);
	ck_assert_uint_eq(ram_page_size(ram), 4096);
	ck_assert_int_ge(ram_fd(ram), 0);
	struct stat st;
	ck_assert_int_eq(fstat(ram_fd(ram), &st), 0);
	ck_assert_int_eq(st.st_size, 4 * MiB);
	ck_assert_int_eq(st.st_nlink, 0);
	/* Our own tmpfs file is mapped shared: one copy of each page. */
	memset(ram_base(ram), 1, 4 * MiB);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), 4 * MiB);
	ck_assert_uint_eq(resident(ram_base(ram), 4 * MiB), 4 * MiB);
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_str_eq(s.backing, "file");
	ck_assert_str_eq(s.mem_path, g_plain);
	ck_assert(s.shared && !s.merge_effective);
	ck_assert_int_eq(r.notices, 1); /* KSM notice */
	ck_assert_int_eq(r.warnings, 0);
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_plain), 0);
}
END_TEST

START_TEST(t_dir_disk_tmpfile)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	if (!g_disk[0]) {
		printf("SKIP: %s: /var/tmp is not on a disk filesystem\n", __func__);
		return;
	}
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_disk;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(count_entries(g_disk), 0);
	/* Private: guest writes are anonymous memory, the file gets none. */
	memset(ram_base(ram), 1, 4 * MiB);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), 0);
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert(!s.shared && s.merge_effective); /* KSM merges private COW pages */
	ck_assert_int_eq(r.notices + r.warnings, 0);
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_disk), 0);
}
END_TEST

START_TEST(t_dir_shared_tmpfile)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_plain;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(count_entries(g_plain), 0);
	memset(ram_base(ram), 1, 4 * MiB);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), 4 * MiB);
	ck_assert_int_eq(r.notices, 1); /* KSM notice */
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_plain), 0);
}
END_TEST

extern bool ram_test_no_tmpfile; /* memory/ram.c: force the mkstemp fallback */

START_TEST(t_dir_mkstemp_fallback)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	ram_test_no_tmpfile = true; /* this test runs in its own process */
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_plain;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(count_entries(g_plain), 0);
	struct stat st;
	ck_assert_int_eq(fstat(ram_fd(ram), &st), 0);
	ck_assert_int_eq(st.st_nlink, 0);
	memset(ram_base(ram), 3, 4 * MiB);
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_plain), 0);

	/* An error after the file exists leaves nothing either (1 TiB does
	 * not fit the tmpfs). */
	cfg_init(&c, 1ull << 40, &r);
	c.mem_path = g_plain;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOSPC);
	ck_assert_int_eq(count_entries(g_plain), 0);
	if (g_huge_ok) {
		cfg_init(&c, 3 * MiB, &r);
		c.mem_path = g_huge;
		ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
		ck_assert_int_eq(count_entries(g_huge), 0);
		cfg_init(&c, 4 * MiB, &r);
		c.mem_path = g_huge;
		ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
		ck_assert_int_eq(count_entries(g_huge), 0);
		ram_unmap(ram);
	}
}
END_TEST

START_TEST(t_existing_file)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256], path[400];
	snprintf(path, sizeof(path), "%s/ram.img", g_plain);

	/* Empty: grown to the RAM size, shared writes land in it. */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = path;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	memcpy(ram_base(ram), "data", 4);
	ram_unmap(ram);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 4 * MiB);
	char buf[5] = { 0 };
	ck_assert_int_eq(pread(fd, buf, 4, 0), 4);
	ck_assert_str_eq(buf, "data");

	/* Shorter than RAM: refused, file untouched (QEMU refuses too). */
	ck_assert_int_eq(ftruncate(fd, MiB), 0);
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "file is 1 MiB but guest RAM is 4 MiB"));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, MiB);

	/* Private (the default): the guest sees the file, never changes it,
	 * and a discard drops only the private copies. */
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(ftruncate(fd, 4 * MiB), 0);
	char *src = malloc(4 * MiB);
	memset(src, 'A', 4 * MiB);
	ck_assert_int_eq(pwrite(fd, src, 4 * MiB, 0), (ssize_t)(4 * MiB));
	c.shared = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	char *g = ram_base(ram);
	ck_assert_int_eq(g[12345], 'A');
	memset(g, 'B', 2 * MiB);
	uint64_t freed;
	ck_assert_int_eq(ram_discard(ram, 0, MiB, &freed), 0);
	ck_assert_uint_eq(freed, MiB);
	ck_assert_int_eq(g[0], 'A');   /* back to the file's contents */
	ck_assert_int_eq(g[MiB], 'B'); /* outside the range: kept */
	ram_unmap(ram);
	ck_assert_int_eq(pread(fd, src, 4 * MiB, 0), (ssize_t)(4 * MiB));
	for (uint64_t i = 0; i < 4 * MiB; i += 4096)
		ck_assert_int_eq(src[i], 'A');
	free(src);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(t_path_errors)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512], path[400];

	snprintf(path, sizeof(path), "%s/nope", g_plain);
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = path;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(ram);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "no such file or directory"));
	ck_assert_ptr_nonnull(strstr(err, "mount -t hugetlbfs"));
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_int_eq(count_entries(g_plain), 0);

	c.mem_path = "/dev/null";
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a directory or a regular file"));

	/* A file that is not writable (as root only a read-only mount stops us). */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro.img", g_plain);
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0400);
		ck_assert_int_ge(fd, 0);
		close(fd);
		c.mem_path = path;
		ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EACCES);
		ck_assert_ptr_nonnull(strstr(err, "file is not writable"));
		ck_assert_int_eq(unlink(path), 0);
	}
}
END_TEST

START_TEST(t_unwritable_dir)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	cfg_init(&c, 4 * MiB, &r);
	if (geteuid() == 0) {
		NEED_ROOT_MOUNT(g_ro_ok);
		c.mem_path = g_ro;
		ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EROFS);
		ck_assert_int_eq(count_entries(g_ro), 0);
	} else {
		ck_assert_int_eq(chmod(g_plain, 0500), 0);
		c.mem_path = g_plain;
		int ret = ram_map(&c, &ram, err, sizeof(err));
		chmod(g_plain, 0700);
		ck_assert_int_eq(ret, -EACCES);
		ck_assert_int_eq(count_entries(g_plain), 0);
	}
	ck_assert_ptr_null(ram);
	ck_assert_ptr_nonnull(strstr(err, "directory is not writable"));
	ck_assert_ptr_nonnull(strstr(err, c.mem_path));
}
END_TEST

START_TEST(t_full_filesystem)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512], path[400];
	NEED_ROOT_MOUNT(g_small_ok);

	/* 8 MiB of shared RAM on a 4 MiB tmpfs: refused at start. */
	cfg_init(&c, 8 * MiB, &r);
	c.mem_path = g_small;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOSPC);
	ck_assert_ptr_nonnull(
		strstr(err, "the filesystem has 4 MiB free but shared guest RAM needs 8 MiB"));
	ck_assert_int_eq(count_entries(g_small), 0);

	/* Our tmpfs file is shared either way, so the same answer. */
	c.shared = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOSPC);
	ck_assert_int_eq(count_entries(g_small), 0);

	/* The filesystem fills up after start: prealloc says so cleanly. */
	cfg_init(&c, 2 * MiB, &r);
	c.mem_path = g_small;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/filler", g_small);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, 3 * MiB), 0);
	close(fd);
	ck_assert_int_eq(ram_prealloc(ram, err, sizeof(err)), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err, "no space left for 2 MiB of shared guest RAM"));
	ram_unmap(ram);
	unlink(path);
	ck_assert_int_eq(count_entries(g_small), 0);
}
END_TEST

/* ---- discard on 4 KiB backings ---- */

START_TEST(t_discard_anon)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	uint64_t freed = 7;
	cfg_init(&c, 8 * MiB, &r);
	c.thp = false; /* khugepaged could refill a split huge page meanwhile */
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	char *g = ram_base(ram);
	memset(g, 0x77, 8 * MiB);
	ck_assert_uint_eq(resident(g, 8 * MiB), 8 * MiB);

	ck_assert_int_eq(ram_discard(ram, MiB, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 2 * MiB);
	ck_assert_uint_eq(resident(g, 8 * MiB), 6 * MiB);

	/* Nothing resident there any more: nothing freed. */
	ck_assert_int_eq(ram_discard(ram, MiB, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(g[MiB], 0);
	ck_assert_int_eq(g[3 * MiB - 1], 0);
	ck_assert_int_eq(g[MiB - 1], 0x77);
	ck_assert_int_eq(g[3 * MiB], 0x77);
	/* Those two reads mapped the shared zero page, which mincore (and so
	 * freed_bytes) counts as resident. */
	ck_assert_int_eq(ram_discard(ram, MiB, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 2 * 4096);

	/* Argument checks, overflow-safe. */
	ck_assert_int_eq(ram_discard(ram, 100, 4096, &freed), -EINVAL);
	ck_assert_int_eq(ram_discard(ram, 0, 100, &freed), -EINVAL);
	ck_assert_int_eq(ram_discard(ram, 8 * MiB, 4096, &freed), -ERANGE);
	ck_assert_int_eq(ram_discard(ram, 4096, 8 * MiB, &freed), -ERANGE);
	ck_assert_int_eq(ram_discard(ram, UINT64_MAX & ~4095ull, 8192, &freed), -ERANGE);
	ck_assert_int_eq(ram_discard(ram, 8 * MiB, 0, &freed), 0);
	ck_assert_int_eq(ram_discard(ram, 0, 4096, NULL), 0);
	ck_assert_int_eq(ram_reclaim(ram, 0, 8 * MiB), 0);
	ck_assert_int_eq(ram_reclaim(ram, 1, 4096), -EINVAL);
	ck_assert_int_eq(ram_discard_reported(ram, 4 * MiB, MiB, &freed), 0);
	ck_assert_uint_eq(freed, MiB);

	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_uint_eq(s.discarded_bytes, 2 * MiB + 2 * 4096 + 4096 + MiB);
	ck_assert_int_eq(s.rss_bytes, (int64_t)(8 * MiB - 2 * MiB - 4096 - MiB));
	ram_unmap(ram);
}
END_TEST

/* Batch discard: one residency pass, the same effect as per-range calls. */
START_TEST(t_discard_ranges)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	uint64_t freed = 7;
	cfg_init(&c, 8 * MiB, &r);
	c.thp = false; /* khugepaged could refill a split huge page meanwhile */
	c.thp = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	char *g = ram_base(ram);
	memset(g, 0x55, 8 * MiB);

	const struct ram_range rr[] = {
		{ 0, 4096 },
		{ 8192, 4096 },
		{ MiB, 64 * 1024 },
		{ 6 * MiB, 4096 },
	};
	ck_assert_int_eq(ram_discard_ranges(ram, rr, 4, &freed), 0);
	ck_assert_uint_eq(freed, 3 * 4096 + 64 * 1024);
	ck_assert_uint_eq(resident(g, 8 * MiB), 8 * MiB - 3 * 4096 - 64 * 1024);
	ck_assert_int_eq(g[0], 0);
	ck_assert_int_eq(g[4096], 0x55); /* between two ranges: kept */
	ck_assert_int_eq(g[8192], 0);
	ck_assert_int_eq(g[MiB + 64 * 1024], 0x55);
	ck_assert_int_eq(g[6 * MiB + 4096], 0x55);

	/* Unsorted or overlapping: refused, nothing touched. */
	const struct ram_range bad[] = { { 2 * MiB, 4096 }, { MiB * 2 - 4096, 8192 } };
	ck_assert_int_eq(ram_discard_ranges(ram, bad, 2, &freed), -EINVAL);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(g[2 * MiB], 0x55);
	/* Out of range and unaligned ranges: refused. */
	const struct ram_range oob[] = { { 0, 4096 }, { 8 * MiB, 4096 } };
	ck_assert_int_eq(ram_discard_ranges(ram, oob, 2, &freed), -ERANGE);
	const struct ram_range odd[] = { { 100, 4096 } };
	ck_assert_int_eq(ram_discard_ranges(ram, odd, 1, &freed), -EINVAL);
	/* Ranges far apart in one pass: each counted exactly. */
	const struct ram_range wide[] = { { 4 * MiB, 4096 }, { 8 * MiB - 4096, 4096 } };
	ck_assert_int_eq(ram_discard_ranges(ram, wide, 2, &freed), 0);
	ck_assert_uint_eq(freed, 2 * 4096);
	ck_assert_int_eq(ram_discard_ranges(ram, rr, 0, &freed), 0);
	ck_assert_uint_eq(freed, 0);

	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_uint_eq(s.discarded_bytes, 3 * 4096 + 64 * 1024 + 2 * 4096);
	ram_unmap(ram);
}
END_TEST

/* blocks: bytes the file holds once RAM is written (0: private). */
static void discard_fd_backed(const char *mem_path, bool shared, uint64_t blocks)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];
	uint64_t freed;
	cfg_init(&c, 8 * MiB, &r);
	c.thp = false; /* khugepaged could refill a split huge page meanwhile */
	c.mem_path = mem_path;
	c.shared = shared;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	char *g = ram_base(ram);
	memset(g, 0x33, 8 * MiB);
	ck_assert_uint_eq(resident(g, 8 * MiB), 8 * MiB);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), blocks);

	ck_assert_int_eq(ram_discard(ram, 2 * MiB, 4 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 4 * MiB);
	ck_assert_uint_eq(resident(g, 8 * MiB), 4 * MiB);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), blocks / 2);
	ck_assert_int_eq(g[2 * MiB], 0);
	ck_assert_int_eq(g[6 * MiB - 1], 0);
	ck_assert_int_eq(g[6 * MiB], 0x33);
	ram_unmap(ram);
}

START_TEST(t_discard_memfd)
{
	discard_fd_backed(NULL, true, 8 * MiB);
}
END_TEST

START_TEST(t_discard_file_shared)
{
	discard_fd_backed(g_plain, true, 8 * MiB);
	ck_assert_int_eq(count_entries(g_plain), 0);
	discard_fd_backed(g_plain, false, 8 * MiB); /* our tmpfs file: shared anyway */
	ck_assert_int_eq(count_entries(g_plain), 0);
}
END_TEST

START_TEST(t_discard_file_private)
{
	if (!g_disk[0]) {
		printf("SKIP: %s: /var/tmp is not on a disk filesystem\n", __func__);
		return;
	}
	discard_fd_backed(g_disk, false, 0);
	ck_assert_int_eq(count_entries(g_disk), 0);
}
END_TEST

/* ---- prealloc ---- */

START_TEST(t_prealloc_threads)
{
	const uint64_t len = 64 * MiB;
	struct prealloc_opts o = { .threads = 4 };
	struct prealloc_result res;

	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(prealloc_populate(p, len, 4096, &o, &res), 0);
	ck_assert_uint_eq(res.threads, 4);
	ck_assert(!res.touched); /* MADV_POPULATE_WRITE works on these hosts */
	ck_assert(!res.progress_shown);
	ck_assert_uint_eq(resident(p, len), len);
	munmap(p, len);

	/* The touching fallback keeps contents and populates everything. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	((char *)p)[40 * MiB] = 42;
	o.force_touch = true;
	o.threads = 3;
	ck_assert_int_eq(prealloc_populate(p, len, 4096, &o, &res), 0);
	ck_assert_uint_eq(res.threads, 3);
	ck_assert(res.touched);
	ck_assert_uint_eq(resident(p, len), len);
	ck_assert_int_eq(((char *)p)[40 * MiB], 42);
	munmap(p, len);

	ck_assert_int_eq(prealloc_populate(NULL, len, 4096, &o, &res), -EINVAL);
	ck_assert_int_eq(prealloc_populate((char *)p + 1, 4096, 4096, &o, &res), -EINVAL);
	ck_assert_int_eq(prealloc_populate(p, 4096, 3000, &o, &res), -EINVAL);
}
END_TEST

static int cancel_after; /* calls of cancelled() answered false */
static bool cancel_soon(void *opaque)
{
	(void)opaque;
	return __atomic_fetch_sub(&cancel_after, 1, __ATOMIC_RELAXED) <= 0;
}

/* A signal during set-up: prealloc stops between chunks, says how far it
 * got, and leaves the rest untouched. */
START_TEST(t_prealloc_cancelled)
{
	const uint64_t len = 256 * MiB;
	struct prealloc_opts o = { .threads = 2, .cancelled = cancel_soon };
	struct prealloc_result res;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	madvise(p, len, MADV_NOHUGEPAGE);
	cancel_after = 3;
	ck_assert_int_eq(prealloc_populate(p, len, 4096, &o, &res), -EINTR);
	ck_assert_uint_lt(res.fail_offset, len);
	ck_assert_uint_lt(resident(p, len), len);
	munmap(p, len);

	/* Through ram_map: one line, nothing left mapped. */
	struct ram_config c;
	struct reports r;
	struct ram *ram = NULL;
	char err[256];
	cfg_init(&c, 64 * MiB, &r);
	c.prealloc = true;
	c.cancelled = cancel_soon;
	cancel_after = 0;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINTR);
	ck_assert_ptr_null(ram);
	ck_assert_msg(strstr(err, "-mem-prealloc: interrupted by a signal") && !strchr(err, '\n'),
		      "%s", err);
}
END_TEST

START_TEST(t_prealloc_via_ram_map)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[256];

	cfg_init(&c, 64 * MiB, &r);
	c.prealloc = true;
	c.prealloc_threads = 4;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_uint_eq(resident(ram_base(ram), 64 * MiB), 64 * MiB);
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert(s.preallocated);
	ck_assert_int_eq(s.rss_bytes, (int64_t)(64 * MiB));
	ram_unmap(ram);

	/* Shared memfd: the file's pages are all there too. */
	cfg_init(&c, 32 * MiB, &r);
	c.prealloc = true;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), 32 * MiB);
	ck_assert_uint_eq(resident(ram_base(ram), 32 * MiB), 32 * MiB);
	ram_unmap(ram);
}
END_TEST

/* The bar appears only on a tty and only after the delay; it ends at 100%
 * with a newline. */
START_TEST(t_prealloc_progress)
{
	const uint64_t len = 64 * MiB; /* a few tens of ms: well past the 1 ms delay */
	struct prealloc_opts o = { .threads = 1,
				   .force_touch = true,
				   .progress = true,
				   .progress_delay_ms = 1,
				   .what = "64 MiB of test" };
	struct prealloc_result res;
	int master, slave;

	/* Not a tty: nothing drawn, however long it takes. */
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(dup2(pfd[1], STDERR_FILENO), STDERR_FILENO);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(prealloc_populate(p, len, 4096, &o, &res), 0);
	ck_assert(!res.progress_shown);
	munmap(p, len);
	ck_assert_int_eq(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);
	char buf[4096];
	ck_assert_int_eq(read(pfd[0], buf, sizeof(buf)), -1);

	ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
	ck_assert_int_eq(dup2(slave, STDERR_FILENO), STDERR_FILENO);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(prealloc_populate(p, len, 4096, &o, &res), 0);
	munmap(p, len);
	ck_assert(res.progress_shown);
	/* The pty hands data to the master asynchronously: read until the
	 * final newline arrives (or 2 s pass). */
	size_t n = 0;
	for (int tries = 0; tries < 200 && (n == 0 || buf[n - 1] != '\n'); tries++) {
		struct pollfd pf = { .fd = master, .events = POLLIN };
		if (poll(&pf, 1, 10) == 1) {
			ssize_t k = read(master, buf + n, sizeof(buf) - 1 - n);
			ck_assert_int_gt(k, 0);
			n += (size_t)k;
		}
	}
	ck_assert_uint_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "memvm: preallocating 64 MiB of test ["));
	ck_assert_ptr_nonnull(strstr(buf, "] 100%"));
	ck_assert_int_eq(buf[n - 1], '\n');

	o.progress = false; /* allowed off: nothing */
	p = mmap(NULL, len / 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_int_eq(prealloc_populate(p, len / 4, 4096, &o, &res), 0);
	ck_assert(!res.progress_shown);
	munmap(p, len / 4);
}
END_TEST

/* Pages past the end of a file raise SIGBUS: the populate must turn that
 * into -EFAULT at the right offset and put the old handler back. */
START_TEST(t_prealloc_sigbus_guard)
{
	struct prealloc_opts o = { .threads = 2, .force_touch = true };
	struct prealloc_result res;
	struct sigaction sa, before;

	/* SIG_DFL normally; ASan has its own handler. */
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &before), 0);
	int fd = memfd_create("t", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	void *p = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);

	ck_assert_int_eq(prealloc_populate(p, 64 * 4096, 4096, &o, &res), -EFAULT);
	ck_assert_uint_eq(res.fail_offset, 4096);
	ck_assert(res.touched);
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &sa), 0);
	ck_assert_ptr_eq(sa.sa_handler, before.sa_handler);

	o.force_touch = false;
	ck_assert_int_eq(prealloc_populate(p, 64 * 4096, 4096, &o, &res), -EFAULT);
	ck_assert(!res.touched);
	ck_assert_int_eq(sigaction(SIGBUS, NULL, &sa), 0);
	ck_assert_ptr_eq(sa.sa_handler, before.sa_handler);
	munmap(p, 64 * 4096);
	close(fd);
}
END_TEST

/* ---- hugetlbfs ---- */

START_TEST(t_huge_map)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	NEED_HUGE();
	cfg_init(&c, 8 * MiB, &r);
	c.mem_path = g_huge;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(count_entries(g_huge), 0);
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_HUGETLBFS);
	ck_assert_uint_eq(ram_page_size(ram), HUGE);
	ck_assert_uint_eq((uintptr_t)ram_base(ram) % HUGE, 0);
	ck_assert_int_eq(r.notices, 1); /* KSM ignores hugetlb */
	ck_assert_ptr_nonnull(strstr(r.last_notice, "hugetlbfs"));
	ck_assert_int_eq(r.warnings, 0);
	memset(ram_base(ram), 9, 3 * MiB); /* two huge pages */
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_str_eq(s.backing, "hugetlbfs");
	ck_assert_uint_eq(s.page_size, HUGE);
	ck_assert(!s.merge_effective && !s.thp);
	ck_assert_int_eq(s.rss_bytes, (int64_t)(4 * MiB));
	/* freed_bytes counts only pages that were really there. */
	uint64_t freed;
	ck_assert_int_eq(ram_discard(ram, 6 * MiB, HUGE, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(ram_discard(ram, 0, HUGE, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_huge), 0);

	/* Not a multiple of the huge page size: clear error, nothing left. */
	cfg_init(&c, 3 * MiB, &r);
	c.mem_path = g_huge;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(
		strstr(err, "-m 3 MiB is not a multiple of the 2 MiB huge page size"));
	ck_assert_ptr_nonnull(strstr(err, "; use -m 2M or -m 4M"));
	ck_assert_int_eq(count_entries(g_huge), 0);
}
END_TEST

/* memory-backend-memfd,hugetlb=on: huge pages without a mount; the
 * balloon's discard punches them back into the pool. */
START_TEST(t_huge_memfd)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	NEED_HUGE();
	long free0 = read_long(HP_DIR "free_hugepages");
	cfg_init(&c, 8 * MiB, &r);
	c.shared = true;
	c.hugetlb_size = HUGE;
	c.dump = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(ram_backing(ram), RAM_BACKING_HUGETLBFS);
	ck_assert_uint_eq(ram_page_size(ram), HUGE);
	ck_assert_int_eq(r.warnings, 0);                                 /* dump=off took */
	memset(ram_base(ram), 7, 3 * MiB);                               /* two huge pages */
	ck_assert_int_eq(read_long(HP_DIR "free_hugepages"), free0 - 2); /* two in use */
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert_int_eq(s.rss_bytes, (int64_t)(4 * MiB));
	uint64_t freed;
	ck_assert_int_eq(ram_discard(ram, 0, HUGE, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ck_assert_int_eq(read_long(HP_DIR "free_hugepages"), free0 - 1); /* one back in the pool */
	ram_unmap(ram);
	ck_assert_int_eq(read_long(HP_DIR "free_hugepages"), free0);

	cfg_init(&c, 3 * MiB, &r);
	c.shared = true;
	c.hugetlb_size = HUGE;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a multiple of the huge page size 2 MiB"));
	cfg_init(&c, 8 * MiB, &r);
	c.shared = true;
	c.hugetlb_size = 4096;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not a huge page size"));
	ck_assert_int_eq(read_long(HP_DIR "free_hugepages"), free0);
}
END_TEST

START_TEST(t_huge_prealloc)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	NEED_HUGE();
	long free0 = mount_free(g_huge);
	cfg_init(&c, 8 * MiB, &r);
	c.mem_path = g_huge;
	c.prealloc = true;
	c.prealloc_threads = 2;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(mount_free(g_huge), free0 - 4);
	ck_assert_uint_eq(resident(ram_base(ram), 8 * MiB), 8 * MiB);
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert(s.preallocated);
	ram_unmap(ram);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(count_entries(g_huge), 0);
}
END_TEST

START_TEST(t_huge_pool_too_small)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512], want[600];
	NEED_HUGE();
	long free0 = mount_free(g_huge);
	/* Well past the machine's pool, well inside the mount's size=2G. */
	uint64_t pages = (uint64_t)huge_avail() + 64;
	ck_assert_uint_lt(pages, 1024);

	cfg_init(&c, pages * HUGE, &r);
	c.mem_path = g_huge;
	c.prealloc = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOMEM);
	ck_assert_ptr_null(ram);
	/* "-mem-path DIR: F free huge pages of 2 MiB, N needed for M MiB;
	 * raise /proc/sys/vm/nr_hugepages by at least N-F" */
	int len = snprintf(want, sizeof(want), "-mem-path %s: ", g_huge);
	ck_assert_int_eq(strncmp(err, want, (size_t)len), 0);
	unsigned long f, n, m, d;
	ck_assert_int_eq(sscanf(err + len,
				"%lu free huge pages of 2 MiB, %lu needed for %lu MiB; "
				"raise /proc/sys/vm/nr_hugepages by at least %lu",
				&f, &n, &m, &d),
			 4);
	ck_assert_uint_eq(n, pages);
	ck_assert_uint_eq(m, pages * 2);
	ck_assert_uint_lt(f, n);
	ck_assert_uint_eq(d, n - f);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(count_entries(g_huge), 0);

	/* Without prealloc: a warning, and the mapping works (no reservation). */
	c.prealloc = false;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(r.warnings, 1);
	ck_assert_ptr_nonnull(strstr(r.last_warning, "needed for"));
	ck_assert_ptr_nonnull(strstr(r.last_warning, "-mem-prealloc"));
	ck_assert_int_eq(mount_free(g_huge), free0); /* nothing reserved */
	ram_unmap(ram);
	ck_assert_int_eq(count_entries(g_huge), 0);

	/* The mount's size= is the limit: said so. */
	if (!g_hsmall_ok) {
		printf("SKIP: %s: could not mount a size-limited hugetlbfs\n", __func__);
		return;
	}
	cfg_init(&c, 6 * MiB, &r);
	c.mem_path = g_hsmall;
	c.prealloc = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), -ENOMEM);
	snprintf(want, sizeof(want),
		 "-mem-path %s: the hugetlbfs mount allows 2 more pages of 2 MiB "
		 "(size= option), 3 needed for 6 MiB; remount it with a larger size=",
		 g_hsmall);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(count_entries(g_hsmall), 0);
}
END_TEST

/* Touching a MAP_NORESERVE hugetlbfs mapping past the pool raises SIGBUS. */
START_TEST(t_huge_sigbus_guard)
{
	char path[400];
	struct prealloc_result res;
	NEED_HUGE();
	if (!g_hsmall_ok) {
		printf("SKIP: %s: could not mount a size-limited hugetlbfs\n", __func__);
		return;
	}
	/* 3 pages of file on a mount that allows 2: the third faults. */
	uint64_t len = 3 * HUGE;
	snprintf(path, sizeof(path), "%s/sigbus", g_hsmall);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);

	struct prealloc_opts o = { .threads = 2, .force_touch = true };
	ck_assert_int_eq(prealloc_populate(p, len, HUGE, &o, &res), -EFAULT);
	ck_assert(res.fail_offset % HUGE == 0 && res.fail_offset < len);
	o.force_touch = false;
	int ret = prealloc_populate(p, len, HUGE, &o, &res);
	ck_assert(ret == -EFAULT || ret == -ENOMEM);
	ck_assert_int_eq(mount_free(g_hsmall), 0);
	munmap(p, len);
	close(fd);
	ck_assert_int_eq(mount_free(g_hsmall), 2);
}
END_TEST

/* Preallocated hugetlbfs RAM whose released huge page another process
 * took: a deflate (ram_reclaim) says -ENOMEM instead of handing the guest
 * a page nothing backs, and succeeds once the pool has one again; the
 * reboot clear's ram_populate says -ENOMEM too, never SIGBUS. */
START_TEST(t_huge_reclaim_repopulates)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512], path[400];
	NEED_HUGE();
	if (!g_hsmall_ok) {
		printf("SKIP: %s: could not mount a size-limited hugetlbfs\n", __func__);
		return;
	}
	cfg_init(&c, 2 * HUGE, &r);
	c.mem_path = g_hsmall;
	c.prealloc = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	ck_assert_int_eq(mount_free(g_hsmall), 0);
	uint64_t freed;
	ck_assert_int_eq(ram_discard(ram, 0, HUGE, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ck_assert_int_eq(mount_free(g_hsmall), 1);

	snprintf(path, sizeof(path), "%s/thief", g_hsmall);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, (off_t)HUGE), 0);
	uint8_t *q = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(q, MAP_FAILED);
	memset(q, 1, HUGE);
	ck_assert_int_eq(mount_free(g_hsmall), 0);

	ck_assert_int_eq(ram_reclaim(ram, 0, 4096), -ENOMEM);
	ck_assert_int_eq(ram_populate(ram, 0, 2 * HUGE), -ENOMEM);
	ck_assert_int_eq(ram_reclaim(ram, HUGE, 4096), 0); /* never released */

	munmap(q, HUGE);
	close(fd);
	ck_assert_int_eq(mount_free(g_hsmall), 1);
	ck_assert_int_eq(ram_reclaim(ram, 0, 4096), 0);
	ck_assert_int_eq(mount_free(g_hsmall), 0); /* taken back at once */
	struct ram_summary sum;
	ram_summary(ram, &sum);
	ck_assert_int_eq(sum.rss_bytes, (int64_t)(2 * HUGE));
	ram_unmap(ram);
	ck_assert_int_eq(mount_free(g_hsmall), 2);
}
END_TEST

/* shared: our temporary file, released by punching holes (the page goes
 * back to the pool). private: a user's file mapped private, released with
 * MADV_DONTNEED (the page leaves the process; the kernel keeps it reserved
 * for us, so the mount's free count stays). */
static void huge_bitmap(bool shared)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512], path[400];
	uint64_t freed = 99;
	snprintf(path, sizeof(path), "%s/user.img", g_huge);
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_huge;
	if (!shared) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
		c.mem_path = path;
	}
	c.prealloc = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	struct ram_summary s;
	ram_summary(ram, &s);
	ck_assert(s.shared == shared);
	char *g = ram_base(ram);
	memset(g, 0x44, 4 * MiB);
	long free0 = mount_free(g_huge);
	uint64_t blocks0 = fd_blocks_bytes(ram_fd(ram));

	/* Half of huge page 0: nothing can go yet. */
	ck_assert_int_eq(ram_discard(ram, 0, MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_uint_eq(resident(g, 4 * MiB), 4 * MiB);
	ck_assert_int_eq(g[4096], 0x44);

	/* The other half, in two pieces: exactly one page is released. */
	ck_assert_int_eq(ram_discard(ram, MiB, MiB - 4096, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(ram_discard(ram, 2 * MiB - 4096, 4096, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ck_assert_int_eq(mount_free(g_huge), free0 + shared);
	ck_assert_uint_eq(resident(g, 4 * MiB), 2 * MiB);
	if (shared)
		ck_assert_uint_eq(fd_blocks_bytes(ram_fd(ram)), blocks0 - HUGE);
	ck_assert_int_eq(g[2 * MiB], 0x44);

	/* Again: already gone, nothing counted twice. */
	ck_assert_int_eq(ram_discard(ram, 0, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);

	/* Deflate part of page 1's discarded half, then discard the rest of
	 * page 1: a reclaimed part is in use, so the page stays. */
	ck_assert_int_eq(ram_discard(ram, 2 * MiB, MiB, &freed), 0);
	ck_assert_int_eq(ram_reclaim(ram, 2 * MiB, 4096), 0);
	ck_assert_int_eq(ram_discard(ram, 3 * MiB, MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_uint_eq(resident(g, 4 * MiB), 2 * MiB);
	ck_assert_int_eq(mount_free(g_huge), free0 + shared);
	ck_assert_int_eq(ram_discard(ram, 2 * MiB, 4096, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ck_assert_uint_eq(resident(g, 4 * MiB), 0);
	ck_assert_int_eq(mount_free(g_huge), free0 + 2 * shared);

	/* Unaligned and out of range. */
	ck_assert_int_eq(ram_discard(ram, 512, 4096, &freed), -EINVAL);
	ck_assert_int_eq(ram_discard(ram, 0, 4 * MiB + 4096, &freed), -ERANGE);
	ck_assert_int_eq(ram_reclaim(ram, 4 * MiB, 4096), -ERANGE);

	ram_summary(ram, &s);
	ck_assert_uint_eq(s.discarded_bytes, 4 * MiB);
	ck_assert_int_eq(s.rss_bytes, 0);
	ram_unmap(ram);
	if (!shared) {
		ck_assert_uint_eq(count_entries(g_huge), 1); /* the user's file stays */
		ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(count_entries(g_huge), 0);
}

START_TEST(t_huge_bitmap_shared)
{
	NEED_HUGE();
	huge_bitmap(true);
}
END_TEST

START_TEST(t_huge_bitmap_private)
{
	NEED_HUGE();
	huge_bitmap(false);
}
END_TEST

/* Free page reporting: only whole pages go, and nothing is remembered, as
 * the guest may reuse reported pages without telling. */
START_TEST(t_huge_reported)
{
	struct ram_config c;
	struct reports r;
	struct ram *ram;
	char err[512];
	uint64_t freed;
	NEED_HUGE();
	cfg_init(&c, 4 * MiB, &r);
	c.mem_path = g_huge;
	c.shared = true;
	ck_assert_int_eq(ram_map(&c, &ram, err, sizeof(err)), 0);
	char *g = ram_base(ram);
	memset(g, 1, 4 * MiB);
	long free0 = mount_free(g_huge);

	ck_assert_int_eq(ram_discard_reported(ram, MiB, 2 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(ram_discard_reported(ram, 0, 3 * MiB, &freed), 0);
	ck_assert_uint_eq(freed, HUGE);
	ck_assert_int_eq(mount_free(g_huge), free0 + 1);

	/* The guest reuses page 0; half of it is then ballooned: page 0 must
	 * stay, since the report left no bits behind. */
	memset(g, 2, HUGE);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(ram_discard(ram, 0, MiB, &freed), 0);
	ck_assert_uint_eq(freed, 0);
	ck_assert_int_eq(mount_free(g_huge), free0);
	ck_assert_int_eq(g[MiB + 5], 2);
	ram_unmap(ram);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("ram");

	TCase *tc = tcase_create("anon");
	tcase_add_test(tc, t_config_defaults);
	tcase_add_test(tc, t_anon_basic);
	tcase_add_test(tc, t_discard_ranges);
	tcase_add_test(tc, t_memfd_and_ksm_notice);
	tcase_add_test(tc, t_size_errors);
	tcase_add_test(tc, t_discard_anon);
	tcase_add_test(tc, t_discard_memfd);
	tcase_add_test(tc, t_prealloc_threads);
	tcase_add_test(tc, t_prealloc_cancelled);
	tcase_add_test(tc, t_prealloc_via_ram_map);
	tcase_add_test(tc, t_prealloc_sigbus_guard);
	tcase_add_test(tc, t_prealloc_progress);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_unchecked_fixture(tc, setup_dirs, teardown_dirs);
	tcase_add_test(tc, t_dir_tmpfs_tmpfile);
	tcase_add_test(tc, t_dir_disk_tmpfile);
	tcase_add_test(tc, t_dir_shared_tmpfile);
	tcase_add_test(tc, t_dir_mkstemp_fallback);
	tcase_add_test(tc, t_existing_file);
	tcase_add_test(tc, t_path_errors);
	tcase_add_test(tc, t_unwritable_dir);
	tcase_add_test(tc, t_full_filesystem);
	tcase_add_test(tc, t_discard_file_shared);
	tcase_add_test(tc, t_discard_file_private);
	suite_add_tcase(s, tc);

	tc = tcase_create("hugetlbfs");
	tcase_add_unchecked_fixture(tc, setup_huge, teardown_huge);
	tcase_add_test(tc, t_huge_map);
	tcase_add_test(tc, t_huge_memfd);
	tcase_add_test(tc, t_huge_prealloc);
	tcase_add_test(tc, t_huge_pool_too_small);
	tcase_add_test(tc, t_huge_sigbus_guard);
	tcase_add_test(tc, t_huge_reclaim_repopulates);
	tcase_add_test(tc, t_huge_bitmap_shared);
	tcase_add_test(tc, t_huge_bitmap_private);
	tcase_add_test(tc, t_huge_reported);
	tcase_add_test(tc, t_dir_mkstemp_fallback); /* again, with hugetlbfs */
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(make_suite)
