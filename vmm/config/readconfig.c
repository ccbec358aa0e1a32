/* -readconfig: inih reads the file; each section becomes the option words
 * it stands for, with where each came from for error messages. inih keeps
 * lines to 200 bytes and takes indented lines as continuations: our reader
 * unindents every line (QEMU indents its keys) and hands a longer one over
 * as "key = part" then "key + = part" pieces, which are joined again. */
#include "vmm/config/readconfig.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/lib/size.h"

#define MAX_ENTRIES  64
#define PIECE        150 /* value bytes per piece handed to inih (< 200) */
#define MAX_CHARDEVS 8

struct entry {
	char *key, *val; /* val raw, then unquoted */
	unsigned line;
};

struct chardev {
	char id[64];
	char spec[160]; /* unix:PATH,server=on,wait=off or stdio */
	unsigned line;
};

struct rc_state {
	const char *path;
	struct cfg_words *w;
	FILE *f;
	char *buf; /* the file's current line */
	size_t cap;
	char *rest; /* what is left of a long line's value */
	char key[128];
	unsigned line;
	char section[160];
	unsigned section_line, header_line;
	struct entry e[MAX_ENTRIES];
	int ne;
	struct chardev chardev[MAX_CHARDEVS];
	int nchardev;
	unsigned *lines; /* inih's line n came from the file's lines[n - 1] */
	unsigned nlines, lines_cap;
	char *err;
	size_t errlen;
	int ret;
};

/* Records which line of the file inih's next line is. */
static void note_line(struct rc_state *st)
{
	if (st->nlines == st->lines_cap) {
		unsigned cap = st->lines_cap ? st->lines_cap * 2 : 64;
		unsigned *l = realloc(st->lines, sizeof(*l) * cap);
		if (!l)
			return; /* the error line is then approximate */
		st->lines = l;
		st->lines_cap = cap;
	}
	st->lines[st->nlines++] = st->line;
}

/* ---- words ---------------------------------------------------------------- */

int readconfig_push(struct cfg_words *w, const char *word, const char *origin)
{
	if (w->argc == w->cap) {
		int cap = w->cap ? w->cap * 2 : 32;
		char **a = realloc(w->argv, sizeof(*a) * (size_t)cap);
		if (!a)
			return -ENOMEM;
		w->argv = a;
		char **o = realloc(w->origin, sizeof(*o) * (size_t)cap);
		if (!o)
			return -ENOMEM;
		w->origin = o;
		w->cap = cap;
	}
	char *s = strdup(word), *o = origin ? strdup(origin) : NULL;
	if (!s || (origin && !o)) {
		free(s);
		free(o);
		return -ENOMEM;
	}
	w->argv[w->argc] = s;
	w->origin[w->argc++] = o;
	return 0;
}

void readconfig_words_free(struct cfg_words *w)
{
	for (int i = 0; i < w->argc; i++) {
		free(w->argv[i]);
		free(w->origin[i]);
	}
	free(w->argv);
	free(w->origin);
	*w = (struct cfg_words){ 0 };
}

/* ---- reading ---------------------------------------------------------------- */

static char *rc_reader(char *str, int num, void *stream)
{
	struct rc_state *st = stream;
	size_t room = (size_t)num - 2; /* newline and NUL */
	if (st->rest) {
		size_t n = strlen(st->rest);
		size_t take = n > PIECE ? PIECE : n;
		snprintf(str, (size_t)num, "%s + = %.*s\n", st->key, (int)take, st->rest);
		st->rest = n > take ? st->rest + take : NULL;
		note_line(st);
		return str;
	}
	ssize_t got = getline(&st->buf, &st->cap, st->f);
	if (got < 0)
		return NULL;
	st->line++;
	note_line(st);
	char *s = st->buf;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strcspn(s, "\r\n");
	s[len] = '\0';
	if (*s == '[')
		st->header_line = st->line;
	char *eq = strchr(s, '=');
	if (len <= room || !eq || *s == '[' || *s == '#' || *s == ';' ||
	    (size_t)(eq - s) >= sizeof(st->key) - 8) {
		snprintf(str, (size_t)num, "%.*s\n", (int)room, s);
		return str;
	}
	/* A long key = value: the value in pieces, joined by the handler. */
	snprintf(st->key, sizeof(st->key), "%.*s", (int)(eq - s), s);
	char *k = st->key + strlen(st->key);
	while (k > st->key && (k[-1] == ' ' || k[-1] == '\t'))
		*--k = '\0';
	char *v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v), take = n > PIECE ? PIECE : n;
	snprintf(str, (size_t)num, "%s = %.*s\n", st->key, (int)take, v);
	st->rest = n > take ? v + take : NULL;
	return str;
}

