#include "memory/ram.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "memory/discard_map.h"
#include "memory/host_mem.h"
#include "memory/prealloc.h"
#include "vmm/lib/size.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PART      4096ull      /* discard granularity, the x86-64 base page */
#define THP_ALIGN (2ull << 20) /* so THP and 2 MiB memslot pages line up */

struct ram {
	uint8_t *base;
	uint64_t size;
	uint64_t page_size;
	int fd;
	enum ram_backing backing;
	bool shared;
	bool shared_requested; /* mem-shared=on (shared may be forced, see ram.h) */
	bool owned_file;       /* our unlinked temporary file: safe to punch */
	bool reserved;         /* hugetlb pages reserved by mmap (no MAP_NORESERVE) */
	bool preallocated;
	bool merge_requested;
	bool merge_effective;
	bool thp;
	bool progress;
	unsigned prealloc_threads;
	bool (*cancelled)(void *opaque);
	void *cancel_opaque;
	char *mem_path;

	pthread_mutex_t lock;      /* parts and discarded */
	struct discard_map *parts; /* huge backings, from the first discard on */
	uint64_t discarded;
};

/* ---- small helpers ---- */

static void report(const struct ram_config *cfg, enum ram_report_kind kind, const char *fmt, ...)
	PRINTF(3, 4);
static void report(const struct ram_config *cfg, enum ram_report_kind kind, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cfg->report)
		cfg->report(cfg->report_opaque, kind, line);
	else if (kind == RAM_REPORT_WARNING)
		log_warn("%s", line);
	else
		log_notice("%s", line);
}

/* Resident 4 KiB pages in [off, off+len) (hugetlb pages count 512 each),
 * or -errno. A bounded vector keeps each call cheap whatever the size. */
int ram_residency(const struct ram *ram, uint64_t off, uint64_t len, unsigned char *vec)
{
	uint64_t end;
	if ((off | len) % PART || !add_ok(off, len, &end) || end > ram->size)
		return -EINVAL;
	return len && mincore(ram->base + off, len, vec) ? -errno : 0;
}

static int64_t count_resident(const struct ram *ram, uint64_t off, uint64_t len)
{
	unsigned char vec[16384];
	int64_t n = 0;
	while (len) {
		uint64_t chunk = MIN(len, (uint64_t)sizeof(vec) * PART);
		if (mincore(ram->base + off, chunk, vec))
			return -errno;
		for (uint64_t i = 0; i < chunk / PART; i++)
			n += vec[i] & 1;
		off += chunk;
		len -= chunk;
	}
	return n;
}

/* Reserves size+align of address space and maps at the aligned start, so a
 * failed MAP_FIXED never leaves a hole someone else could fill. */
static void *map_aligned(uint64_t size, uint64_t align, int flags, int fd)
{
	uint64_t total;
	if (!add_ok(size, align, &total) || total > SIZE_MAX) {
		errno = EOVERFLOW;
		return MAP_FAILED;
	}
	uint8_t *resv = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			     -1, 0);
	if (resv == MAP_FAILED)
		return MAP_FAILED;
	uint8_t *start = (uint8_t *)ALIGN_UP((uintptr_t)resv, (uintptr_t)align);
	void *p = mmap(start, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap(resv, total);
		errno = e;
		return MAP_FAILED;
	}
	if (start > resv)
		munmap(resv, (size_t)(start - resv));
	if (resv + total > start + size)
		munmap(start + size, (size_t)(resv + total - (start + size)));
	return p;
}

/* ---- opening the backing ---- */

/* Not in the header: tests set it to run the mkstemp fallback on kernels
 * that have O_TMPFILE everywhere. */
bool ram_test_no_tmpfile;

