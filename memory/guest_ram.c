#include "memory/guest_ram.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/host_mem.h"

#define PAGE           4096ull
#define MARK_BALLOONED 0
#define MARK_REPORTED  1
/* ram_ranges translated per ram_discard_ranges() call: a Linux inflate
 * buffer (256 PFNs) is one call, and the stack stays small. */
#define RUN_CHUNK 256u

struct guest_ram {
	struct ram *ram;
	uint8_t *base;
	/* For the ledger, one bit per 4 KiB page of the block: given back by
	 * the balloon, returned by free page reporting (atomic: any thread). */
	uint64_t *marks[2];
	size_t n;
	struct guest_ram_region r[]; /* sorted by gpa, and by offset */
};

static int check_regions(const struct guest_ram_region *r, size_t n, uint64_t size, char *err,
			 size_t errlen)
{
	if (!r || n == 0)
		return errorf(err, errlen, -EINVAL, "guest RAM: no regions");
	for (size_t i = 0; i < n; i++) {
		uint64_t gpa_end, off_end;
		const char *why = NULL;
		if (r[i].len == 0)
			why = "empty";
		else if ((r[i].gpa | r[i].len | r[i].offset) % PAGE)
			why = "not 4 KiB aligned";
		else if (!add_ok(r[i].gpa, r[i].len - 1, &gpa_end))
			why = "wraps the guest-physical address space";
		else if (!add_ok(r[i].offset, r[i].len, &off_end) || off_end > size)
			why = "outside the RAM block";
		else if (i && r[i].gpa <= r[i - 1].gpa + (r[i - 1].len - 1))
			why = "not after the previous region in guest-physical order";
		else if (i && r[i].offset < r[i - 1].offset + r[i - 1].len)
			why = "not after the previous region in the RAM block";
		if (why)
			return errorf(err, errlen, -EINVAL,
				      "guest RAM region %zu [%#llx, +%#llx) "
				      "at offset %#llx: %s",
				      i, (unsigned long long)r[i].gpa, (unsigned long long)r[i].len,
				      (unsigned long long)r[i].offset, why);
	}
	return 0;
}

/* The regions on top of gm's, in a scratch map: guest_mem_add()'s own
 * rules, and nothing added to gm unless all of them fit. */
static int try_register(const struct guest_mem *gm, const struct guest_ram_region *r, size_t n)
{
	struct guest_mem *scratch = guest_mem_new();
	void *hva = (void *)(uintptr_t)PAGE; /* never dereferenced */
	int ret = 0;

	if (!scratch)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < guest_mem_count(gm); i++) {
		const struct guest_region *g = guest_mem_region(gm, i);
		ret = guest_mem_add(scratch, g->gpa, g->size, g->hva, NULL);
	}
	for (size_t i = 0; !ret && i < n; i++)
		ret = guest_mem_add(scratch, r[i].gpa, r[i].len, hva, NULL);
	guest_mem_free(scratch);
	return ret;
}

int guest_ram_new(const struct ram_config *cfg, const struct guest_ram_region *regions, size_t n,
		  struct guest_mem *gm, struct guest_ram **out, char *err, size_t errlen)
{
	struct guest_ram *gr = NULL;
	size_t bytes;
	int ret;