static int rc_fail(struct rc_state *st, unsigned line, const char *key, const char *fmt, ...)
	PRINTF(4, 5);

static int rc_fail(struct rc_state *st, unsigned line, const char *key, const char *fmt, ...)
{
	if (st->ret)
		return 0;
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(st->err, st->errlen, "%s:%u: %s%s%s", st->path, line, key ? key : "",
		 key ? ": " : "", msg);
	st->ret = -EINVAL;
	return 0;
}

/* "value" -> value (QEMU writes every value quoted). */
static void unquote(char *v)
{
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		memmove(v, v + 1, n - 2);
		v[n - 2] = '\0';
	}
}

/* [object "ID"] -> ID (an empty string when there is none). */
static void section_id(const char *section, char *id, size_t n)
{
	const char *q = strchr(section, '"');
	const char *e = q ? strrchr(q + 1, '"') : NULL;
	if (!q || !e)
		snprintf(id, n, "%s", "");
	else
		snprintf(id, n, "%.*s", (int)(e - q - 1), q + 1);
}

static void section_name(const char *section, char *name, size_t n)
{
	size_t len = strcspn(section, " \t\"");
	snprintf(name, n, "%.*s", (int)len, section);
}

static bool push(struct rc_state *st, const char *word, unsigned line, const char *key)
{
	char origin[512];
	snprintf(origin, sizeof(origin), "%s:%u: [%s] %s", st->path, line, st->section, key);
	if (readconfig_push(st->w, word, origin)) {
		rc_fail(st, line, NULL, "out of memory");
		return false;
	}
	return true;
}

static bool push_opt(struct rc_state *st, const char *opt, const char *val, unsigned line,
		     const char *key)
{
	return push(st, opt, line, key) && (!val || push(st, val, line, key));
}

static bool is_on(const char *v)
{
	return !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1");
}

/* key=value,key=value of every entry but `skip` (commas doubled as QEMU). */
static bool join_props(struct rc_state *st, const char *first, const char *skip, char *out,
		       size_t n)
{
	size_t len = (size_t)snprintf(out, n, "%s", first);
	for (int i = 0; i < st->ne && len < n; i++) {
		if (skip && !strcmp(st->e[i].key, skip))
			continue;
		len += (size_t)snprintf(out + len, n - len, "%s%s=%s", len ? "," : "", st->e[i].key,
					st->e[i].val);
	}
	if (len >= n) {
		rc_fail(st, st->section_line, NULL, "[%s]: too many properties", st->section);
		return false;
	}
	return true;
}

static struct entry *find(struct rc_state *st, const char *key)
{
	for (int i = 0; i < st->ne; i++)
		if (!strcmp(st->e[i].key, key))
			return &st->e[i];
	return NULL;
}

/* One memvm option per key: [boot], [memvm], [monitor], [memory], [smp-opts]. */
struct key_opt {
	const char *key, *opt;
	bool flag; /* a boolean: on gives the bare option, off nothing */
};

