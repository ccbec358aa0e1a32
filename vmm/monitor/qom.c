/* The QOM tree, built on demand from the machine's configuration and its
 * devices: each node is a list of properties (name, type, value), with
 * children as child<T> properties whose value is the child's path, as
 * QEMU's qom-get returns it. Checked against QEMU 7.2's microvm. */
#include "vmm/monitor/qom.h"

#include <stdio.h>
#include <string.h>

#include "balloon/balloon.h"
#include "devices/virtio_mmio.h"
#include "vmm/config/config.h"

#define BALLOON_QOM_TYPE "virtio-balloon-device"
#define RNG_QOM_TYPE     "virtio-rng-device"
#define CPU_QOM_TYPE     "host-x86_64-cpu"
#define MACHINE_QOM_TYPE "microvm-machine"

static const struct vm_config *cfg_of(const struct qmp_ctx *ctx, struct vm_config *tmp)
{
	if (ctx->be->cfg)
		return ctx->be->cfg;
	config_defaults(tmp); /* tests and the fuzzer have no configuration */
	return tmp;
}

static const char *balloon_path(const struct qmp_ctx *ctx)
{
	return ctx->be->balloon_qom_path ? ctx->be->balloon_qom_path : MONITOR_BALLOON_QOM_PATH;
}

/* ---- building nodes ----------------------------------------------------- */

/* Appends {"name", "type"[, "value"]} (value stolen; NULL: not readable):
 * 0, or -1 when out of memory. */
static int prop(json_t *list, const char *name, const char *type, json_t *value)
{
	json_t *p = json_pack("{s:s,s:s}", "name", name, "type", type);
	if (!p || (value && json_object_set_new(p, "value", value)) ||
	    json_array_append_new(list, p)) {
		json_decref(value);
		return -1;
	}
	return 0;
}

static int child(json_t *list, const char *parent, const char *name, const char *type)
{
	char t[96], path[256];
	snprintf(t, sizeof(t), "child<%s>", type);
	snprintf(path, sizeof(path), "%s/%s", strcmp(parent, "/") ? parent : "", name);
	return prop(list, name, t, json_string(path));
}

static int props_type(json_t *list, const char *type)
{
	return prop(list, "type", "string", json_string(type));
}

/* The -object's type, or what QEMU would create for -m/-mem-path. */
static const char *ram_type(const struct vm_config *cfg)
{
	if (cfg->ram_qom_type)
		return cfg->ram_qom_type;
	if (cfg->mem_path)
		return "memory-backend-file";
	return cfg->mem_shared ? "memory-backend-memfd" : "memory-backend-ram";
}

static void ram_path(const struct vm_config *cfg, char *buf, size_t n)
{
	snprintf(buf, n, "/objects/%s", cfg->ram_id);
}

static int node_ram(json_t *l, const struct qmp_ctx *ctx, const struct vm_config *cfg)
{
	const char *type = ram_type(cfg);
	int r = props_type(l, type);
	r |= prop(l, "size", "uint64", json_integer((json_int_t)ctx->be->ram_size));
	r |= prop(l, "merge", "bool", json_boolean(cfg->mem_merge));
	r |= prop(l, "dump", "bool", json_boolean(cfg->mem_dump));
	r |= prop(l, "prealloc", "bool", json_boolean(cfg->mem_prealloc));
	r |= prop(l, "prealloc-threads", "uint32", json_integer(cfg->prealloc_threads));
	r |= prop(l, "share", "bool", json_boolean(cfg->mem_shared));
	r |= prop(l, "reserve", "bool", json_boolean(cfg->mem_reserve));
	r |= prop(l, "policy", "HostMemPolicy", json_string("default"));
	r |= prop(l, "host-nodes", "int", json_array());
	if (cfg->mem_path)
		r |= prop(l, "mem-path", "string", json_string(cfg->mem_path));
	if (!strcmp(type, "memory-backend-memfd")) {
		r |= prop(l, "hugetlb", "bool", json_boolean(cfg->mem_hugetlb_size));
		r |= prop(l, "hugetlbsize", "size",
			  json_integer((json_int_t)cfg->mem_hugetlb_size));
		r |= prop(l, "seal", "bool", json_true());
	}
	return r;
}

/* The chardevs QEMU would have: monitors numbered in order, the UART's. */
struct chardev {
	char label[32];
	const char *type;
	char filename[160];
};