static int open_mem_path(struct ram *ram, const struct ram_config *cfg, struct stat *st, char *err,
			 size_t errlen)
{
	const char *path = cfg->mem_path;
	int fd = -1;

	if (stat(path, st)) {
		int e = errno;
		if (e == ENOENT)
			return errorf(
				err, errlen, -e,
				"-mem-path %s: no such file or directory; create the "
				"directory, or mount hugetlbfs there (mount -t hugetlbfs none %s)",
				path, path);
		return errorf(err, errlen, -e, "-mem-path %s: %s", path, strerror(e));
	}
	if (S_ISDIR(st->st_mode)) {
		fd = ram_test_no_tmpfile
			     ? -1
			     : open(path, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
		if (ram_test_no_tmpfile)
			errno = EOPNOTSUPP;
		if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
			/* No O_TMPFILE here: create a name and drop it at once. */
			size_t n = strlen(path) + sizeof("/memvm-ram.XXXXXX");
			char *tmpl = malloc(n);
			if (!tmpl)
				return errorf(err, errlen, -ENOMEM, "-mem-path %s: out of memory",
					      path);
			snprintf(tmpl, n, "%s/memvm-ram.XXXXXX", path);
			fd = mkostemp(tmpl, O_CLOEXEC);
			int e = errno;
			if (fd >= 0 && unlink(tmpl)) {
				e = errno;
				close(fd);
				unlink(tmpl);
				free(tmpl);
				return errorf(err, errlen, -e,
					      "-mem-path %s: cannot unlink the temporary RAM "
					      "file: %s",
					      path, strerror(e));
			}
			free(tmpl);
			errno = e;
		}
		if (fd < 0) {
			int e = errno;
			if (e == EACCES || e == EPERM || e == EROFS)
				return errorf(err, errlen, -e,
					      "-mem-path %s: directory is not writable (%s); "
					      "use a directory memvm may create files in",
					      path, strerror(e));
			if (e == ENOSPC || e == EDQUOT)
				return errorf(err, errlen, -e,
					      "-mem-path %s: no space to create the RAM file "
					      "(%s); free space or use another directory",
					      path, strerror(e));
			return errorf(err, errlen, -e,
				      "-mem-path %s: cannot create the RAM file: %s", path,
				      strerror(e));
		}
		ram->owned_file = true;
	} else if (S_ISREG(st->st_mode)) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EACCES || e == EPERM || e == EROFS || e == ETXTBSY)
				return errorf(err, errlen, -e,
					      "-mem-path %s: file is not writable (%s); "
					      "fix its permissions or give a directory",
					      path, strerror(e));
			return errorf(err, errlen, -e, "-mem-path %s: %s", path, strerror(e));
		}
	} else {
		return errorf(err, errlen, -EINVAL,
			      "-mem-path %s: not a directory or a regular file", path);
	}
	if (fstat(fd, st)) {
		int e = errno;
		close(fd);
		return errorf(err, errlen, -e, "-mem-path %s: %s", path, strerror(e));
	}
	ram->fd = fd;
	return 0;
}

/* Size rules once the page size is known; grows the file if needed. */
static int size_file(struct ram *ram, const struct ram_config *cfg, const struct stat *st,
		     char *err, size_t errlen)
{
	const char *path = cfg->mem_path;
	uint64_t ps = ram->page_size;

	if (ram->size % ps) {
		uint64_t down = ram->size / ps * ps;
		return errorf(err, errlen, -EINVAL,
			      "-m %s is not a multiple of the %s huge page size of "
			      "-mem-path %s; use -m %s or -m %s",
			      SIZE_STR(ram->size), SIZE_STR(ps), path,
			      SIZE_OPT_STR(down ? down : ps), SIZE_OPT_STR(down + ps));
	}
	if (ram->owned_file || st->st_size == 0) {
		if (ftruncate(ram->fd, (off_t)ram->size)) {
			int e = errno;
			if (e == EFBIG || e == EINVAL)
				return errorf(err, errlen, -EOVERFLOW,
					      "-mem-path %s: the filesystem cannot "
					      "hold a %s file; lower -m or use another directory",
					      path, SIZE_STR(ram->size));
			return errorf(err, errlen, -e,
				      "-mem-path %s: cannot size the RAM file to %s: %s", path,
				      SIZE_STR(ram->size), strerror(e));
		}
	} else if ((uint64_t)st->st_size < ram->size) {
		return errorf(err, errlen, -EINVAL,
			      "-mem-path %s: file is %s but guest RAM is %s; give an "
			      "empty file (it is grown), one of at least %s, or a directory",
			      path, SIZE_STR((uint64_t)st->st_size), SIZE_STR(ram->size),
			      SIZE_STR(ram->size));
	}

	/* A shared file must be able to hold every page the guest writes, or
	 * the guest dies of SIGBUS later; say so now. Private mappings keep
	 * guest writes in anonymous memory and never grow the file. */
	if (ram->shared && ram->backing == RAM_BACKING_FILE) {
		struct statvfs sv;
		uint64_t have = (uint64_t)st->st_blocks * 512;
		uint64_t need = ram->size > have ? ram->size - have : 0;
		if (!fstatvfs(ram->fd, &sv) && (uint64_t)sv.f_bavail * sv.f_frsize < need)
			return errorf(
				err, errlen, -ENOSPC,
				"-mem-path %s: the filesystem has %s free but "
				"shared guest RAM needs %s; free space or use a bigger filesystem%s",
				path, SIZE_STR((uint64_t)sv.f_bavail * sv.f_frsize), SIZE_STR(need),
				ram->shared_requested ? " or drop mem-shared=on" : "");
	}
	return 0;
}