static bool keys_to_opts(struct rc_state *st, const struct key_opt *map, size_t nmap)
{
	for (int i = 0; i < st->ne; i++) {
		size_t k;
		for (k = 0; k < nmap && strcmp(map[k].key, st->e[i].key); k++) {
		}
		if (k == nmap) {
			char known[256];
			size_t len = 0;
			for (size_t j = 0; j < nmap; j++)
				len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
							j ? ", " : "", map[j].key);
			return rc_fail(st, st->e[i].line, st->e[i].key,
				       "unknown in [%s] (known: %s)", st->section, known);
		}
		if (map[k].flag) {
			if (is_on(st->e[i].val) &&
			    !push_opt(st, map[k].opt, NULL, st->e[i].line, st->e[i].key))
				return false;
			continue;
		}
		if (!push_opt(st, map[k].opt, st->e[i].val, st->e[i].line, st->e[i].key))
			return false;
	}
	return true;
}

static void flush_section(struct rc_state *st)
{
	char name[64], id[64], props[2048];
	if (!st->section[0] || st->ret)
		goto out;
	for (int i = 0; i < st->ne; i++)
		unquote(st->e[i].val);
	section_name(st->section, name, sizeof(name));
	section_id(st->section, id, sizeof(id));
	unsigned line = st->section_line;
	if (!strcmp(name, "machine")) {
		for (int i = 0; i < st->ne; i++) {
			snprintf(props, sizeof(props), "%s=%s", st->e[i].key, st->e[i].val);
			if (!push_opt(st, "-machine", props, st->e[i].line, st->e[i].key))
				goto out;
		}
	} else if (!strcmp(name, "memory")) {
		static const struct key_opt m[] = { { "size", "-m", false } };
		keys_to_opts(st, m, ARRAY_SIZE(m));
	} else if (!strcmp(name, "smp-opts")) {
		static const struct key_opt m[] = { { "cpus", "-smp", false } };
		keys_to_opts(st, m, ARRAY_SIZE(m));
	} else if (!strcmp(name, "boot")) {
		static const struct key_opt m[] = { { "kernel", "-kernel", false },
						    { "initrd", "-initrd", false },
						    { "append", "-append", false } };
		keys_to_opts(st, m, ARRAY_SIZE(m));
	} else if (!strcmp(name, "memvm")) {
		static const struct key_opt m[] = {
			{ "mem-path", "-mem-path", false },
			{ "mem-prealloc", "-mem-prealloc", true },
			{ "uuid", "-uuid", false },
			{ "no-reboot", "-no-reboot", true },
			{ "start-paused", "-S", true },
			{ "runas", "-runas", false },
			{ "serial", "-serial", false },
		};
		keys_to_opts(st, m, ARRAY_SIZE(m));
	} else if (!strcmp(name, "monitor")) {
		static const struct key_opt m[] = { { "qmp", "-qmp", false },
						    { "hmp", "-monitor", false } };
		keys_to_opts(st, m, ARRAY_SIZE(m));
	} else if (!strcmp(name, "name")) {
		if (join_props(st, "", NULL, props, sizeof(props)))
			push_opt(st, "-name", props, line, "guest");
	} else if (!strcmp(name, "sandbox")) {
		struct entry *en = find(st, "enable");
		if (!en) {
			rc_fail(st, line, NULL, "[sandbox] needs enable = \"on\" or \"off\"");
			goto out;
		}
		if (join_props(st, is_on(en->val) ? "on" : "off", "enable", props, sizeof(props)))
			push_opt(st, "-sandbox", props, en->line, "enable");
	} else if (!strcmp(name, "object") || !strcmp(name, "device")) {
		bool obj = name[0] == 'o';
		const char *tkey = obj ? "qom-type" : "driver";
		struct entry *t = find(st, tkey);
		if (!t) {
			rc_fail(st, line, NULL, "[%s]: %s is missing", st->section, tkey);
			goto out;
		}
		char first[192];
		if (obj && !id[0]) {
			rc_fail(st, line, NULL, "[%s]: an object needs an id: [object \"ID\"]",
				st->section);
			goto out;
		}
		/* A device's id names it in QEMU's tree; memvm's devices are
		 * anonymous, so it is not passed on. */
		if (obj)
			snprintf(first, sizeof(first), "%s,id=%s", t->val, id);
		else
			snprintf(first, sizeof(first), "%s", t->val);
		if (join_props(st, first, tkey, props, sizeof(props)))
			push_opt(st, obj ? "-object" : "-device", props, t->line, tkey);
	} else if (!strcmp(name, "chardev")) {
		/* QEMU's [chardev "ID"] backend = "socket", path, server, wait;
		 * [mon] chardev = ID, mode = control|readline use them. */
		struct entry *b = find(st, "backend"), *p = find(st, "path");
		struct entry *sv = find(st, "server"), *wt = find(st, "wait");
		if (st->nchardev == MAX_CHARDEVS) {
			rc_fail(st, line, NULL, "more than %d [chardev] sections", MAX_CHARDEVS);
			goto out;
		}
		struct chardev *c = &st->chardev[st->nchardev++];
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->line = line;
		if (b && !strcmp(b->val, "stdio"))
			snprintf(c->spec, sizeof(c->spec), "stdio");
		else if (b && !strcmp(b->val, "socket") && p)
			snprintf(c->spec, sizeof(c->spec), "unix:%s,server=%s,wait=%s", p->val,
				 sv ? sv->val : "off", wt ? wt->val : "on");
		else
			rc_fail(st, line, NULL,
				"[%s]: memvm's monitors take backend = \"socket\" with a path, or "
				"\"stdio\"",
				st->section);
	} else if (!strcmp(name, "mon")) {
		struct entry *c = find(st, "chardev"), *m = find(st, "mode");
		int i = 0;
		for (; c && i < st->nchardev && strcmp(st->chardev[i].id, c->val); i++) {
		}
		if (!c || i == st->nchardev) {
			rc_fail(st, c ? c->line : line, "chardev",
				"[mon] needs the id of a [chardev] above it");
			goto out;
		}
		bool control = m && !strcmp(m->val, "control");
		push_opt(st, control ? "-qmp" : "-monitor", st->chardev[i].spec, c->line,
			 "chardev");
	} else {
		rc_fail(st, line, NULL,
			"section [%s] is not known (memvm reads machine, memory, smp-opts, object, "
			"device, name, sandbox, chardev, mon, boot, memvm, monitor)",
			st->section);
	}
out:
	for (int i = 0; i < st->ne; i++) {
		free(st->e[i].key);
		free(st->e[i].val);
	}
	st->ne = 0;
}