static unsigned chardevs(const struct vm_config *cfg, struct chardev out[3])
{
	unsigned n = 0, mon = 0;
	if (cfg->serial == SERIAL_STDIO || cfg->serial == SERIAL_FILE) {
		bool file = cfg->serial == SERIAL_FILE;
		out[n] = (struct chardev){ .label = "serial0",
					   .type = file ? "chardev-file" : "chardev-stdio" };
		snprintf(out[n++].filename, sizeof(out[0].filename), "%s", file ? "file" : "stdio");
	}
	const struct chardev_spec *specs[] = { &cfg->qmp, &cfg->monitor };
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		if (!specs[i]->set)
			continue;
		out[n].type = specs[i]->stdio ? "chardev-stdio" : "chardev-socket";
		snprintf(out[n].label, sizeof(out[n].label), "compat_monitor%u", mon++);
		if (specs[i]->stdio)
			snprintf(out[n].filename, sizeof(out[n].filename), "stdio");
		else
			snprintf(out[n].filename, sizeof(out[n].filename), "unix:%s,server=on",
				 specs[i]->path);
		n++;
	}
	return n;
}

static int node_balloon(json_t *l, const struct qmp_ctx *ctx, const struct vm_config *cfg)
{
	struct balloon_stats st;
	balloon_get_stats(ctx->be->balloon, &st);
	uint64_t f = VIRTIO_MMIO_TRANSPORT_FEATURES;
	int r = props_type(l, BALLOON_QOM_TYPE);
	r |= prop(l, "realized", "bool", json_true());
	r |= prop(l, "hotplugged", "bool", json_false());
	r |= prop(l, "hotpluggable", "bool", json_false());
	r |= prop(l, "queue_reset", "bool", json_false());
	r |= prop(l, "use-disabled-flag", "bool", json_true());
	r |= prop(l, "packed", "bool", json_false());
	r |= prop(l, "iommu_platform", "bool", json_false());
	r |= prop(l, "event_idx", "bool", json_boolean(f & (1ull << VIRTIO_F_EVENT_IDX)));
	r |= prop(l, "x-disable-legacy-check", "bool", json_false());
	r |= prop(l, "notify_on_empty", "bool", json_true());
	r |= prop(l, "any_layout", "bool", json_true());
	r |= prop(l, "use-started", "bool", json_true());
	r |= prop(l, "indirect_desc", "bool", json_boolean(f & (1ull << VIRTIO_F_INDIRECT_DESC)));
	r |= prop(l, "legacy-iothread", "str", NULL);
	r |= prop(l, "iothread", "link<iothread>", json_string(""));
	r |= prop(l, "deflate-on-oom", "bool", json_boolean(cfg->balloon.deflate_on_oom));
	r |= prop(l, "free-page-hint", "bool", json_false());
	r |= prop(l, "page-poison", "bool", json_true());
	r |= prop(l, "qemu-4-0-config-size", "bool", json_false());
	r |= prop(l, "free-page-reporting", "bool", json_boolean(cfg->balloon.free_page_reporting));
	r |= prop(l, "guest-stats-polling-interval", "int", json_integer(st.polling_interval_s));
	json_t *stats = json_object();
	for (int i = 0; stats && i < BALLOON_STAT_QEMU72_COUNT; i++) {
		/* QEMU shows a never-sent statistic as 2^64-1. */
		uint64_t v = st.value[i] < 0 ? UINT64_MAX : (uint64_t)st.value[i];
		if (json_object_set_new(stats, balloon_stat_name(i), qmp_u64(v))) {
			json_decref(stats);
			stats = NULL;
		}
	}
	json_t *gs = stats ? json_pack("{s:o,s:I}", "stats", stats, "last-update",
				       (json_int_t)st.last_update)
			   : NULL;
	return r | (gs ? prop(l, "guest-stats", "guest statistics", gs) : -1);
}

static int node_peripheral_anon(json_t *l, const struct qmp_ctx *ctx, const struct vm_config *cfg,
				const char *path, const char *want)
{
	int r = want ? 0 : props_type(l, "container");
	const char *bp = balloon_path(ctx);
	size_t pl = strlen(path);
	bool balloon_here = ctx->be->balloon && !strncmp(bp, path, pl) && bp[pl] == '/' &&
			    !strchr(bp + pl + 1, '/');
	unsigned idx = 0, rngs = 0;
	for (; rngs < cfg->rng || (balloon_here && idx == 0); idx++) {
		char name[32];
		snprintf(name, sizeof(name), "device[%u]", idx);
		bool is_balloon = balloon_here && !strcmp(bp + pl + 1, name);
		if (!is_balloon && rngs == cfg->rng)
			continue;
		if (!is_balloon)
			rngs++;
		if (want && !strcmp(want, name))
			return is_balloon ? 2 : 3; /* the caller builds the child */
		if (!want)
			r |= child(l, path, name, is_balloon ? BALLOON_QOM_TYPE : RNG_QOM_TYPE);
	}
	return want ? 1 : r;
}

