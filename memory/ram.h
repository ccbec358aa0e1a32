/* Guest RAM: one contiguous host mapping with its backing (anonymous,
 * memfd, a file on -mem-path, hugetlbfs), preallocation, KSM/THP advice,
 * discard for the balloon and a summary for the monitor.
 *
 * Backing and mapping (QEMU's choices unless said otherwise):
 *   no mem_path, !shared  private anonymous, MAP_NORESERVE, 2 MiB aligned
 *   no mem_path, shared   memfd (MFD_CLOEXEC) mapped MAP_SHARED
 *   mem_path = directory  unlinked temporary file in it (O_TMPFILE, else
 *                         mkstemp + unlink): nothing is ever left behind
 *   mem_path = file       that regular file: an empty one is grown to the
 *                         RAM size, a shorter one is an error (as QEMU),
 *                         a longer one is used from offset 0
 *   A user's file is mapped MAP_PRIVATE unless `shared` (QEMU: -mem-path
 *   and memory-backend-file default to share=off): guest writes then stay
 *   in this process and the file is never modified. Our own unlinked
 *   temporary file is mapped MAP_SHARED on tmpfs and hugetlbfs whatever
 *   `shared` says (nobody else can see it; private would hold every
 *   written tmpfs page twice and keep discarded huge pages reserved), and
 *   MAP_PRIVATE|MAP_NORESERVE on disk filesystems unless `shared` (guest
 *   RAM stays anonymous memory, out of writeback). ram_summary().shared
 *   tells which one was used.
 *   On hugetlbfs (fstatfs) the page size is the mount's (2 MiB or 1 GiB),
 *   the RAM size must be a multiple of it, and the pages are reserved at
 *   mmap time when the pool has them; when it does not, prealloc fails
 *   with needed-versus-free numbers, and without prealloc the mapping is
 *   MAP_NORESERVE with a warning.
 *
 * Messages: functions that can fail for a user-visible reason fill `err`
 * with one line naming the problem and the fix, without the "memvm: "
 * prefix (log_error adds it). Warnings and notices that do not stop the
 * VM go to cfg->report, or to log_warn/log_notice when it is NULL. */
#ifndef MEMVM_RAM_H
#define MEMVM_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/lib/util.h"

enum ram_backing {
	RAM_BACKING_ANON,      /* "anonymous" */
	RAM_BACKING_MEMFD,     /* "memfd" */
	RAM_BACKING_FILE,      /* "file": any filesystem but hugetlbfs */
	RAM_BACKING_HUGETLBFS, /* "hugetlbfs" */
};

enum ram_report_kind { RAM_REPORT_WARNING, RAM_REPORT_NOTICE };

typedef void ram_report_fn(void *opaque, enum ram_report_kind kind, const char *line);

struct ram_config {
	uint64_t size;        /* bytes, multiple of 4 KiB (of the huge page size on hugetlbfs) */
	const char *mem_path; /* -mem-path: directory or regular file; NULL: anonymous/memfd */
	bool prealloc;        /* -mem-prealloc: ram_map() populates everything */
	unsigned prealloc_threads; /* 0: online CPUs */
	bool merge;                /* -machine mem-merge (default on): MADV_MERGEABLE */
	bool thp;    /* -machine thp (default on): MADV_HUGEPAGE on private anonymous */
	bool shared; /* -machine mem-shared: MAP_SHARED (memfd when no mem_path) */
	/* memory-backend-memfd,hugetlb=on: a memfd of huge pages of this size
	 * (2 MiB or 1 GiB; needs shared, no mem_path); 0: none. */
	uint64_t hugetlb_size;
	bool dump;             /* dump=on (default): in core dumps; off: MADV_DONTDUMP */
	bool reserve;          /* reserve=on (default): hugetlb pages reserved at map time */
	bool progress;         /* prealloc may draw a bar on stderr (if a tty, > 0.5 s) */
	ram_report_fn *report; /* warnings/notices; NULL: log_warn/log_notice */
	void *report_opaque;
	/* Asked while preallocating: true stops it with -EINTR (a signal asked
	 * memvm to quit during set-up). NULL: never. */
	bool (*cancelled)(void *opaque);
	void *cancel_opaque;
};

/* QEMU defaults: merge, thp, dump, reserve and progress on; everything
 * else off. */
void ram_config_init(struct ram_config *cfg, uint64_t size);

struct ram;

/* Creates the mapping (and, with cfg->prealloc, populates it). 0, or a
 * negative errno with one line in err: -EINVAL (size 0, not page aligned,
 * not a multiple of the huge page size, mem_path not a directory or
 * regular file, file shorter than RAM), -ENOENT, -EACCES/-EROFS (not
 * writable), -ENOSPC (filesystem too small for a shared file), -ENOMEM
 * (huge page pool too small with prealloc, host memory too small for
 * prealloc, mmap failure), -EOVERFLOW (size does not fit the address
 * space or off_t), -EFAULT (prealloc hit a missing page). On error
 * nothing is left mapped, open or on disk. cfg->mem_path is copied. */
int ram_map(const struct ram_config *cfg, struct ram **out, char *err, size_t errlen) WUR;

/* Frees the mapping and the descriptor; an unlinked temporary file goes
 * with them. NULL is a no-op. */
void ram_unmap(struct ram *ram);

/* Populates all of RAM in parallel threads (see prealloc.h). Called by
 * ram_map() when cfg->prealloc; callable later too. Checks first that the
 * host can back it (hugetlbfs pool, MemAvailable, filesystem space) and
 * fails with needed-versus-free numbers before touching memory. 0 or a
 * negative errno with one line in err. */