	*out = NULL;
	if (!cfg || !gm)
		return errorf(err, errlen, -EINVAL, "guest RAM: no configuration or memory map");
	if (n > GUEST_MEM_MAX_REGIONS)
		return errorf(err, errlen, -EINVAL, "guest RAM: %zu regions (at most %u)", n,
			      GUEST_MEM_MAX_REGIONS);
	bytes = sizeof(*gr) + n * sizeof(gr->r[0]);
	gr = calloc(1, bytes);
	if (!gr)
		return errorf(err, errlen, -ENOMEM, "out of memory");
	/* Mapping first: its messages about -m come before any about regions
	 * derived from it. */
	if ((ret = ram_map(cfg, &gr->ram, err, errlen)))
		goto fail;
	if ((ret = check_regions(regions, n, ram_size(gr->ram), err, errlen)))
		goto fail;
	if ((ret = try_register(gm, regions, n))) {
		errorf(err, errlen, ret, "registering guest RAM: %s", strerror(-ret));
		goto fail;
	}
	gr->base = ram_base(gr->ram);
	size_t words = (size_t)((ram_size(gr->ram) / PAGE + 63) / 64);
	for (int k = 0; k < 2; k++)
		if (!(gr->marks[k] = calloc(words ? words : 1, sizeof(uint64_t)))) {
			ret = errorf(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
	gr->n = n;
	memcpy(gr->r, regions, n * sizeof(gr->r[0]));
	for (size_t i = 0; i < n; i++) {
		/* try_register() made sure this cannot fail. */
		if ((ret = guest_mem_add(gm, gr->r[i].gpa, gr->r[i].len, gr->base + gr->r[i].offset,
					 NULL))) {
			errorf(err, errlen, ret, "registering guest RAM: %s", strerror(-ret));
			goto fail;
		}
		/* Faults on anonymous memory cannot fail (the OOM killer acts
		 * instead); on hugetlbfs, tmpfs and files they raise SIGBUS. */
		if (ram_backing(gr->ram) != RAM_BACKING_ANON &&
		    (ret = guest_mem_set_populate(gm, gr->r[i].gpa, ram_page_size(gr->ram)))) {
			errorf(err, errlen, ret, "registering guest RAM: %s", strerror(-ret));
			goto fail;
		}
	}
	*out = gr;
	return 0;

fail:
	guest_ram_free(gr);
	return ret;
}

void guest_ram_free(struct guest_ram *gr)
{
	if (!gr)
		return;
	ram_unmap(gr->ram);
	free(gr->marks[0]);
	free(gr->marks[1]);
	free(gr);
}

static void mark(struct guest_ram *gr, int which, uint64_t off, uint64_t len, bool on)
{
	for (uint64_t p = off / PAGE; p < (off + len) / PAGE; p++) {
		uint64_t bit = 1ull << (p % 64);
		if (on)
			__atomic_fetch_or(&gr->marks[which][p / 64], bit, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(&gr->marks[which][p / 64], ~bit, __ATOMIC_RELAXED);
	}
}

static bool marked(const struct guest_ram *gr, int which, uint64_t page)
{
	return __atomic_load_n(&gr->marks[which][page / 64], __ATOMIC_RELAXED) &
	       (1ull << (page % 64));
}

struct ram *guest_ram_block(const struct guest_ram *gr)
{
	return gr ? gr->ram : NULL;
}

/* The region holding [gpa, gpa+len): the last one starting at or below
 * gpa, if the range fits in it. */
static const struct guest_ram_region *find(const struct guest_ram *gr, uint64_t gpa, uint64_t len)
{
	size_t lo = 0, hi = gr->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (gr->r[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct guest_ram_region *r = &gr->r[lo - 1];
	/* gpa >= r->gpa here; no sum can wrap. */
	if (len > r->len || gpa - r->gpa > r->len - len)
		return NULL;
	return r;
}

/* [gpa, gpa+len) to an offset in the RAM block. */
static int to_offset(const struct guest_ram *gr, uint64_t gpa, uint64_t len, uint64_t *off)
{
	if (!gr || gpa % PAGE || len % PAGE)
		return -EINVAL;
	const struct guest_ram_region *r = find(gr, gpa, len);
	if (!r)
		return -EFAULT;
	*off = r->offset + (gpa - r->gpa);
	return 0;
}

int guest_ram_discard(struct guest_ram *gr, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	uint64_t off;
	int ret = to_offset(gr, gpa, len, &off);
	if (ret) {
		if (freed)
			*freed = 0;
		return ret;
	}
	mark(gr, MARK_BALLOONED, off, len, true);
	return ram_discard(gr->ram, off, len, freed);
}

int guest_ram_discard_runs(struct guest_ram *gr, const struct guest_ram_run *runs, size_t n,
			   uint64_t *freed)
{
	struct ram_range r[RUN_CHUNK];
	uint64_t total = 0, off;
	int ret = 0;

	if (freed)
		*freed = 0;
	if (n && !runs)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if ((ret = to_offset(gr, runs[i].gpa, runs[i].len, &off)))
			return ret;
		/* Both ends are inside RAM, so the sum cannot wrap. */
		if (i && runs[i].gpa < runs[i - 1].gpa + runs[i - 1].len)
			return -EINVAL;
	}
	for (size_t i = 0; i < n && !ret;) {
		size_t k = 0;
		uint64_t f = 0;
		for (; k < RUN_CHUNK && i < n; k++, i++) {
			(void)to_offset(gr, runs[i].gpa, runs[i].len, &r[k].offset);
			r[k].len = runs[i].len;
			mark(gr, MARK_BALLOONED, r[k].offset, r[k].len, true);
		}
		ret = ram_discard_ranges(gr->ram, r, k, &f);
		total += f;
	}
	if (freed)
		*freed = total;
	return ret;
}

int guest_ram_discard_reported(struct guest_ram *gr, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	uint64_t off;
	int ret = to_offset(gr, gpa, len, &off);
	if (ret) {
		if (freed)
			*freed = 0;
		return ret;
	}
	mark(gr, MARK_REPORTED, off, len, true);
	return ram_discard_reported(gr->ram, off, len, freed);
}

int guest_ram_reclaim(struct guest_ram *gr, uint64_t gpa, uint64_t len)
{
	uint64_t off;
	int ret = to_offset(gr, gpa, len, &off);
	if (ret)
		return ret;
	mark(gr, MARK_BALLOONED, off, len, false);
	mark(gr, MARK_REPORTED, off, len, false);
	return ram_reclaim(gr->ram, off, len);
}

int guest_ram_ledger(struct guest_ram *gr, struct guest_ram_ledger *out)
{
	*out = (struct guest_ram_ledger){ .size = ram_size(gr->ram),
					  .ksm_merged = -1,
					  .vmm_overhead = -1 };
	unsigned char vec[16384];
	uint64_t res = 0, other = 0, stranded = 0;
	bool huge = ram_backing(gr->ram) == RAM_BACKING_HUGETLBFS;
	for (uint64_t off = 0; off < out->size;) {
		uint64_t len = MIN(out->size - off, (uint64_t)sizeof(vec) * PAGE);
		int ret = ram_residency(gr->ram, off, len, vec);
		if (ret)
			return ret;
		for (uint64_t i = 0; i < len / PAGE; i++) {
			uint64_t p = off / PAGE + i;
			if (vec[i] & 1) {
				res++;
				/* A huge page still held though the guest gave parts back. */
				stranded += huge && marked(gr, MARK_BALLOONED, p);
			} else if (marked(gr, MARK_BALLOONED, p)) {
				out->ballooned += PAGE;
			} else if (marked(gr, MARK_REPORTED, p)) {
				out->reported += PAGE;
			} else {
				other++;
			}
		}
		off += len;
	}
	struct host_mem_vma v;
	bool have = !host_mem_smaps((uintptr_t)gr->base, out->size, &v);
	res *= PAGE;
	if (huge) {
		out->resident_hugetlb = res;
		out->stranded = stranded * PAGE;
	} else {
		out->resident_thp = have ? MIN(v.thp, res) : 0;
		out->resident_4k = res - out->resident_thp;
	}
	out->swapped = have ? MIN(v.swap, other * PAGE) : 0;
	out->untouched = other * PAGE - out->swapped;
	int64_t ksm = host_mem_ksm_merging_pages();
	if (ksm >= 0)
		out->ksm_merged = (int64_t)MIN((uint64_t)ksm * PAGE, out->resident_4k);
	/* VmRSS has no hugetlb pages. */
	int64_t rss = host_mem_self_rss();
	uint64_t guest_in_rss = out->resident_4k + out->resident_thp;
	if (rss >= 0)
		out->vmm_overhead = rss > (int64_t)guest_in_rss ? rss - (int64_t)guest_in_rss : 0;
	return 0;
}

int guest_ram_clear(struct guest_ram *gr)
{
	uint64_t size;
	int ret;

	if (!gr)
		return -EINVAL;
	size = ram_size(gr->ram);
	if (ram_user_file(gr->ram))
		; /* the user's data: never zeroed or punched */
	else if (ram_preallocated(gr->ram)) {
		/* Pages the balloon gave away come back first, or the memset
		 * would take SIGBUS on an empty pool. */
		if ((ret = ram_populate(gr->ram, 0, size)))
			return ret;
		memset(gr->base, 0, size);
	} else if ((ret = ram_discard_reported(gr->ram, 0, size, NULL)))
		return ret;
	mark(gr, MARK_BALLOONED, 0, size, false);
	mark(gr, MARK_REPORTED, 0, size, false);
	/* The new guest starts with all RAM in use: no huge page may count as
	 * partly given back by the old one's balloon. */
	return ram_reclaim(gr->ram, 0, size);
}

/* ---- the ops table ---- */

static int ops_discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	return guest_ram_discard(opaque, gpa, len, freed);
}

static int ops_discard_runs(void *opaque, const struct guest_ram_run *runs, size_t n,
			    uint64_t *freed)
{
	return guest_ram_discard_runs(opaque, runs, n, freed);
}

static int ops_discard_reported(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed)
{
	return guest_ram_discard_reported(opaque, gpa, len, freed);
}

static int ops_reclaim(void *opaque, uint64_t gpa, uint64_t len)
{
	return guest_ram_reclaim(opaque, gpa, len);
}

const struct guest_ram_ops guest_ram_ops = {
	.discard = ops_discard,
	.discard_runs = ops_discard_runs,
	.discard_reported = ops_discard_reported,
	.reclaim = ops_reclaim,
};