/* Huge pages this mapping still has to take from the pool: all of them,
 * less those a shared file already holds and those already mapped. */
static uint64_t huge_pages_needed(const struct ram *ram, bool fresh, const struct stat *st)
{
	uint64_t pages = ram->size / ram->page_size, have = 0;
	if (ram->shared && st)
		have = (uint64_t)st->st_blocks * 512 / ram->page_size;
	if (!fresh && ram->base) {
		int64_t res = count_resident(ram, 0, ram->size);
		if (res > 0)
			have = MAX(have, (uint64_t)res * PART / ram->page_size);
	}
	return pages - MIN(pages, have);
}

/* One line in err explaining why `needed` huge pages are not there. */
static int hpool_short(const struct ram *ram, uint64_t needed, int ret, char *err, size_t errlen)
{
	const struct host_mem_huge h = {
		.mem_path = ram->mem_path,
		.fd = ram->fd,
		.page_size = ram->page_size,
		.ram_size = ram->size,
	};
	if (err && errlen)
		host_mem_huge_why(&h, needed, err, errlen);
	return ret;
}

/* ---- preallocation ---- */

static int do_prealloc(struct ram *ram, bool fresh, const struct stat *st, char *err, size_t errlen)
{
	const char *what = ram->mem_path ? "-mem-path" : "-mem-prealloc";
	const char *path = ram->mem_path ? ram->mem_path : "";
	const char *sep = ram->mem_path ? " " : "";

	if (ram->backing == RAM_BACKING_HUGETLBFS) {
		if (!ram->reserved) {
			/* MAP_NORESERVE: nothing guarantees the pages, check now. */
			uint64_t needed = huge_pages_needed(ram, fresh, st);
			if (needed && !host_mem_huge_fits(ram->page_size, needed))
				return hpool_short(ram, needed, -ENOMEM, err, errlen);
		}
	} else {
		/* ram_map() checked a fresh mapping before creating it. */
		uint64_t need = ram->size;
		int64_t res = fresh ? 0 : count_resident(ram, 0, ram->size);
		char why[256];
		if (res > 0)
			need -= MIN(need, (uint64_t)res * PART);
		if (!fresh && !host_mem_fits_available(ram->size, need, why, sizeof(why)))
			return errorf(err, errlen, -ENOMEM, "%s", why);
		/* Reserve the file's space first: a full filesystem is then a
		 * clean ENOSPC here instead of a failed page fault. tmpfs does
		 * not zero pages in fallocate, so the threads still do that. */
		if (ram->shared && ram->fd >= 0 && fallocate(ram->fd, 0, 0, (off_t)ram->size)) {
			int e = errno;
			if (e == ENOSPC || e == EDQUOT)
				return errorf(err, errlen, -ENOSPC,
					      "%s%s%s: no space left for %s of shared "
					      "guest RAM; free space or use a bigger filesystem%s",
					      what, sep, path, SIZE_STR(ram->size),
					      ram->shared_requested ? " or drop mem-shared=on"
								    : "");
			if (e == ENOMEM)
				return errorf(err, errlen, -ENOMEM,
					      "-mem-prealloc: out of memory reserving "
					      "%s of shared guest RAM; lower -m",
					      SIZE_STR(ram->size));
			if (e != EOPNOTSUPP && e != ENOSYS)
				return errorf(err, errlen, -e, "%s%s%s: cannot allocate %s: %s",
					      what, sep, path, SIZE_STR(ram->size), strerror(e));
		}
	}

	char label[64];
	snprintf(label, sizeof(label), "%s of guest RAM", SIZE_STR(ram->size));
	struct prealloc_opts o = {
		.threads = ram->prealloc_threads,
		.progress = ram->progress,
		.what = label,
		.cancelled = ram->cancelled,
		.cancel_opaque = ram->cancel_opaque,
	};
	struct prealloc_result r;
	int ret = prealloc_populate(ram->base, ram->size, ram->page_size, &o, &r);
	if (ret == -EFAULT && ram->backing == RAM_BACKING_HUGETLBFS)
		return hpool_short(ram, huge_pages_needed(ram, false, NULL), -ENOMEM, err, errlen);
	if (ret == -EFAULT)
		return errorf(err, errlen, -EFAULT,
			      "%s%s%s: preallocation failed at offset %s: no page "
			      "could back it (filesystem full?)",
			      what, sep, path, SIZE_STR(r.fail_offset));
	if (ret == -EINTR)
		return errorf(err, errlen, -EINTR,
			      "-mem-prealloc: interrupted by a signal after %s of %s; the guest "
			      "was not started",
			      SIZE_STR(r.fail_offset), SIZE_STR(ram->size));
	if (ret == -ENOMEM)
		return errorf(err, errlen, -ENOMEM,
			      "-mem-prealloc: out of memory at offset %s of %s of "
			      "guest RAM; lower -m",
			      SIZE_STR(r.fail_offset), SIZE_STR(ram->size));
	if (ret)
		return errorf(err, errlen, ret,
			      "-mem-prealloc: preallocation failed at offset %s: %s",
			      SIZE_STR(r.fail_offset), strerror(-ret));
	ram->preallocated = true;
	return 0;
}

