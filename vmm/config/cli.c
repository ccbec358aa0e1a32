#include "vmm/config/cli.h"
#include "vmm/lib/size.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "y")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "n")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
	if (!v || !*v || *v == '-' || *v == '+' || isspace((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	char *end;
	/* Decimal, or hex with 0x: "010" is ten, not octal eight. */
	int base = v[0] == '0' && (v[1] == 'x' || v[1] == 'X') ? 16 : 10;
	unsigned long long x = strtoull(v, &end, base);
	if (errno || *end)
		return -EINVAL;
	if (x > max)
		return -ERANGE;
	*out = x;
	return 0;
}

/* Splits "a=1,b=2" in place; calls fn for each key/value (value NULL for a
 * bare word). QEMU escapes a comma as ",,"; we do not need that here. */
typedef int (*kv_fn)(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
		     size_t errlen);

static int for_each_kv(struct vm_config *cfg, const char *opt, char *s, kv_fn fn, char *err,
		       size_t errlen)
{
	char *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		int ret = fn(cfg, opt, tok, eq ? eq + 1 : NULL, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

#define BAD(...)                                    \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return -EINVAL;                     \
	} while (0)

static int bool_prop(const char *opt, const char *key, const char *val, bool *out, char *err,
		     size_t errlen)
{
	if (!val)
		val = "on";
	if (parse_bool(val, out))
		BAD("%s: %s=%s: expected on or off", opt, key, val);
	return 0;
}

static int machine_kv(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
		      size_t errlen)
{
	uint64_t n;
	static const char *const bool_props[] = { "mem-merge",   "thp", "mem-shared",
						  "host-quirks", "dt",  "pvh" };
	if (!val) {
		/* A bare boolean property means on, as in QEMU. */
		for (size_t i = 0; i < ARRAY_SIZE(bool_props); i++)
			if (!strcmp(key, bool_props[i]))
				return machine_kv(cfg, opt, key, "on", err, errlen);
		/* Any other bare word is the machine type, as in `-machine microvm`. */
		val = key;
		key = "type";
	}
	if (!strcmp(key, "type")) {
		if (!strcmp(val, "memvm") || !strcmp(val, "microvm") || !strcmp(val, "pc") ||
		    !strcmp(val, "q35"))
			return 0;
		BAD("%s: unknown machine type '%s' (memvm has one machine; omit it)", opt, val);
	}
	if (!strcmp(key, "accel")) {
		if (strcmp(val, "kvm"))
			BAD("%s: accel=%s: memvm runs on KVM only", opt, val);
		return 0;
	}
	if (!strcmp(key, "prealloc-threads")) {
		if (parse_uint(val, 1024, &n) || n == 0)
			BAD("%s: prealloc-threads=%s: expected a number from 1 to 1024", opt, val);
		cfg->prealloc_threads = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "mem-merge"))
		return bool_prop(opt, key, val, &cfg->mem_merge, err, errlen);
	if (!strcmp(key, "thp"))
		return bool_prop(opt, key, val, &cfg->thp, err, errlen);
	if (!strcmp(key, "mem-shared"))
		return bool_prop(opt, key, val, &cfg->mem_shared, err, errlen);
	if (!strcmp(key, "pvh"))
		return bool_prop(opt, key, val, &cfg->pvh, err, errlen);
	if (!strcmp(key, "host-quirks"))
		return bool_prop(opt, key, val, &cfg->host_quirks, err, errlen);
	if (!strcmp(key, "dt")) {
		bool b;
		if (bool_prop(opt, key, val, &b, err, errlen))
			return -EINVAL;
		cfg->dt = b ? TRI_ON : TRI_OFF;
		return 0;
	}
	if (!strcmp(key, "dumpdtb")) {
		if (!*val)
			BAD("%s: dumpdtb needs a file name", opt);
		cfg->dumpdtb = val;
		return 0;
	}
	if (!strcmp(key, "memory-backend")) {
		if (!*val)
			BAD("%s: memory-backend needs the id of an -object memory-backend-*", opt);
		cfg->memory_backend = val;
		return 0;
	}
	BAD("%s: unknown property '%s' (known: prealloc-threads, mem-merge, thp, mem-shared, "
	    "host-quirks, dt, pvh, dumpdtb, memory-backend)",
	    opt, key);
}

static int debug_exit_kv(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
			 size_t errlen)
{
	uint64_t n;
	if (!val)
		BAD("%s: '%s' needs a value", opt, key);
	if (!strcmp(key, "iobase")) {
		if (parse_uint(val, 0xffff, &n))
			BAD("%s: iobase=%s: expected a port number up to 0xffff", opt, val);
		cfg->debug_exit_port = (uint16_t)n;
		return 0;
	}
	if (!strcmp(key, "iosize")) {
		if (parse_uint(val, 4, &n) || !(n == 1 || n == 2 || n == 4))
			BAD("%s: iosize=%s: expected 1, 2 or 4", opt, val);
		cfg->debug_exit_size = (uint16_t)n;
		return 0;
	}
	BAD("%s: isa-debug-exit has no property '%s' (iobase, iosize)", opt, key);
}

static int balloon_kv(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
		      size_t errlen)
{
	uint64_t n;
	if (!strcmp(key, "deflate-on-oom"))
		return bool_prop(opt, key, val, &cfg->balloon.deflate_on_oom, err, errlen);
	if (!strcmp(key, "free-page-reporting"))
		return bool_prop(opt, key, val, &cfg->balloon.free_page_reporting, err, errlen);
	if (!strcmp(key, "guest-stats-polling-interval")) {
		if (!val || parse_uint(val, 86400, &n))
			BAD("%s: guest-stats-polling-interval=%s: expected seconds (0 to 86400)",
			    opt, val ? val : "");
		cfg->balloon.stats_interval_s = (uint32_t)n;
		return 0;
	}
	if (!strcmp(key, "autopilot"))
		return bool_prop(opt, key, val, &cfg->balloon.autopilot, err, errlen);
	static const struct {
		const char *key;
		size_t off;
	} ap_sizes[] = {
		{ "autopilot-floor", offsetof(struct balloon_spec, autopilot_floor) },
		{ "autopilot-step", offsetof(struct balloon_spec, autopilot_step) },
		{ "autopilot-reserve", offsetof(struct balloon_spec, autopilot_reserve) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(ap_sizes); i++) {
		if (strcmp(key, ap_sizes[i].key))
			continue;
		if (!val || size_parse(val, 1ull << 20, &n) || !n)
			BAD("%s: %s=%s: expected a size (plain number = MiB, or K/M/G suffix)", opt,
			    key, val ? val : "");
		memcpy((char *)&cfg->balloon + ap_sizes[i].off, &n, sizeof(n));
		return 0;
	}
	if (!strcmp(key, "id") || !strcmp(key, "bus"))
		return 0;
	BAD("%s: virtio-balloon has no property '%s' (deflate-on-oom, free-page-reporting, "
	    "guest-stats-polling-interval, autopilot, autopilot-floor, autopilot-step, "
	    "autopilot-reserve)",
	    opt, key);
}

static int none_kv(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
		   size_t errlen)
{
	(void)cfg;
	(void)val;
	if (!strcmp(key, "id"))
		return 0;
	BAD("%s: unknown property '%s'", opt, key);
}

static int parse_device(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	char *comma = strchr(arg, ',');
	char *props = comma ? comma + 1 : NULL;
	if (comma)
		*comma = '\0';
	if (!strcmp(arg, "isa-debug-exit")) {
		if (cfg->debug_exit)
			BAD("-device isa-debug-exit: given twice; memvm has one debug exit port");
		cfg->debug_exit = true;
		return props ? for_each_kv(cfg, "-device isa-debug-exit", props, debug_exit_kv, err,
					   errlen)
			     : 0;
	}
	if (!strcmp(arg, "virtio-balloon") || !strcmp(arg, "virtio-balloon-device") ||
	    !strcmp(arg, "virtio-balloon-pci")) {
		if (cfg->balloon.enabled)
			BAD("-device virtio-balloon: Only one balloon device is supported");
		cfg->balloon.enabled = true;
		return props ? for_each_kv(cfg, "-device virtio-balloon", props, balloon_kv, err,
					   errlen)
			     : 0;
	}
	if (!strcmp(arg, "virtio-rng") || !strcmp(arg, "virtio-rng-device") ||
	    !strcmp(arg, "virtio-rng-pci")) {
		cfg->rng++;
		return props ? for_each_kv(cfg, "-device virtio-rng", props, none_kv, err, errlen)
			     : 0;
	}
	if (!strcmp(arg, "help"))
		BAD("-device: available devices: virtio-balloon, virtio-rng, isa-debug-exit");
	BAD("-device %s: unknown device (available: virtio-balloon, virtio-rng, isa-debug-exit)",
	    arg);
}

/* -qmp / -monitor: "unix:PATH[,server=on|server][,wait=off|nowait]" or "stdio". */
static int parse_chardev(const char *opt, char *arg, bool allow_stdio, struct chardev_spec *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!strcmp(arg, "stdio")) {
		if (!allow_stdio)
			BAD("%s stdio: not supported (use unix:PATH,server=on,wait=off)", opt);
		out->set = out->stdio = true;
		return 0;
	}
	if (!strcmp(arg, "none"))
		return 0;
	if (strncmp(arg, "unix:", 5))
		BAD("%s %s: expected unix:PATH,server=on,wait=off%s", opt, arg,
		    allow_stdio ? " or stdio" : "");
	char *path = arg + 5;
	char *comma = strchr(path, ',');
	if (comma)
		*comma = '\0';
	if (!*path)
		BAD("%s: empty socket path", opt);
	if (strlen(path) >= sizeof(out->path))
		BAD("%s: socket path longer than %zu bytes", opt, sizeof(out->path) - 1);
	bool server = false, wait = true;
	char *save = NULL;
	for (char *tok = comma ? strtok_r(comma + 1, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		if (!strcmp(tok, "server")) {
			if (eq && parse_bool(eq, &server))
				BAD("%s: server=%s: expected on or off", opt, eq);
			if (!eq)
				server = true;
		} else if (!strcmp(tok, "wait")) {
			if (!eq || parse_bool(eq, &wait))
				BAD("%s: wait needs on or off", opt);
		} else if (!strcmp(tok, "nowait") && !eq) {
			wait = false;
		} else if (!strcmp(tok, "nodelay") || !strcmp(tok, "telnet")) {
			continue;
		} else {
			BAD("%s: unknown socket option '%s'", opt, tok);
		}
	}
	if (!server)
		BAD("%s: memvm only listens (add server=on,wait=off)", opt);
	if (wait)
		BAD("%s: waiting for a client at start is not supported (add wait=off)", opt);
	out->set = true;
	snprintf(out->path, sizeof(out->path), "%s", path);
	return 0;
}

/* -object memory-backend-ram|file|memfd,id=ID,size=S,...: QEMU's keys
 * and defaults (memfd is shared unless share=off, which memvm lacks). */
static int memdev_kv(struct vm_config *cfg, const char *opt, char *key, char *val, char *err,
		     size_t errlen)
{
	struct memdev_spec *m = &cfg->memdev;
	const char *t = m->qom_type;
	bool file = !strcmp(t, "memory-backend-file"), memfd = !strcmp(t, "memory-backend-memfd");
	uint64_t n;
	if (!strcmp(key, "id")) {
		if (!val || !*val ||
		    (size_t)snprintf(m->id, sizeof(m->id), "%s", val) >= sizeof(m->id))
			BAD("%s: id= needs a name of 1 to %zu characters", opt, sizeof(m->id) - 1);
		return 0;
	}
	if (!strcmp(key, "size")) {
		int r = val ? size_parse(val, 1, &m->size) : -EINVAL;
		if (r)
			BAD("%s: size=%s: invalid size (use e.g. 512M or 2G)", opt, val ? val : "");
		return 0;
	}
	if (file && !strcmp(key, "mem-path")) {
		if (!val || !*val)
			BAD("%s: mem-path needs a directory or file name", opt);
		m->mem_path = val;
		return 0;
	}
	if (!strcmp(key, "prealloc-threads")) {
		if (parse_uint(val, 1024, &n) || n == 0)
			BAD("%s: prealloc-threads=%s: expected a number from 1 to 1024", opt,
			    val ? val : "");
		m->prealloc_threads = (unsigned)n;
		return 0;
	}
	if (memfd && !strcmp(key, "hugetlbsize")) {
		if (!val || size_parse(val, 1, &n) || (n != (2ull << 20) && n != (1ull << 30)))
			BAD("%s: hugetlbsize=%s: memvm takes 2M or 1G", opt, val ? val : "");
		m->hugetlb_size = n;
		return 0;
	}
	struct {
		const char *key;
		bool *b;
		bool ok;
	} bools[] = {
		{ "share", &m->share, true },     { "prealloc", &m->prealloc, true },
		{ "merge", &m->merge, true },     { "dump", &m->dump, true },
		{ "reserve", &m->reserve, true }, { "hugetlb", &m->hugetlb, memfd },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
		if (bools[i].ok && !strcmp(key, bools[i].key))
			return bool_prop(opt, key, val, bools[i].b, err, errlen);
	/* Accepted as QEMU's defaults, which are memvm's only behaviour. */
	if ((memfd && !strcmp(key, "seal")) || (file && !strcmp(key, "discard-data")) ||
	    (!strcmp(key, "policy") && val && !strcmp(val, "default")))
		return 0;
	BAD("%s: Property '%s.%s' not found", opt, t, key);
}

static int parse_object(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	static const char *const types[] = { "memory-backend-ram", "memory-backend-file",
					     "memory-backend-memfd" };
	char opt[96];
	if (!arg)
		return -EINVAL;
	snprintf(opt, sizeof(opt), "-object %.80s", arg);
	char *type = arg, *rest = strchr(arg, ',');
	if (rest)
		*rest++ = '\0';
	if (!strncmp(type, "qom-type=", 9))
		type += 9;
	const char *known = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(type, types[i]))
			known = types[i];
	if (!known)
		BAD("%s: memvm knows memory-backend-ram, memory-backend-file and "
		    "memory-backend-memfd only",
		    opt);
	struct memdev_spec *m = &cfg->memdev;
	if (m->set)
		BAD("%s: memvm has one RAM backend; a second -object memory-backend-* is not "
		    "supported",
		    opt);
	/* QEMU's defaults: merge and dump on (memory-backend's), reserve on,
	 * memfd shared. */
	*m = (struct memdev_spec){ .set = true,
				   .qom_type = known,
				   .merge = true,
				   .dump = true,
				   .reserve = true,
				   .share = !strcmp(known, "memory-backend-memfd") };
	if (rest && for_each_kv(cfg, opt, rest, memdev_kv, err, errlen))
		return -EINVAL;
	if (!m->id[0])
		BAD("%s: Parameter 'id' is missing", opt);
	if (!m->size)
		BAD("%s: can't create backend with size 0", opt);
	if (!strcmp(known, "memory-backend-file") && !m->mem_path)
		BAD("%s: mem-path property not set", opt);
	if (m->hugetlb_size && !m->hugetlb)
		BAD("%s: hugetlbsize= needs hugetlb=on", opt);
	if (!strcmp(known, "memory-backend-memfd") && !m->share)
		BAD("%s: share=off is not supported: memvm maps a memfd shared (use "
		    "memory-backend-ram for private memory)",
		    opt);
	return 0;
}

/* -machine memory-backend=ID: the backend becomes the RAM, checked as QEMU
 * checks it. */
static int resolve_memdev(struct vm_config *cfg, char *err, size_t errlen)
{
	struct memdev_spec *m = &cfg->memdev;
	if (!cfg->memory_backend)
		BAD("-object %s,id=%s is not used: it can only be memvm's RAM; add -machine "
		    "memory-backend=%s",
		    m->qom_type, m->id, m->id);
	if (!m->set || strcmp(m->id, cfg->memory_backend))
		BAD("Memory backend '%s' not found", cfg->memory_backend);
	if (cfg->mem_path)
		BAD("-mem-path and -machine memory-backend cannot be used together (give the "
		    "backend mem-path=)");
	if (cfg->mem_prealloc)
		BAD("-mem-prealloc and -machine memory-backend cannot be used together (give the "
		    "backend prealloc=on)");
	if (cfg->ram_size_set && cfg->ram_size != m->size)
		BAD("Size specified by -m option must match size of explicitly specified "
		    "'memory-backend' property");
	if (m->size < (2ull << 20) || (m->size & 0xfff))
		BAD("-object %s,id=%s: size must be at least 2 MiB and a multiple of 4 KiB",
		    m->qom_type, m->id);
	cfg->ram_size = m->size;
	cfg->mem_path = m->mem_path;
	cfg->mem_shared = m->share;
	cfg->mem_prealloc = m->prealloc;
	if (m->prealloc_threads)
		cfg->prealloc_threads = m->prealloc_threads;
	cfg->mem_merge = m->merge;
	cfg->mem_dump = m->dump;
	cfg->mem_reserve = m->reserve;
	cfg->mem_hugetlb_size = m->hugetlb ? (m->hugetlb_size ? m->hugetlb_size : 2ull << 20) : 0;
	snprintf(cfg->ram_id, sizeof(cfg->ram_id), "%s", m->id);
	cfg->ram_qom_type = m->qom_type;
	return 0;
}

/* Options that take an argument. */
static const char *const arg_opts[] = {
	"m",      "smp",     "kernel", "initrd",  "append",  "mem-path",    "machine", "M",
	"serial", "device",  "qmp",    "monitor", "balloon", "accel",       "display", "name",
	"cpu",    "sandbox", "runas",  "uuid",    "object",  "writeconfig",
};

/* Options without an argument. An option is in one of the two lists or is
 * unknown, so the lists are every option (-help and the man page are
 * checked against them); -readconfig is read before parsing. */
static const char *const flag_opts[] = {
	"mem-prealloc",   "no-reboot", "S", "enable-kvm", "nographic", "nodefaults",
	"no-user-config", "version",   "V", "help",       "h",
};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

static bool takes_arg(const char *name)
{
	return in_list(name, arg_opts, ARRAY_SIZE(arg_opts));
}

size_t cli_option_names(const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(arg_opts); i++)
		if (n < max)
			out[n++] = arg_opts[i];
	for (size_t i = 0; i < ARRAY_SIZE(flag_opts); i++)
		if (n < max)
			out[n++] = flag_opts[i];
	if (n < max)
		out[n++] = "readconfig";
	return n;
}

/* QEMU: -sandbox on|off[,obsolete=,elevateprivileges=,spawn=,resourcecontrol=];
 * memvm's sandbox denies all four always, and adds log=on|off. */
static int parse_sandbox(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	char buf[128];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", arg) >= sizeof(buf))
		BAD("-sandbox %.20s...: argument too long", arg);
	char *save = NULL;
	char *tok = strtok_r(buf, ",", &save);
	if (!tok || parse_bool(tok, &cfg->sandbox))
		BAD("-sandbox %s: expected on or off first", arg);
	cfg->sandbox_log = false;
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *val = strchr(tok, '=');
		if (val)
			*val++ = '\0';
		if (!strcmp(tok, "log")) {
			if (bool_prop("-sandbox", tok, val, &cfg->sandbox_log, err, errlen))
				return -EINVAL;
		} else if (!strcmp(tok, "obsolete") || !strcmp(tok, "elevateprivileges") ||
			   !strcmp(tok, "spawn") || !strcmp(tok, "resourcecontrol")) {
			if (!val || strcmp(val, "deny"))
				BAD("-sandbox %s: memvm's sandbox always denies %s; use %s=deny or "
				    "-sandbox off",
				    arg, tok, tok);
		} else {
			BAD("-sandbox %s: unknown option %s (expected log=on|off)", arg, tok);
		}
	}
	return 0;
}

/* QEMU: -name [guest=]NAME[,process=P][,debug-threads=on|off]. */
static int parse_name(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	char buf[256];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", arg) >= sizeof(buf))
		BAD("-name %.20s...: argument too long", arg);
	char *save = NULL;
	bool first = true;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		if (val)
			*val++ = '\0';
		const char *nm = !val && first ? tok : val && !strcmp(tok, "guest") ? val : NULL;
		first = false;
		if (nm) {
			if ((size_t)snprintf(cfg->name, sizeof(cfg->name), "%s", nm) >=
			    sizeof(cfg->name))
				BAD("-name: the name is longer than %zu bytes",
				    sizeof(cfg->name) - 1);
		} else if (!val || (strcmp(tok, "process") && strcmp(tok, "debug-threads"))) {
			BAD("-name %s: expected NAME or guest=NAME[,process=P][,debug-threads=on|off]",
			    arg);
		}
	}
	return 0;
}