/* Fills l with the properties of the object at an absolute path: 0, 1 when
 * there is no such object, -1 when out of memory. */
static int node_props(const struct qmp_ctx *ctx, const char *path, json_t *l)
{
	struct vm_config tmp;
	const struct vm_config *cfg = cfg_of(ctx, &tmp);
	const struct monitor_backend *be = ctx->be;
	struct chardev cd[3];
	unsigned ncd = chardevs(cfg, cd);
	int r = 0;
	const char *bp = balloon_path(ctx);
	size_t bpl = strlen(bp);
	if (be->balloon && (!strcmp(path, bp) ||
			    (!strncmp(path, bp, bpl) && !strcmp(path + bpl, "/virtio-backend"))))
		return node_balloon(l, ctx, cfg); /* virtio-backend: a PCI proxy's child */
	if (!strcmp(path, "/")) {
		r = props_type(l, "container");
		r |= child(l, "/", "objects", "container");
		r |= child(l, "/", "machine", MACHINE_QOM_TYPE);
		r |= child(l, "/", "chardevs", "container");
	} else if (!strcmp(path, "/objects")) {
		r = props_type(l, "container");
		r |= child(l, path, cfg->ram_id, ram_type(cfg));
	} else if (!strncmp(path, "/objects/", 9) && !strcmp(path + 9, cfg->ram_id)) {
		r = node_ram(l, ctx, cfg);
	} else if (!strcmp(path, "/chardevs")) {
		r = props_type(l, "container");
		for (unsigned i = 0; i < ncd; i++)
			r |= child(l, path, cd[i].label, cd[i].type);
	} else if (!strncmp(path, "/chardevs/", 10)) {
		unsigned i;
		for (i = 0; i < ncd && strcmp(path + 10, cd[i].label); i++) {
		}
		if (i == ncd)
			return 1;
		r = props_type(l, cd[i].type);
	} else if (!strcmp(path, "/machine")) {
		r = props_type(l, MACHINE_QOM_TYPE);
		r |= prop(l, "kernel", "string", json_string(cfg->kernel ? cfg->kernel : ""));
		r |= prop(l, "initrd", "string", json_string(cfg->initrd ? cfg->initrd : ""));
		r |= prop(l, "append", "string", json_string(cfg->append ? cfg->append : ""));
		r |= prop(l, "dumpdtb", "string", json_string(cfg->dumpdtb ? cfg->dumpdtb : ""));
		r |= prop(l, "mem-merge", "bool", json_boolean(cfg->mem_merge));
		r |= prop(l, "dump-guest-core", "bool", json_true());
		r |= prop(l, "memory", "MemorySizeConfiguration",
			  json_pack("{s:I}", "size", (json_int_t)be->ram_size));
		r |= prop(l, "smp", "SMPConfiguration",
			  json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "cpus", (int)be->ncpus,
				    "maxcpus", (int)be->ncpus, "threads", 1, "cores",
				    (int)be->ncpus, "dies", 1, "sockets", 1, "clusters", 1));
		char rp[96];
		ram_path(cfg, rp, sizeof(rp));
		r |= prop(l, "memory-backend", "link<memory-backend>", json_string(rp));
		r |= child(l, path, "peripheral-anon", "container");
		r |= child(l, path, "peripheral", "container");
		r |= child(l, path, "unattached", "container");
	} else if (!strcmp(path, "/machine/peripheral")) {
		r = props_type(l, "container");
		if (be->balloon && !strncmp(bp, "/machine/peripheral/", 20))
			r |= child(l, path, bp + 20, BALLOON_QOM_TYPE);
	} else if (!strcmp(path, "/machine/peripheral-anon")) {
		r = node_peripheral_anon(l, ctx, cfg, path, NULL);
	} else if (!strncmp(path, "/machine/peripheral-anon/", 25)) {
		int k = node_peripheral_anon(l, ctx, cfg, "/machine/peripheral-anon", path + 25);
		if (k != 3)
			return 1; /* the balloon was matched above */
		r = props_type(l, RNG_QOM_TYPE);
		r |= prop(l, "realized", "bool", json_true());
	} else if (!strcmp(path, "/machine/unattached")) {
		r = props_type(l, "container");
		for (unsigned i = 0; i < be->ncpus; i++) {
			char name[32];
			snprintf(name, sizeof(name), "device[%u]", i);
			r |= child(l, path, name, CPU_QOM_TYPE);
		}
	} else if (!strncmp(path, "/machine/unattached/device[", 27)) {
		unsigned i;
		char end;
		if (sscanf(path + 27, "%u%c", &i, &end) != 2 || end != ']' || i >= be->ncpus ||
		    strchr(path + 27, ']')[1])
			return 1;
		char canon[64];
		snprintf(canon, sizeof(canon), "/machine/unattached/device[%u]", i);
		if (strcmp(canon, path)) /* device[01] is not device[1] */
			return 1;
		r = props_type(l, CPU_QOM_TYPE);
		r |= prop(l, "realized", "bool", json_true());
		r |= prop(l, "hotplugged", "bool", json_false());
		r |= prop(l, "hotpluggable", "bool", json_false());
		r |= prop(l, "apic-id", "uint32", json_integer(i));
	} else {
		return 1;
	}
	return r ? -1 : 0;
}