static int rc_handler(void *user, const char *section, const char *name, const char *value)
{
	struct rc_state *st = user;
	if (st->ret)
		return 1;
	if (strcmp(section, st->section)) {
		flush_section(st);
		if (st->ret)
			return 1;
		snprintf(st->section, sizeof(st->section), "%s", section);
		st->section_line = st->header_line ? st->header_line : st->line;
	}
	size_t nl = strlen(name);
	if (nl > 2 && !strcmp(name + nl - 2, " +") && st->ne &&
	    !strncmp(st->e[st->ne - 1].key, name, nl - 2)) {
		/* The next piece of a long value. */
		struct entry *e = &st->e[st->ne - 1];
		size_t a = strlen(e->val), b = strlen(value);
		char *v = realloc(e->val, a + b + 1);
		if (!v)
			return rc_fail(st, st->line, name, "out of memory");
		memcpy(v + a, value, b + 1);
		e->val = v;
		return 1;
	}
	if (st->ne == MAX_ENTRIES)
		return rc_fail(st, st->line, name, "more than %d keys in [%s]", MAX_ENTRIES,
			       section);
	struct entry *e = &st->e[st->ne];
	e->key = strdup(name);
	e->val = strdup(value);
	e->line = st->line;
	if (!e->key || !e->val) {
		free(e->key);
		free(e->val);
		return rc_fail(st, st->line, name, "out of memory");
	}
	st->ne++;
	return 1;
}