static int parse_uuid(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (strlen(arg) != sizeof(form) - 1)
		BAD("-uuid %s: expected the form %s (hexadecimal)", arg, form);
	for (size_t i = 0; form[i]; i++) {
		bool ok = form[i] == '-' ? arg[i] == '-' : isxdigit((unsigned char)arg[i]);
		if (!ok)
			BAD("-uuid %s: expected the form %s (hexadecimal)", arg, form);
		cfg->uuid[i] = (char)tolower((unsigned char)arg[i]);
	}
	cfg->uuid[sizeof(form) - 1] = '\0';
	return 0;
}

static int parse_smp(struct vm_config *cfg, const char *arg, char *err, size_t errlen)
{
	/* QEMU: -smp [cpus=]N[,maxcpus=,sockets=,cores=,threads=]; we use N. */
	char buf[64];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", arg) >= sizeof(buf))
		BAD("-smp %.20s...: argument too long", arg);
	char *comma = strchr(buf, ',');
	if (comma)
		*comma = '\0';
	const char *n = strncmp(buf, "cpus=", 5) ? buf : buf + 5;
	uint64_t v;
	if (parse_uint(n, UINT32_MAX, &v))
		BAD("-smp %s: expected a number of vCPUs", arg);
	if (v == 0)
		BAD("-smp 0: a VM needs at least one vCPU");
	if (v > VM_MAX_CPUS)
		BAD("-smp %s: at most %u vCPUs", arg, VM_MAX_CPUS);
	cfg->smp = (unsigned)v;
	return 0;
}