/* Every object's path, for partial paths (depth first from "/"). */
static int walk(const struct qmp_ctx *ctx, const char *path, const char *partial, json_t *found,
		int depth)
{
	json_t *l = json_array();
	if (!l || node_props(ctx, path, l) < 0 || depth > 8) {
		json_decref(l);
		return l ? 0 : -1;
	}
	size_t n = strlen(path), pl = strlen(partial);
	if (n > pl && path[n - pl - 1] == '/' && !strcmp(path + n - pl, partial))
		json_array_append_new(found, json_string(path));
	size_t i;
	json_t *p;
	json_array_foreach(l, i, p) {
		const char *type = json_string_value(json_object_get(p, "type"));
		const char *cp = json_string_value(json_object_get(p, "value"));
		if (type && cp && !strncmp(type, "child<", 6) &&
		    walk(ctx, cp, partial, found, depth + 1)) {
			json_decref(l);
			return -1;
		}
	}
	json_decref(l);
	return 0;
}

/* The node's properties for a path argument, or NULL with *err set. A
 * partial path naming several objects is not found, except that qom-list
 * (listing) says it is ambiguous: QEMU 7.2's two texts. */
static json_t *resolve(const struct qmp_ctx *ctx, json_t *args, bool listing, char *abs,
		       size_t abslen, struct qmp_error *err)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	json_t *l = json_array();
	if (!l)
		return NULL;
	if ((size_t)snprintf(abs, abslen, "%s", path) >= abslen) {
		/* longer than any object's path */
		qmp_error_set(err, QMP_CLS_DEV_NOT_FOUND, "Device '%.64s...' not found", path);
		json_decref(l);
		return NULL;
	}
	if (path[0] != '/' && path[0]) {
		json_t *found = json_array();
		if (!found || walk(ctx, "/", path, found, 0)) {
			json_decref(found);
			json_decref(l);
			return NULL;
		}
		if (json_array_size(found) > 1) {
			if (listing)
				qmp_error_set(err, QMP_CLS_GENERIC, "Path '%s' is ambiguous", path);
			else
				qmp_error_set(err, QMP_CLS_DEV_NOT_FOUND, "Device '%s' not found",
					      path);
			json_decref(found);
			json_decref(l);
			return NULL;
		}
		if (json_array_size(found) == 1)
			snprintf(abs, abslen, "%s", json_string_value(json_array_get(found, 0)));
		json_decref(found);
	}
	int r = path[0] ? node_props(ctx, abs, l) : 1;
	if (r) {
		if (r > 0)
			qmp_error_set(err, QMP_CLS_DEV_NOT_FOUND, "Device '%s' not found", path);
		json_decref(l);
		return NULL;
	}
	return l;
}

static const char *node_type(json_t *l)
{
	return json_string_value(json_object_get(qmp_find_named(l, "type"), "value"));
}

/* ---- commands ------------------------------------------------------------ */

static json_t *cmd_qom_list(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	char abs[256];
	json_t *l = resolve(ctx, args, true, abs, sizeof(abs), err);
	if (!l)
		return NULL;
	size_t i;
	json_t *p;
	json_array_foreach(l, i, p) {
		json_object_del(p, "value");
	}
	return l;
}