int readconfig_load(const char *path, struct cfg_words *w, char *err, size_t errlen)
{
	struct rc_state st = { .path = path, .w = w, .err = err, .errlen = errlen };
	st.f = fopen(path, "re");
	if (!st.f) {
		int e = errno;
		snprintf(err, errlen, "-readconfig %s: %s", path, strerror(e));
		return -e;
	}
	int r = ini_parse_stream(rc_reader, &st, rc_handler, &st);
	if (!st.ret)
		flush_section(&st);
	for (int i = 0; i < st.ne; i++) { /* kept by an error */
		free(st.e[i].key);
		free(st.e[i].val);
	}
	if (!st.ret && r > 0)
		rc_fail(&st, (unsigned)r <= st.nlines ? st.lines[r - 1] : st.line, NULL,
			"not an INI line (expected [section] or key = \"value\")");
	if (!st.ret && r < 0)
		rc_fail(&st, st.line, NULL, "cannot read it: %s", strerror(errno));
	fclose(st.f);
	free(st.buf);
	free(st.lines);
	return st.ret;
}

/* ---- writing ---------------------------------------------------------------- */

static const char *onoff(bool b)
{
	return b ? "on" : "off";
}

static int kv(FILE *f, const char *key, const char *fmt, ...) PRINTF(3, 4);

static int kv(FILE *f, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fprintf(f, "  %s = \"", key) < 0;
	r |= vfprintf(f, fmt, ap) < 0;
	r |= fputs("\"\n", f) < 0;
	va_end(ap);
	return r;
}

static const char *chardev_str(const struct chardev_spec *c, char *buf, size_t n)
{
	if (c->stdio)
		return "stdio";
	snprintf(buf, n, "unix:%s,server=on,wait=off", c->path);
	return buf;
}