/* The options, files expanded; *at is the word being parsed (-1 after). */
static int parse_words(int argc, char **argv, int *at, struct vm_config *cfg, char *err,
		       size_t errlen)
{
	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		*at = i;
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			BAD("unexpected argument '%s' (options start with '-'; see -help)", a);
		const char *name = a + 1;
		if (*name == '-')
			name++; /* QEMU accepts --opt too */
		char *arg = NULL;
		if (!takes_arg(name) && !in_list(name, flag_opts, ARRAY_SIZE(flag_opts)))
			BAD("unknown option '%s' (see -help)", a);
		if (takes_arg(name)) {
			if (i + 1 >= argc)
				BAD("-%s needs an argument (see -help)", name);
			arg = argv[++i];
		}

		if (!strcmp(name, "m")) {
			const char *s = strncmp(arg, "size=", 5) ? arg : arg + 5;
			char buf[64];
			if ((size_t)snprintf(buf, sizeof(buf), "%s", s) >= sizeof(buf))
				BAD("-m %.20s...: argument too long", arg);
			char *comma = strchr(buf, ',');
			if (comma)
				*comma = '\0';
			uint64_t v;
			int r = size_parse(buf, 1ull << 20, &v);
			if (r == -ERANGE)
				BAD("-m %s: size too large", arg);
			if (r)
				BAD("-m %s: invalid size (use e.g. 512, 512M or 2G)", arg);
			if (v < (2ull << 20))
				BAD("-m %s: at least 2 MiB of RAM is needed", arg);
			if (v & 0xfff)
				BAD("-m %s: RAM size must be a multiple of 4 KiB", arg);
			cfg->ram_size = v;
			cfg->ram_size_set = true;
		} else if (!strcmp(name, "object")) {
			if (parse_object(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "smp")) {
			if (parse_smp(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "kernel")) {
			cfg->kernel = arg;
		} else if (!strcmp(name, "initrd")) {
			cfg->initrd = arg;
		} else if (!strcmp(name, "append")) {
			cfg->append = arg;
		} else if (!strcmp(name, "mem-path")) {
			if (!*arg)
				BAD("-mem-path needs a directory or file name");
			cfg->mem_path = arg;
		} else if (!strcmp(name, "mem-prealloc")) {
			cfg->mem_prealloc = true;
		} else if (!strcmp(name, "machine") || !strcmp(name, "M")) {
			if (for_each_kv(cfg, "-machine", arg, machine_kv, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "serial")) {
			if (!strcmp(arg, "stdio") || !strcmp(arg, "mon:stdio")) {
				cfg->serial = SERIAL_STDIO;
			} else if (!strcmp(arg, "none") || !strcmp(arg, "null")) {
				cfg->serial = SERIAL_NONE;
			} else if (!strncmp(arg, "file:", 5) && arg[5]) {
				cfg->serial = SERIAL_FILE;
				cfg->serial_path = arg + 5;
			} else {
				BAD("-serial %s: expected stdio, file:PATH or none", arg);
			}
		} else if (!strcmp(name, "device")) {
			if (parse_device(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "balloon")) {
			/* Old QEMU spelling: -balloon virtio[,...] or none. */
			if (!strcmp(arg, "none")) {
				cfg->balloon.enabled = false;
			} else if (!strncmp(arg, "virtio", 6) &&
				   (arg[6] == '\0' || arg[6] == ',')) {
				if (cfg->balloon.enabled)
					BAD("-balloon virtio: Only one balloon device is supported");
				cfg->balloon.enabled = true;
				if (arg[6] == ',' &&
				    for_each_kv(cfg, "-balloon", arg + 7, balloon_kv, err, errlen))
					return -EINVAL;
			} else {
				BAD("-balloon %s: expected virtio or none", arg);
			}
		} else if (!strcmp(name, "qmp")) {
			if (parse_chardev("-qmp", arg, false, &cfg->qmp, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "monitor")) {
			if (parse_chardev("-monitor", arg, true, &cfg->monitor, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "no-reboot")) {
			cfg->no_reboot = true;
		} else if (!strcmp(name, "runas")) {
			cfg->runas = arg;
		} else if (!strcmp(name, "sandbox")) {
			if (parse_sandbox(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "S")) {
			cfg->start_paused = true;
		} else if (!strcmp(name, "accel")) {
			if (strncmp(arg, "kvm", 3) || (arg[3] && arg[3] != ','))
				BAD("-accel %s: memvm runs on KVM only (use -accel kvm or omit it)",
				    arg);
		} else if (!strcmp(name, "display")) {
			if (strcmp(arg, "none"))
				BAD("-display %s: memvm has no display (use -display none or omit it)",
				    arg);
		} else if (!strcmp(name, "cpu")) {
			if (strncmp(arg, "host", 4) || (arg[4] && arg[4] != ','))
				BAD("-cpu %s: memvm passes the host CPU through (use -cpu host or omit it)",
				    arg);
		} else if (!strcmp(name, "name")) {
			if (parse_name(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "uuid")) {
			if (parse_uuid(cfg, arg, err, errlen))
				return -EINVAL;
		} else if (!strcmp(name, "enable-kvm") || !strcmp(name, "nographic") ||
			   !strcmp(name, "nodefaults") || !strcmp(name, "no-user-config")) {
			/* memvm always uses KVM and has no display */
		} else if (!strcmp(name, "version") || !strcmp(name, "V")) {
			cfg->want_version = true;
		} else if (!strcmp(name, "help") || !strcmp(name, "h")) {
			cfg->want_help = true;
		} else if (!strcmp(name, "writeconfig")) {
			if (!*arg)
				BAD("-writeconfig needs a file name (or - for standard output)");
			cfg->writeconfig = arg;
		} else {
			BAD("unknown option '%s' (see -help)", a);
		}
	}
	*at = -1;
	if (cfg->want_help || cfg->want_version)
		return 0;
	if ((cfg->memdev.set || cfg->memory_backend) && resolve_memdev(cfg, err, errlen))
		return -EINVAL;
	if (cfg->initrd && !cfg->kernel)
		BAD("-initrd needs -kernel");
	if (cfg->append && !cfg->kernel)
		BAD("-append needs -kernel");
	if (cfg->qmp.set && cfg->monitor.set && !cfg->monitor.stdio &&
	    !strcmp(cfg->qmp.path, cfg->monitor.path))
		BAD("-qmp and -monitor use the same socket path %s", cfg->qmp.path);
	if (cfg->monitor.stdio && cfg->serial == SERIAL_STDIO)
		BAD("-monitor stdio and -serial stdio both want the terminal (use -serial file:PATH or none)");
	unsigned nvirtio = cfg->rng + (cfg->balloon.enabled ? 1 : 0);
	if (nvirtio > VM_MAX_VIRTIO)
		BAD("-device: %u virtio devices asked for; memvm has room for at most %u", nvirtio,
		    VM_MAX_VIRTIO);
	return 0;
}

int cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
	struct cfg_words *w = calloc(1, sizeof(*w));
	int ret = w ? readconfig_push(w, argc ? argv[0] : "memvm", NULL) : -ENOMEM;
	for (int i = 1; !ret && i < argc; i++) {
		if (strcmp(argv[i], "-readconfig") && strcmp(argv[i], "--readconfig")) {
			ret = readconfig_push(w, argv[i], NULL);
		} else if (i + 1 >= argc) {
			snprintf(err, errlen, "-readconfig needs a file name (see -help)");
			ret = -EINVAL;
		} else if ((ret = readconfig_load(argv[++i], w, err, errlen))) {
			ret = -EINVAL; /* err names the file and line */
		}
	}
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	cfg->owned_words = w;
	if (ret)
		return ret;
	int at = -1;
	ret = parse_words(w->argc, w->argv, &at, cfg, err, errlen);
	if (ret && at > 0 && w->origin[at]) {
		/* A file's word: say where it came from. */
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s: %s", w->origin[at], msg);
	}
	return ret;
}

void cli_free(struct vm_config *cfg)
{
	if (cfg->owned_words) {
		readconfig_words_free(cfg->owned_words);
		free(cfg->owned_words);
		cfg->owned_words = NULL;
	}
}

void cli_usage(void *stream)
{
	FILE *f = stream;
	fprintf(f,
		"usage: memvm [options]\n"
		"\n"
		"Machine:\n"
		"  -m SIZE                  guest RAM (plain number = MiB, or K/M/G/T suffix; default 128M)\n"
		"  -smp N                   number of vCPUs (default 1)\n"
		"  -machine|-M PROP=VAL,... prealloc-threads=N, mem-merge=on|off, thp=on|off,\n"
		"                           mem-shared=on|off, host-quirks=on|off, dt=on|off, pvh=on|off,\n"
		"                           dumpdtb=FILE, memory-backend=ID (an -object memory-backend-*)\n"
		"  -S                       do not start the vCPUs until 'cont' on the monitor\n"
		"  -no-reboot               exit instead of rebooting the guest\n"
		"  -sandbox on|off[,log=on] seccomp filters and no capabilities after set-up\n"
		"                           (default on; log=on logs denied calls instead)\n"
		"  -runas USER              become USER after set-up (memvm started as root)\n"
		"  -name NAME               the VM's name (QMP query-name)\n"
		"  -uuid UUID               the VM's UUID (QMP query-uuid)\n"
		"Memory:\n"
		"  -mem-path PATH           back RAM with a file (directory: temporary file; hugetlbfs ok)\n"
		"  -mem-prealloc            populate all RAM before the guest runs\n"
		"  -object memory-backend-ram|file|memfd,id=ID,size=SIZE[,mem-path=PATH]\n"
		"          [,share=on|off][,prealloc=on][,prealloc-threads=N][,merge=on|off]\n"
		"          [,dump=on|off][,reserve=on|off][,hugetlb=on,hugetlbsize=2M|1G]\n"
		"                           RAM as QEMU spells it; use with -machine memory-backend=ID\n"
		"Boot:\n"
		"  -kernel FILE             vmlinux ELF, bzImage, or a bare-metal ELF payload\n"
		"  -initrd FILE             initial ramdisk\n"
		"  -append CMDLINE          kernel command line\n"
		"Devices:\n"
		"  -device virtio-balloon[,deflate-on-oom=on|off][,free-page-reporting=on|off]\n"
		"                        [,guest-stats-polling-interval=SECONDS]\n"
		"                        [,autopilot=on|off][,autopilot-floor=SIZE]\n"
		"                        [,autopilot-step=SIZE][,autopilot-reserve=SIZE]\n"
		"  -balloon virtio[,...]    short form of the above\n"
		"  -device virtio-rng       entropy device\n"
		"  -device isa-debug-exit[,iobase=PORT][,iosize=N]  exit with (value << 1) | 1\n"
		"  -serial stdio|file:PATH|none   8250 UART at 0x3f8 (default stdio; Ctrl-A x quits)\n"
		"Monitor:\n"
		"  -qmp unix:PATH,server=on,wait=off       QMP (JSON) monitor socket\n"
		"  -monitor unix:PATH,server=on,wait=off   human monitor socket (or stdio)\n"
		"Configuration files:\n"
		"  -readconfig FILE         read options from FILE (QEMU's INI syntax; options\n"
		"                           after it override it; see configs/)\n"
		"  -writeconfig FILE        write the configuration to FILE (- for stdout); without\n"
		"                           -kernel, only that\n"
		"Other:\n"
		"  -version (-V), -help (-h)\n"
		"  accepted for familiarity: -enable-kvm, -accel kvm, -cpu host, -nographic,\n"
		"  -display none, -nodefaults, -no-user-config\n");
}