static json_t *cmd_qom_get(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	char abs[256];
	json_t *l = resolve(ctx, args, false, abs, sizeof(abs), err);
	if (!l)
		return NULL;
	const char *name = json_string_value(json_object_get(args, "property"));
	json_t *p = qmp_find_named(l, name), *v = json_object_get(p, "value");
	json_t *ret = json_incref(v);
	if (!p)
		qmp_error_set(err, QMP_CLS_GENERIC, "Property '%s.%s' not found", node_type(l),
			      name);
	else if (!v)
		qmp_error_set(err, QMP_CLS_GENERIC, "Property '%s.%s' is not readable",
			      node_type(l), name);
	json_decref(l);
	return ret;
}

static json_t *set_polling_interval(const struct qmp_ctx *ctx, json_t *value, struct qmp_error *err)
{
	if (!qmp_is_int(value)) {
		qmp_error_set(err, QMP_CLS_GENERIC,
			      "Invalid parameter type for 'guest-stats-polling-interval', "
			      "expected: integer");
		return NULL;
	}
	uint64_t u;
	json_int_t v = qmp_get_u64(value, &u)
			       ? (u > UINT32_MAX ? (json_int_t)UINT32_MAX + 1 : (json_int_t)u)
			       : -1;
	if (v < 0) {
		qmp_error_set(err, QMP_CLS_GENERIC, "timer value must be greater than zero");
		return NULL;
	}
	if (v > UINT32_MAX) {
		qmp_error_set(err, QMP_CLS_GENERIC, "timer value is too big");
		return NULL;
	}
	int ret = balloon_set_stats_interval(ctx->be->balloon, (uint32_t)v);
	if (ret < 0) {
		qmp_error_set(err, QMP_CLS_GENERIC, "cannot set the polling interval: %s",
			      strerror(-ret));
		return NULL;
	}
	return json_object();
}

static json_t *cmd_qom_set(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	char abs[256];
	json_t *l = resolve(ctx, args, false, abs, sizeof(abs), err);
	if (!l)
		return NULL;
	const char *name = json_string_value(json_object_get(args, "property"));
	const char *type = node_type(l);
	json_t *ret = NULL;
	/* The one property that may change on a running machine, as in QEMU. */
	if (!qmp_find_named(l, name))
		qmp_error_set(err, QMP_CLS_GENERIC, "Property '%s.%s' not found", type, name);
	else if (!strcmp(type, BALLOON_QOM_TYPE) && !strcmp(name, "guest-stats-polling-interval"))
		ret = set_polling_interval(ctx, json_object_get(args, "value"), err);
	else
		qmp_error_set(err, QMP_CLS_GENERIC, "Property '%s.%s' is not writable", type, name);
	json_decref(l);
	return ret;
}

const struct qmp_command qom_commands[] = {
	{ "qom-list", cmd_qom_list, { { "path", QMP_ARG_STR, false } } },
	{ "qom-get",
	  cmd_qom_get,
	  { { "path", QMP_ARG_STR, false }, { "property", QMP_ARG_STR, false } } },
	{ "qom-set",
	  cmd_qom_set,
	  { { "path", QMP_ARG_STR, false },
	    { "property", QMP_ARG_STR, false },
	    { "value", QMP_ARG_ANY, false } } },
	{ 0 },
};

/* ---- views for query-memdev and query-chardev ---------------------------- */

json_t *qom_memdev_list(const struct qmp_ctx *ctx)
{
	struct vm_config tmp;
	const struct vm_config *cfg = cfg_of(ctx, &tmp);
	return json_pack("[{s:b,s:b,s:b,s:[],s:I,s:b,s:b,s:s,s:s}]", "share", cfg->mem_shared,
			 "reserve", cfg->mem_reserve, "prealloc", cfg->mem_prealloc, "host-nodes",
			 "size", (json_int_t)ctx->be->ram_size, "merge", cfg->mem_merge, "dump",
			 cfg->mem_dump, "policy", "default", "id", cfg->ram_id);
}

json_t *qom_chardev_list(const struct qmp_ctx *ctx)
{
	struct vm_config tmp;
	const struct vm_config *cfg = cfg_of(ctx, &tmp);
	struct chardev cd[3];
	unsigned n = chardevs(cfg, cd);
	json_t *list = json_array();
	for (unsigned i = 0; list && i < n; i++) {
		if (json_array_append_new(list,
					  json_pack("{s:b,s:s,s:s}", "frontend-open", 1, "filename",
						    cd[i].filename, "label", cd[i].label))) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}