int ram_prealloc(struct ram *ram, char *err, size_t errlen) WUR;

/* Gives [offset, offset+len) of RAM back to the host (balloon inflate).
 * offset and len are multiples of 4 KiB; -EINVAL otherwise, -ERANGE when
 * the range leaves RAM (overflow-safe). Method by backing:
 *   anonymous             MADV_DONTNEED
 *   memfd, shared file    fallocate(PUNCH_HOLE|KEEP_SIZE) (the same kernel
 *                         operation as MADV_REMOVE, also unmaps the range)
 *   private file          MADV_DONTNEED drops the private copies; the
 *                         temporary file we created is also hole-punched;
 *                         a user's file is never modified
 *   hugetlbfs             4 KiB parts are recorded in a bitmap; a huge page
 *                         is released (punch hole when shared, MADV_DONTNEED
 *                         when private) once all its parts are discarded,
 *                         never while any part is still in use. A private
 *                         mapping of a user's hugetlbfs file gets its
 *                         pages back into HugePages_Free, but the kernel
 *                         keeps them reserved for this process (Rsvd):
 *                         use mem-shared=on to hand them to others
 * *freed_bytes (may be NULL) gets the bytes that really left the process:
 * pages resident (mincore) right before they were released, so discarding
 * never-touched memory or half a huge page counts 0. Thread-safe. */
int ram_discard(struct ram *ram, uint64_t offset, uint64_t len, uint64_t *freed_bytes) WUR;

/* Several ranges at once (a balloon inflate buffer): the same as calling
 * ram_discard() for each, but on 4 KiB backings residency is read with one
 * mincore() pass over the ranges' span instead of one per range, which
 * halves the system calls for scattered single pages. Ranges must be
 * sorted by offset and must not overlap (-EINVAL otherwise, nothing done).
 * *freed_bytes gets the total. Stops at the first failing range. */
struct ram_range {
	uint64_t offset;
	uint64_t len;
};
int ram_discard_ranges(struct ram *ram, const struct ram_range *r, size_t n,
		       uint64_t *freed_bytes) WUR;

/* Balloon deflate: the guest uses [offset, offset+len) again, so its 4 KiB
 * parts no longer count toward releasing a huge page. The memory itself
 * comes back on the next touch, except on preallocated huge pages:
 * released ones are taken back from the pool now, and -ENOMEM says the
 * pool had none (the guest's touch of them would then stop the VM). No-op for 4 KiB backings. Same argument
 * rules as ram_discard. The balloon must call this before the guest
 * reuses pages (VIRTIO_BALLOON_F_MUST_TELL_HOST) on hugetlbfs. */
int ram_reclaim(struct ram *ram, uint64_t offset, uint64_t len) WUR;

/* Faults in the pages covering [offset, offset+len) (whole huge pages)
 * for writing: 0, or -ENOMEM when the host cannot back them (an empty
 * huge page pool, a full tmpfs), where touching them would raise SIGBUS.
 * Same argument rules as ram_discard. */
int ram_populate(struct ram *ram, uint64_t offset, uint64_t len) WUR;

/* Free page reporting: the guest may reuse reported pages without telling,
 * so nothing is remembered: only huge pages entirely inside the range are
 * released (the whole range on 4 KiB backings). Same rules otherwise. */
int ram_discard_reported(struct ram *ram, uint64_t offset, uint64_t len, uint64_t *freed_bytes) WUR;

struct ram_summary {
	const char *backing;  /* "anonymous", "memfd", "file", "hugetlbfs" */
	const char *mem_path; /* NULL without -mem-path */
	uint64_t page_size;   /* 4096, or the huge page size */
	uint64_t size;
	bool shared; /* MAP_SHARED */
	bool preallocated;
	bool merge_requested;
	bool merge_effective;      /* MADV_MERGEABLE applied to private anonymous pages */
	bool thp;                  /* MADV_HUGEPAGE applied */
	int ksm_run;               /* /sys/kernel/mm/ksm/run (0 stopped, 1 running), -1 unknown */
	int64_t rss_bytes;         /* guest RAM resident now (mincore), -1 unknown */
	int64_t ksm_merging_pages; /* this process's KSM-merged pages, -1 unknown */
	uint64_t discarded_bytes;  /* sum of freed_bytes so far */
};

/* Cheap enough to call every second: one mincore pass over the mapping
 * (a byte per 4 KiB page, in bounded chunks) and one small /proc read. */
void ram_summary(struct ram *ram, struct ram_summary *out);

/* mincore() of [off, off+len) (4 KiB aligned, inside): one byte per 4 KiB
 * page in vec, bit 0 set when resident. 0 or -errno. */
int ram_residency(const struct ram *ram, uint64_t off, uint64_t len, unsigned char *vec) WUR;

void *ram_base(const struct ram *ram);
uint64_t ram_size(const struct ram *ram);
uint64_t ram_page_size(const struct ram *ram);
/* Populated by ram_map() or ram_prealloc(), without the monitor's mincore pass. */
bool ram_preallocated(const struct ram *ram);
int ram_fd(const struct ram *ram); /* -1 for anonymous RAM */
enum ram_backing ram_backing(const struct ram *ram);
/* True when RAM is a file the user named with -mem-path (not memvm's own
 * temporary file in a -mem-path directory): its contents are the user's. */
bool ram_user_file(const struct ram *ram);
const char *ram_backing_name(enum ram_backing b);

#endif