int writeconfig_write(const struct vm_config *cfg, FILE *f)
{
	const struct memdev_spec *m = &cfg->memdev;
	bool be = m->set && cfg->memory_backend;
	char buf[256];
	int r = fputs("# memvm -writeconfig: `memvm -readconfig FILE` builds the same machine\n",
		      f) < 0;
	uint64_t mib = 1ull << 20;
	r |= fputs("[memory]\n", f) < 0;
	if (cfg->ram_size % mib)
		r |= kv(f, "size", "%lluK", (unsigned long long)(cfg->ram_size >> 10));
	else
		r |= kv(f, "size", "%lluM", (unsigned long long)(cfg->ram_size / mib));
	r |= fputs("[smp-opts]\n", f) < 0;
	r |= kv(f, "cpus", "%u", cfg->smp);
	r |= fputs("[machine]\n", f) < 0;
	if (!be) {
		r |= kv(f, "mem-merge", "%s", onoff(cfg->mem_merge));
		if (cfg->prealloc_threads)
			r |= kv(f, "prealloc-threads", "%u", cfg->prealloc_threads);
	}
	r |= kv(f, "thp", "%s", onoff(cfg->thp));
	if (!be)
		r |= kv(f, "mem-shared", "%s", onoff(cfg->mem_shared));
	r |= kv(f, "host-quirks", "%s", onoff(cfg->host_quirks));
	if (cfg->dt != TRI_AUTO)
		r |= kv(f, "dt", "%s", onoff(cfg->dt == TRI_ON));
	r |= kv(f, "pvh", "%s", onoff(cfg->pvh));
	if (cfg->dumpdtb)
		r |= kv(f, "dumpdtb", "%s", cfg->dumpdtb);
	if (be) {
		r |= kv(f, "memory-backend", "%s", m->id);
		r |= fprintf(f, "[object \"%s\"]\n", m->id) < 0;
		r |= kv(f, "qom-type", "%s", m->qom_type);
		r |= kv(f, "size", "%llu", (unsigned long long)m->size);
		if (m->mem_path)
			r |= kv(f, "mem-path", "%s", m->mem_path);
		r |= kv(f, "share", "%s", onoff(m->share));
		r |= kv(f, "prealloc", "%s", onoff(m->prealloc));
		if (m->prealloc_threads)
			r |= kv(f, "prealloc-threads", "%u", m->prealloc_threads);
		r |= kv(f, "merge", "%s", onoff(m->merge));
		r |= kv(f, "dump", "%s", onoff(m->dump));
		r |= kv(f, "reserve", "%s", onoff(m->reserve));
		if (m->hugetlb) {
			r |= kv(f, "hugetlb", "on");
			if (m->hugetlb_size)
				r |= kv(f, "hugetlbsize", "%lluK",
					(unsigned long long)(m->hugetlb_size >> 10));
		}
	}
	if (cfg->kernel || cfg->initrd || cfg->append) {
		r |= fputs("[boot]\n", f) < 0;
		if (cfg->kernel)
			r |= kv(f, "kernel", "%s", cfg->kernel);
		if (cfg->initrd)
			r |= kv(f, "initrd", "%s", cfg->initrd);
		if (cfg->append)
			r |= kv(f, "append", "%s", cfg->append);
	}
	r |= fputs("[memvm]\n", f) < 0;
	if (!be && cfg->mem_path)
		r |= kv(f, "mem-path", "%s", cfg->mem_path);
	if (!be)
		r |= kv(f, "mem-prealloc", "%s", onoff(cfg->mem_prealloc));
	if (cfg->uuid[0])
		r |= kv(f, "uuid", "%s", cfg->uuid);
	r |= kv(f, "no-reboot", "%s", onoff(cfg->no_reboot));
	r |= kv(f, "start-paused", "%s", onoff(cfg->start_paused));
	if (cfg->runas)
		r |= kv(f, "runas", "%s", cfg->runas);
	if (cfg->serial == SERIAL_FILE)
		r |= kv(f, "serial", "file:%s", cfg->serial_path);
	else
		r |= kv(f, "serial", "%s", cfg->serial == SERIAL_NONE ? "none" : "stdio");
	if (cfg->qmp.set || cfg->monitor.set) {
		r |= fputs("[monitor]\n", f) < 0;
		if (cfg->qmp.set)
			r |= kv(f, "qmp", "%s", chardev_str(&cfg->qmp, buf, sizeof(buf)));
		if (cfg->monitor.set)
			r |= kv(f, "hmp", "%s", chardev_str(&cfg->monitor, buf, sizeof(buf)));
	}
	if (cfg->name[0]) {
		r |= fputs("[name]\n", f) < 0;
		r |= kv(f, "guest", "%s", cfg->name);
	}
	r |= fputs("[sandbox]\n", f) < 0;
	r |= kv(f, "enable", "%s", onoff(cfg->sandbox));
	if (cfg->sandbox_log)
		r |= kv(f, "log", "on");
	/* Each device a section of its own: inih joins same-named neighbours. */
	if (cfg->balloon.enabled) {
		r |= fputs("[device \"balloon0\"]\n", f) < 0;
		r |= kv(f, "driver", "virtio-balloon");
		r |= kv(f, "deflate-on-oom", "%s", onoff(cfg->balloon.deflate_on_oom));
		r |= kv(f, "free-page-reporting", "%s", onoff(cfg->balloon.free_page_reporting));
		r |= kv(f, "guest-stats-polling-interval", "%u", cfg->balloon.stats_interval_s);
		if (cfg->balloon.autopilot)
			r |= kv(f, "autopilot", "on");
		if (cfg->balloon.autopilot_floor)
			r |= kv(f, "autopilot-floor", "%s",
				SIZE_OPT_STR(cfg->balloon.autopilot_floor));
		if (cfg->balloon.autopilot_step)
			r |= kv(f, "autopilot-step", "%s",
				SIZE_OPT_STR(cfg->balloon.autopilot_step));
		if (cfg->balloon.autopilot_reserve)
			r |= kv(f, "autopilot-reserve", "%s",
				SIZE_OPT_STR(cfg->balloon.autopilot_reserve));
	}
	for (unsigned i = 0; i < cfg->rng; i++) {
		r |= fprintf(f, "[device \"rng%u\"]\n", i) < 0;
		r |= kv(f, "driver", "virtio-rng");
	}
	if (cfg->debug_exit) {
		r |= fputs("[device \"debugexit0\"]\n", f) < 0;
		r |= kv(f, "driver", "isa-debug-exit");
		r |= kv(f, "iobase", "0x%x", cfg->debug_exit_port);
		r |= kv(f, "iosize", "%u", cfg->debug_exit_size);
	}
	return r ? -EIO : 0;
}