int ram_prealloc(struct ram *ram, char *err, size_t errlen)
{
	struct stat st;
	if (!ram)
		return -EINVAL;
	bool have_st = ram->fd >= 0 && !fstat(ram->fd, &st);
	return do_prealloc(ram, false, have_st ? &st : NULL, err, errlen);
}

/* ---- map / unmap ---- */

void ram_config_init(struct ram_config *cfg, uint64_t size)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = size;
	cfg->merge = true;
	cfg->thp = true;
	cfg->dump = true;
	cfg->reserve = true;
	cfg->progress = true;
}

int ram_map(const struct ram_config *cfg, struct ram **out, char *err, size_t errlen)
{
	struct stat st;
	bool have_st = false;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (!cfg->size)
		return errorf(err, errlen, -EINVAL, "-m 0: guest RAM size must not be zero");
	if (cfg->size % PART)
		return errorf(err, errlen, -EINVAL, "-m %s is not a multiple of 4 KiB",
			      SIZE_STR(cfg->size));
	if (cfg->size > (uint64_t)INT64_MAX || cfg->size > SIZE_MAX - (1ull << 30))
		return errorf(err, errlen, -EOVERFLOW,
			      "-m %s does not fit in this host's address space",
			      SIZE_STR(cfg->size));

	struct ram *ram = calloc(1, sizeof(*ram));
	if (!ram)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	ram->fd = -1;
	ram->size = cfg->size;
	ram->page_size = PART;
	ram->shared = cfg->shared;
	ram->shared_requested = cfg->shared;
	ram->progress = cfg->progress;
	ram->cancelled = cfg->cancelled;
	ram->cancel_opaque = cfg->cancel_opaque;
	ram->prealloc_threads = cfg->prealloc_threads;
	ram->merge_requested = cfg->merge;
	pthread_mutex_init(&ram->lock, NULL);

	if (cfg->mem_path) {
		ram->mem_path = strdup(cfg->mem_path);
		if (!ram->mem_path) {
			ret = errorf(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
		ret = open_mem_path(ram, cfg, &st, err, errlen);
		if (ret)
			goto fail;
		have_st = true;
		struct statfs sf;
		if (fstatfs(ram->fd, &sf)) {
			ret = errorf(err, errlen, -errno, "-mem-path %s: %s", cfg->mem_path,
				     strerror(errno));
			goto fail;
		}
		if (sf.f_type == HUGETLBFS_MAGIC) {
			ram->backing = RAM_BACKING_HUGETLBFS;
			ram->page_size = (uint64_t)sf.f_bsize;
		} else {
			ram->backing = RAM_BACKING_FILE;
		}
		/* Nobody else can see our unlinked file, so sharing it is
		 * unobservable, and on memory filesystems private costs:
		 * tmpfs holds each written page twice (file page plus
		 * private copy), and hugetlbfs keeps discarded private pages
		 * reserved for us. On disk, private keeps guest RAM
		 * anonymous and out of writeback. */
		if (ram->owned_file && (sf.f_type == HUGETLBFS_MAGIC || sf.f_type == TMPFS_MAGIC))
			ram->shared = true;
		ret = size_file(ram, cfg, &st, err, errlen);
		if (ret)
			goto fail;
	} else if (cfg->hugetlb_size) {
		/* A memfd of huge pages: hugetlbfs without a mount. */
		unsigned shift = (unsigned)__builtin_ctzll(cfg->hugetlb_size);
		if (cfg->hugetlb_size & (cfg->hugetlb_size - 1) || shift < 21) {
			ret = errorf(err, errlen, -EINVAL,
				     "memory-backend-memfd: hugetlbsize=%s is not a huge page size "
				     "(2M or 1G)",
				     SIZE_STR(cfg->hugetlb_size));
			goto fail;
		}
		if (ram->size % cfg->hugetlb_size) {
			ret = errorf(err, errlen, -EINVAL,
				     "memory-backend-memfd: size %s is not a multiple of the huge "
				     "page size %s",
				     SIZE_STR(ram->size), SIZE_STR(cfg->hugetlb_size));
			goto fail;
		}
		ram->backing = RAM_BACKING_HUGETLBFS;
		ram->page_size = cfg->hugetlb_size;
		ram->shared = true;
		ram->fd = memfd_create(
			"memvm-ram",
			MFD_CLOEXEC | MFD_HUGETLB |
				(shift << MAP_HUGE_SHIFT) /* MFD_HUGE_SHIFT is the same 26 */);
		if (ram->fd < 0) {
			ret = errorf(err, errlen, -errno,
				     "memory-backend-memfd,hugetlb=on: memfd_create: %s%s",
				     strerror(errno),
				     errno == EINVAL ? " (no pool of that huge page size here)"
						     : "");
			goto fail;
		}
		if (ftruncate(ram->fd, (off_t)ram->size)) {
			ret = errorf(err, errlen, -errno,
				     "memory-backend-memfd: cannot size the memfd to %s: %s",
				     SIZE_STR(ram->size), strerror(errno));
			goto fail;
		}
	} else if (cfg->shared) {
		ram->backing = RAM_BACKING_MEMFD;
		ram->fd = memfd_create("memvm-ram", MFD_CLOEXEC);
		if (ram->fd < 0) {
			ret = errorf(err, errlen, -errno, "mem-shared=on: memfd_create: %s",
				     strerror(errno));
			goto fail;
		}
		if (ftruncate(ram->fd, (off_t)ram->size)) {
			ret = errorf(err, errlen, -errno,
				     "mem-shared=on: cannot size the memfd to %s: %s",
				     SIZE_STR(ram->size), strerror(errno));
			goto fail;
		}
	} else {
		ram->backing = RAM_BACKING_ANON;
	}

	/* Fail before mapping when prealloc cannot succeed anyway. */
	char why[256];
	if (cfg->prealloc && ram->backing != RAM_BACKING_HUGETLBFS &&
	    !host_mem_fits_available(ram->size, ram->size, why, sizeof(why))) {
		ret = errorf(err, errlen, -ENOMEM, "%s", why);
		goto fail;
	}

	uint64_t align = MAX(ram->page_size, THP_ALIGN);
	int flags;
	switch (ram->backing) {
	case RAM_BACKING_ANON:
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
		break;
	case RAM_BACKING_HUGETLBFS:
		/* Reserve the pages now when the pool has them: the guest can
		 * then never fault on a missing huge page (unless reserve=off). */
		flags = (ram->shared ? MAP_SHARED : MAP_PRIVATE) |
			(cfg->reserve ? 0 : MAP_NORESERVE);
		break;
	default:
		flags = ram->shared ? MAP_SHARED : MAP_PRIVATE | MAP_NORESERVE;
		break;
	}
	void *p = map_aligned(ram->size, align, flags, ram->fd);
	if (p == MAP_FAILED && ram->backing == RAM_BACKING_HUGETLBFS && errno == ENOMEM) {
		uint64_t needed = huge_pages_needed(ram, true, have_st ? &st : NULL);
		if (cfg->prealloc) {
			ret = hpool_short(ram, needed, -ENOMEM, err, errlen);
			goto fail;
		}
		char line[512];
		hpool_short(ram, needed, 0, line, sizeof(line));
		report(cfg, RAM_REPORT_WARNING,
		       "%s; memvm stops with an error once the guest uses more memory "
		       "than the pool has (-mem-prealloc checks this at start)",
		       line);
		p = map_aligned(ram->size, align, flags | MAP_NORESERVE, ram->fd);
	} else if (p != MAP_FAILED && ram->backing == RAM_BACKING_HUGETLBFS) {
		ram->reserved = cfg->reserve;
	}
	if (p == MAP_FAILED) {
		int e = errno;
		ret = errorf(err, errlen, -e, "cannot map %s of guest RAM: %s%s",
			     SIZE_STR(ram->size), strerror(e),
			     e == ENOMEM || e == EOVERFLOW ? "; lower -m" : "");
		goto fail;
	}
	ram->base = p;

	if (cfg->merge) {
		if (ram->shared || ram->backing == RAM_BACKING_HUGETLBFS) {
			report(cfg, RAM_REPORT_NOTICE,
			       "mem-merge=on has no effect on shared or hugetlbfs "
			       "memory (KSM merges only private anonymous pages)");
		} else if (madvise(ram->base, ram->size, MADV_MERGEABLE) == 0) {
			ram->merge_effective = true;
		} else {
			report(cfg, RAM_REPORT_NOTICE,
			       "mem-merge=on has no effect: this kernel has no KSM "
			       "(madvise: %s)",
			       strerror(errno));
		}
	}
	if (cfg->thp && ram->backing == RAM_BACKING_ANON)
		ram->thp = madvise(ram->base, ram->size, MADV_HUGEPAGE) == 0;
	if (!cfg->dump && madvise(ram->base, ram->size, MADV_DONTDUMP))
		report(cfg, RAM_REPORT_WARNING, "dump=off: madvise(MADV_DONTDUMP): %s",
		       strerror(errno));

	if (!cfg->prealloc && ram->backing != RAM_BACKING_HUGETLBFS &&
	    !host_mem_fits_total(ram->size, why, sizeof(why)))
		report(cfg, RAM_REPORT_WARNING, "%s", why);

	if (cfg->prealloc) {
		ret = do_prealloc(ram, true, have_st ? &st : NULL, err, errlen);
		if (ret)
			goto fail;
	}
	*out = ram;
	return 0;

fail:
	ram_unmap(ram);
	return ret;
}

void ram_unmap(struct ram *ram)
{
	if (!ram)
		return;
	if (ram->base)
		munmap(ram->base, ram->size);
	if (ram->fd >= 0)
		close(ram->fd);
	discard_map_free(ram->parts);
	free(ram->mem_path);
	pthread_mutex_destroy(&ram->lock);
	free(ram);
}

/* ---- discard ---- */

static int check_range(const struct ram *ram, uint64_t off, uint64_t len)
{
	uint64_t end;
	if (!ram || off % PART || len % PART)
		return -EINVAL;
	if (!add_ok(off, len, &end) || end > ram->size)
		return -ERANGE;
	return 0;
}

static int punch(const struct ram *ram, uint64_t off, uint64_t len)
{
	if (fallocate(ram->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

/* Gives [off, off+len) back; page_size aligned. */
static int release(const struct ram *ram, uint64_t off, uint64_t len)
{
	uint8_t *p = ram->base + off;
	int ret;

	if (ram->backing == RAM_BACKING_ANON)
		return madvise(p, len, MADV_DONTNEED) ? -errno : 0;
	if (ram->shared)
		return punch(ram, off, len);
	/* Private file mapping: the guest's data lives in private copies. */
	ret = madvise(p, len, MADV_DONTNEED) ? -errno : 0;
	if (ret == -EINVAL && ram->backing == RAM_BACKING_HUGETLBFS && ram->owned_file)
		return punch(ram, off,
			     len); /* before 5.18; a hugetlbfs punch also zaps private pages */
	if (ret)
		return ret;
	if (ram->owned_file) {
		/* Our own file may hold page cache from reads of holes. */
		int r = punch(ram, off, len);
		if (r && r != -EOPNOTSUPP)
			return r;
	}
	return 0;
}

/* Releases whole huge pages [first, first+n), counting what was resident. */
static int release_pages(struct ram *ram, uint64_t first, uint64_t n, uint64_t *freed)
{
	uint64_t off = first * ram->page_size, len = n * ram->page_size;
	int64_t res = count_resident(ram, off, len);
	int ret = release(ram, off, len);
	if (!ret && res > 0)
		*freed += (uint64_t)res * PART;
	return ret;
}

struct release_ctx {
	struct ram *ram;
	uint64_t freed;
};

static int release_run(void *opaque, uint64_t first, uint64_t n)
{
	struct release_ctx *c = opaque;
	return release_pages(c->ram, first, n, &c->freed);
}

int ram_discard(struct ram *ram, uint64_t offset, uint64_t len, uint64_t *freed_bytes)
{
	int ret = check_range(ram, offset, len);

	if (freed_bytes)
		*freed_bytes = 0;
	if (ret || len == 0)
		return ret;

	if (ram->page_size == PART) {
		int64_t res = count_resident(ram, offset, len);
		ret = release(ram, offset, len);
		if (ret)
			return ret;
		uint64_t freed = res > 0 ? (uint64_t)res * PART : 0;
		pthread_mutex_lock(&ram->lock);
		ram->discarded += freed;
		pthread_mutex_unlock(&ram->lock);
		if (freed_bytes)
			*freed_bytes = freed;
		return 0;
	}

	/* Huge pages: released once the guest has given back all their parts. */
	struct release_ctx ctx = { .ram = ram };
	pthread_mutex_lock(&ram->lock);
	if (!ram->parts)
		ret = discard_map_new(ram->size, ram->page_size, &ram->parts);
	if (!ret)
		ret = discard_map_mark(ram->parts, offset, len, release_run, &ctx);
	ram->discarded += ctx.freed;
	pthread_mutex_unlock(&ram->lock);
	if (freed_bytes)
		*freed_bytes = ctx.freed;
	return ret;
}

/* Spans up to this many pages get one mincore() pass for a whole batch. */
#define BATCH_SPAN_PAGES 16384u

int ram_discard_ranges(struct ram *ram, const struct ram_range *r, size_t n, uint64_t *freed_bytes)
{
	uint64_t freed = 0;
	int ret = 0;

	if (freed_bytes)
		*freed_bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if ((ret = check_range(ram, r[i].offset, r[i].len)))
			return ret;
		if (i && r[i].offset < r[i - 1].offset + r[i - 1].len)
			return -EINVAL;
	}
	if (n == 0)
		return 0;
	uint64_t span_lo = r[0].offset, span_hi = r[n - 1].offset + r[n - 1].len;
	if (ram->page_size != PART || span_hi - span_lo > (uint64_t)BATCH_SPAN_PAGES * PART) {
		/* Huge pages keep their partial-page bookkeeping per range. */
		for (size_t i = 0; i < n; i++) {
			uint64_t f = 0;
			if ((ret = ram_discard(ram, r[i].offset, r[i].len, &f)))
				break;
			freed += f;
		}
		goto out;
	}
	unsigned char vec[BATCH_SPAN_PAGES];
	bool have_vec = mincore(ram->base + span_lo, span_hi - span_lo, vec) == 0;
	uint64_t counted = 0;
	for (size_t i = 0; i < n; i++) {
		if ((ret = release(ram, r[i].offset, r[i].len)))
			break;
		for (uint64_t p = (r[i].offset - span_lo) / PART;
		     have_vec && p < (r[i].offset + r[i].len - span_lo) / PART; p++)
			counted += vec[p] & 1;
	}
	freed = counted * PART;
	pthread_mutex_lock(&ram->lock);
	ram->discarded += freed;
	pthread_mutex_unlock(&ram->lock);
out:
	if (freed_bytes)
		*freed_bytes = freed;
	return ret;
}

int ram_discard_reported(struct ram *ram, uint64_t offset, uint64_t len, uint64_t *freed_bytes)
{
	uint64_t freed = 0;
	int ret = check_range(ram, offset, len);

	if (freed_bytes)
		*freed_bytes = 0;
	if (ret || len == 0)
		return ret;
	if (ram->page_size == PART)
		return ram_discard(ram, offset, len, freed_bytes);

	uint64_t first = ALIGN_UP(offset, ram->page_size);
	uint64_t end = (offset + len) / ram->page_size * ram->page_size;
	if (first >= end)
		return 0;
	pthread_mutex_lock(&ram->lock);
	ret = release_pages(ram, first / ram->page_size, (end - first) / ram->page_size, &freed);
	ram->discarded += freed;
	pthread_mutex_unlock(&ram->lock);
	if (freed_bytes)
		*freed_bytes = freed;
	return ret;
}

int ram_populate(struct ram *ram, uint64_t offset, uint64_t len)
{
	int ret = check_range(ram, offset, len);
	if (ret || len == 0)
		return ret;
	uint64_t start = offset & ~(ram->page_size - 1);
	uint64_t end = MIN(ALIGN_UP(offset + len, ram->page_size), ram->size);
	if (madvise(ram->base + start, end - start, MADV_POPULATE_WRITE) == 0)
		return 0;
	/* EINVAL: no MADV_POPULATE_WRITE before Linux 5.14: cannot check. */
	return errno == EINVAL ? 0 : -ENOMEM;
}

int ram_reclaim(struct ram *ram, uint64_t offset, uint64_t len)
{
	int ret = check_range(ram, offset, len);
	if (ret || ram->page_size == PART)
		return ret;
	pthread_mutex_lock(&ram->lock);
	if (ram->parts)
		discard_map_clear(ram->parts, offset, len);
	pthread_mutex_unlock(&ram->lock);
	/* Preallocated RAM takes released huge pages back now, before the
	 * guest is told it may use them: later its touch could find the pool
	 * empty, and -mem-prealloc promised it never would. */
	if (ram->preallocated)
		return ram_populate(ram, offset, len);
	return 0;
}

bool ram_user_file(const struct ram *ram)
{
	return ram->fd >= 0 && !ram->owned_file &&
	       (ram->backing == RAM_BACKING_FILE || ram->backing == RAM_BACKING_HUGETLBFS);
}

/* ---- visibility ---- */

void ram_summary(struct ram *ram, struct ram_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->backing = ram_backing_name(ram->backing);
	out->mem_path = ram->mem_path;
	out->page_size = ram->page_size;
	out->size = ram->size;
	out->shared = ram->shared;
	out->preallocated = ram->preallocated;
	out->merge_requested = ram->merge_requested;
	out->merge_effective = ram->merge_effective;
	out->thp = ram->thp;
	out->ksm_run = host_mem_ksm_run();
	int64_t res = count_resident(ram, 0, ram->size);
	out->rss_bytes = res >= 0 ? res * (int64_t)PART : -1;
	out->ksm_merging_pages = host_mem_ksm_merging_pages();
	pthread_mutex_lock(&ram->lock);
	out->discarded_bytes = ram->discarded;
	pthread_mutex_unlock(&ram->lock);
}

void *ram_base(const struct ram *ram)
{
	return ram->base;
}

uint64_t ram_size(const struct ram *ram)
{
	return ram->size;
}

uint64_t ram_page_size(const struct ram *ram)
{
	return ram->page_size;
}

bool ram_preallocated(const struct ram *ram)
{
	return ram->preallocated;
}

int ram_fd(const struct ram *ram)
{
	return ram->fd;
}

enum ram_backing ram_backing(const struct ram *ram)
{
	return ram->backing;
}

const char *ram_backing_name(enum ram_backing b)
{
	switch (b) {
	case RAM_BACKING_ANON:
		return "anonymous";
	case RAM_BACKING_MEMFD:
		return "memfd";
	case RAM_BACKING_FILE:
		return "file";
	case RAM_BACKING_HUGETLBFS:
		return "hugetlbfs";
	}
	return "unknown";
}
