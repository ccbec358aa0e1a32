/* Human monitor commands on top of the QMP dispatcher, with QEMU 7.2's
 * texts where QEMU has the command, and QMP's human-monitor-command. */
#include "vmm/monitor/hmp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/lib/size.h"

#define MAX_ARGS 4

struct hmp_cmd {
	const char *names;  /* "stop|s": name and alias, as QEMU's help shows */
	const char *params; /* shown in help */
	const char *help;
	void (*fn)(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc);
	int max_args;
};

char *hmp_crlf(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n' ? 2 : 1;
	char *out = malloc(n + 1), *q = out;
	if (!out)
		return NULL;
	for (const char *p = text; *p; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			*q++ = '\r';
		*q++ = *p;
	}
	*q = '\0';
	return out;
}

/* Runs a QMP command; prints "Error: desc" as QEMU's hmp_handle_error. */
static json_t *run(const struct qmp_ctx *ctx, FILE *out, const char *cmd, json_t *args)
{
	struct qmp_error err = { 0 };
	json_t *ret = qmp_execute(ctx, cmd, args, &err);
	if (!ret)
		fprintf(out, "Error: %s\n", err.desc);
	return ret;
}

static void run_void(const struct qmp_ctx *ctx, FILE *out, const char *cmd)
{
	json_decref(run(ctx, out, cmd, NULL));
}

static int64_t jint(json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

static bool jbool(json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

/* ---- info ------------------------------------------------------------- */

static void info_status(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-status", NULL);
	if (r) {
		/* QEMU's: running or paused, then any other state in brackets. */
		const char *st = json_string_value(json_object_get(r, "status"));
		bool running = json_is_true(json_object_get(r, "running"));
		fprintf(out, "VM status: %s", running ? "running" : "paused");
		if (!running && st && strcmp(st, "paused"))
			fprintf(out, " (%s)", st);
		fputc('\n', out);
	}
	json_decref(r);
}

static void info_balloon(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-balloon", NULL);
	if (r)
		fprintf(out, "balloon: actual=%" PRId64 "\n", jint(r, "actual") >> 20);
	json_decref(r);
}

static void info_cpus(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-cpus-fast", NULL);
	size_t i;
	json_t *cpu;
	json_array_foreach(r, i, cpu) {
		fprintf(out, "%c CPU #%" PRId64 ": thread_id=%" PRId64 "\n", i == 0 ? '*' : ' ',
			jint(cpu, "cpu-index"), jint(cpu, "thread-id"));
	}
	json_decref(r);
}

static void info_kvm(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-kvm", NULL);
	if (r)
		fprintf(out, "kvm support: %s\n", jbool(r, "enabled") ? "enabled" : "disabled");
	json_decref(r);
}

/* QEMU's format: the version, then the package with no space between. */
static void info_version(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-version", NULL);
	json_t *q = json_object_get(r, "qemu");
	if (r)
		fprintf(out, "%" PRId64 ".%" PRId64 ".%" PRId64 "%s\n", jint(q, "major"),
			jint(q, "minor"), jint(q, "micro"),
			json_string_value(json_object_get(r, "package")));
	json_decref(r);
}

/* QEMU's layout, field by field. */
static void info_memdev(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-memdev", NULL);
	size_t i;
	json_t *m;
	json_array_foreach(r, i, m) {
		fprintf(out, "memory backend: %s\n", json_string_value(json_object_get(m, "id")));
		fprintf(out, "  size:  %" PRId64 "\n", jint(m, "size"));
		fprintf(out, "  merge: %s\n", jbool(m, "merge") ? "true" : "false");
		fprintf(out, "  dump: %s\n", jbool(m, "dump") ? "true" : "false");
		fprintf(out, "  prealloc: %s\n", jbool(m, "prealloc") ? "true" : "false");
		fprintf(out, "  share: %s\n", jbool(m, "share") ? "true" : "false");
		fprintf(out, "  reserve: %s\n", jbool(m, "reserve") ? "true" : "false");
		fprintf(out, "  policy: %s\n", json_string_value(json_object_get(m, "policy")));
		fprintf(out, "  host nodes: \n\n");
	}
	json_decref(r);
}

static void info_name(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-name", NULL);
	const char *name = json_string_value(json_object_get(r, "name"));
	if (name)
		fprintf(out, "%s\n", name);
	json_decref(r);
}

static void info_uuid(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-uuid", NULL);
	if (r)
		fprintf(out, "%s\n", json_string_value(json_object_get(r, "UUID")));
	json_decref(r);
}

static void info_memory_size_summary(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "query-memory-size-summary", NULL);
	if (r)
		fprintf(out, "base memory: %" PRId64 "\nplugged memory: %" PRId64 "\n",
			jint(r, "base-memory"), jint(r, "plugged-memory"));
	json_decref(r);
}

static void info_memory(const struct qmp_ctx *ctx, FILE *out)
{
	char a[32], b[32];
	json_t *r = run(ctx, out, "x-query-memvm-memory", NULL);
	if (!r)
		return;
	int64_t size = jint(r, "ram-size");
	size_format(a, sizeof(a), (uint64_t)size);
	json_t *backing = json_object_get(r, "backing");
	if (backing) {
		size_format(b, sizeof(b), (uint64_t)jint(r, "page-size"));
		fprintf(out, "guest RAM: %s (%s, %s, %s pages)\n", a, json_string_value(backing),
			jbool(r, "shared") ? "shared" : "private", b);
		const char *path = json_string_value(json_object_get(r, "mem-path"));
		if (path)
			fprintf(out, "mem-path: %s\n", path);
		int64_t rss = jint(r, "rss");
		if (rss >= 0)
			fprintf(out, "resident: %s (%" PRId64 "%%)\n",
				size_format(a, sizeof(a), (uint64_t)rss),
				size ? rss * 100 / size : 0);
		else
			fprintf(out, "resident: unknown\n");
		fprintf(out, "preallocated: %s\n", jbool(r, "preallocated") ? "yes" : "no");
		fprintf(out, "merging (KSM): %s\n",
			!jbool(r, "merge-requested")  ? "off"
			: jbool(r, "merge-effective") ? "on"
						      : "requested, not effective");
		fprintf(out, "transparent huge pages: %s\n", jbool(r, "thp") ? "on" : "off");
		fprintf(out, "discarded: %s\n",
			size_format(a, sizeof(a), (uint64_t)jint(r, "discarded")));
	} else {
		fprintf(out, "guest RAM: %s\n", a);
	}
	json_t *bal = json_object_get(r, "balloon");
	if (bal) {
		fprintf(out, "balloon: target=%s actual=%s (guest driver %s)\n",
			size_format(a, sizeof(a), (uint64_t)jint(bal, "target")),
			size_format(b, sizeof(b), (uint64_t)jint(bal, "actual")),
			jbool(bal, "driver-ready") ? "ready" : "not ready");
		fprintf(out,
			"balloon pages: inflated %" PRId64 ", deflated %" PRId64
			", rejected %" PRId64 "; reported free: %s\n",
			jint(bal, "inflated-pages"), jint(bal, "deflated-pages"),
			jint(bal, "bad-pfns"),
			size_format(a, sizeof(a), (uint64_t)jint(bal, "reported")));
		if (jbool(bal, "deflate-waiting"))
			fprintf(out, "balloon: a deflate waits for the host to back guest memory "
				     "again (huge page pool empty)\n");
	} else {
		fprintf(out, "balloon: none\n");
	}
	json_t *l = json_object_get(r, "ledger");
	if (l) {
		/* Every byte of guest RAM once, as the host holds it. */
		static const char *const parts[][2] = {
			{ "resident-4k", "resident, 4 KiB pages" },
			{ "resident-thp", "resident, transparent huge pages" },
			{ "resident-hugetlb", "resident, hugetlb pages" },
			{ "swapped", "swapped out" },
			{ "ballooned", "given back by the balloon" },
			{ "reported", "returned by free page reporting" },
			{ "untouched", "never touched (or released otherwise)" },
		};
		fprintf(out, "ledger (every byte of guest RAM once):\n");
		for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
			fprintf(out, "  %-40s %s\n", parts[i][1],
				size_format(a, sizeof(a), (uint64_t)jint(l, parts[i][0])));
		int64_t ksm = jint(l, "ksm-merged"), over = jint(l, "vmm-overhead");
		fprintf(out,
			"  of which merged by KSM: %s; huge pages held for parts the "
			"balloon has: %s\n",
			ksm >= 0 ? size_format(a, sizeof(a), (uint64_t)ksm) : "unknown",
			size_format(b, sizeof(b), (uint64_t)jint(l, "stranded")));
		fprintf(out, "memvm's own memory beside guest RAM: %s\n",
			over >= 0 ? size_format(a, sizeof(a), (uint64_t)over) : "unknown");
	}
	json_decref(r);
}

static void info_ksm(const struct qmp_ctx *ctx, FILE *out)
{
	char a[32];
	json_t *r = run(ctx, out, "x-query-memvm-memory", NULL);
	if (!r)
		return;
	if (!json_object_get(r, "backing")) {
		fprintf(out, "KSM: no RAM information\n");
		json_decref(r);
		return;
	}
	int64_t run_state = jint(r, "ksm-run");
	fprintf(out, "KSM: %s\n",
		run_state == 1   ? "running"
		: run_state == 0 ? "stopped (/sys/kernel/mm/ksm/run is 0)"
		: run_state < 0  ? "unknown (no /sys/kernel/mm/ksm)"
				 : "other (see /sys/kernel/mm/ksm/run)");
	fprintf(out, "guest RAM mergeable: %s\n",
		!jbool(r, "merge-requested")  ? "no (-machine mem-merge=off)"
		: jbool(r, "merge-effective") ? "yes"
					      : "no (the backing cannot be merged)");
	int64_t pages = jint(r, "ksm-merging-pages");
	if (pages >= 0)
		fprintf(out, "merged pages: %" PRId64 " (%s)\n", pages,
			size_format(a, sizeof(a), (uint64_t)pages * 4096));
	else
		fprintf(out, "merged pages: unknown\n");
	json_decref(r);
}

/* The autopilot's state, from x-query-memvm-autopilot's reply. */
static void print_autopilot(FILE *out, json_t *r)
{
	char a[32], b[32], c[32];
	json_t *h = json_object_get(r, "host"), *g = json_object_get(r, "guest");
	fprintf(out, "autopilot: %s (floor %s, step %s, reserve %s, every %" PRId64 " ms)\n",
		jbool(r, "enabled") ? "on" : "off",
		size_format(a, sizeof(a), (uint64_t)jint(r, "floor")),
		size_format(b, sizeof(b), (uint64_t)jint(r, "step")),
		size_format(c, sizeof(c), (uint64_t)jint(r, "reserve")), jint(r, "interval-ms"));
	fprintf(out, "host: %s pressure, %" PRId64 " per mille stalled (%s)",
		json_string_value(json_object_get(h, "level")), jint(h, "stall-permille"),
		json_string_value(json_object_get(h, "source")));
	if (json_object_get(h, "limit"))
		fprintf(out, ", %s of %s in use",
			size_format(a, sizeof(a), (uint64_t)jint(h, "usage")),
			size_format(b, sizeof(b), (uint64_t)jint(h, "limit")));
	fprintf(out, "\n");
	const char *cause = json_string_value(json_object_get(g, "cause"));
	fprintf(out, "guest: %s pressure%s%s%s\n", json_string_value(json_object_get(g, "level")),
		cause ? " (" : "", cause ? cause : "", cause ? ")" : "");
	json_t *last = json_object_get(r, "last");
	if (last)
		fprintf(out, "last move: %s to %s (%s), %" PRId64 " ms ago\n",
			json_string_value(json_object_get(last, "action")),
			size_format(a, sizeof(a), (uint64_t)jint(last, "target")),
			json_string_value(json_object_get(last, "reason")), jint(last, "ms-ago"));
	fprintf(out,
		"moves: %" PRId64 " inflations, %" PRId64 " deflations, %" PRId64 " given up\n",
		jint(r, "inflations"), jint(r, "deflations"), jint(r, "give-ups"));
	if (jbool(r, "huge-pool-low"))
		fprintf(out, "huge page pool: low (a deflate may have to wait)\n");
}

static void info_autopilot(const struct qmp_ctx *ctx, FILE *out)
{
	json_t *r = run(ctx, out, "x-query-memvm-autopilot", NULL);
	if (r)
		print_autopilot(out, r);
	json_decref(r);
}

struct info_cmd {
	const char *name;
	const char *help;
	void (*fn)(const struct qmp_ctx *ctx, FILE *out);
};

static const struct info_cmd info_cmds[] = {
	{ "autopilot", "show the memory autopilot: state, limits, host and guest pressure",
	  info_autopilot },
	{ "balloon", "show balloon information", info_balloon },
	{ "cpus", "show infos for each CPU", info_cpus },
	{ "ksm", "show KSM (same-page merging) state for guest RAM", info_ksm },
	{ "kvm", "show KVM information", info_kvm },
	{ "memory", "show guest memory: backing, residency, merging, balloon", info_memory },
	{ "memdev", "show memory backends", info_memdev },
	{ "name", "show the current VM name", info_name },
	{ "memory_size_summary",
	  "show the amount of initially allocated and present hotpluggable (if enabled) memory in bytes.",
	  info_memory_size_summary },
	{ "status", "show the current VM status (running|paused)", info_status },
	{ "uuid", "show the current VM UUID", info_uuid },
	{ "version", "show the version of QEMU (whose monitor memvm speaks) and of memvm",
	  info_version },
};

static const struct info_cmd *find_info(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++)
		if (!strcmp(info_cmds[i].name, name))
			return &info_cmds[i];
	return NULL;
}

static void print_info_help(FILE *out, const struct info_cmd *c)
{
	fprintf(out, "info %s  -- %s\n", c->name, c->help);
}

static void cmd_info(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	if (argc < 2) {
		for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++)
			print_info_help(out, &info_cmds[i]);
		return;
	}
	const struct info_cmd *c = find_info(argv[1]);
	if (!c) {
		fprintf(out, "unknown command: 'info %s'\n", argv[1]);
		return;
	}
	if (argc > 2) {
		fprintf(out, "info %s: extraneous characters at the end of line\n", c->name);
		return;
	}
	c->fn(ctx, out);
}

/* ---- other commands --------------------------------------------------- */

static void cmd_help(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc);

static void cmd_balloon(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argc;
	uint64_t bytes;
	/* QEMU takes MiB; memvm also accepts the size suffixes of -m. */
	int ret = size_parse(argv[1], 1ull << 20, &bytes);
	if (ret) {
		fprintf(out, "invalid size '%s'\nTry \"help balloon\" for more information\n",
			argv[1]);
		return;
	}
	json_t *args = json_pack("{s:I}", "value", (json_int_t)MIN(bytes, (uint64_t)INT64_MAX));
	if (!args)
		return;
	json_decref(run(ctx, out, "balloon", args));
	json_decref(args);
}

/* autopilot [on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE] */
static void cmd_autopilot(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	json_t *args = json_object();
	if (!args)
		return;
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *eq = strchr(w, '=');
		uint64_t v;
		int bad = 0;
		if (!strcmp(w, "on") || !strcmp(w, "off")) {
			bad = json_object_set_new(args, "enabled", json_boolean(!strcmp(w, "on")));
		} else if (eq && (!strncmp(w, "floor=", 6) || !strncmp(w, "step=", 5) ||
				  !strncmp(w, "reserve=", 8))) {
			char key[8];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - w), w);
			if (size_parse(eq + 1, 1ull << 20, &v) || v > INT64_MAX) {
				fprintf(out,
					"invalid size '%s'\nTry \"help autopilot\" for more information\n",
					eq + 1);
				json_decref(args);
				return;
			}
			bad = json_object_set_new(args, key, json_integer((json_int_t)v));
		} else {
			fprintf(out,
				"autopilot: unknown argument '%s' (on, off, floor=SIZE, step=SIZE, "
				"reserve=SIZE)\n",
				w);
			json_decref(args);
			return;
		}
		if (bad) {
			json_decref(args);
			return;
		}
	}
	json_t *r = run(ctx, out, "x-memvm-autopilot", args);
	if (r)
		print_autopilot(out, r);
	json_decref(r);
	json_decref(args);
}

static void cmd_stop(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	run_void(ctx, out, "stop");
}

static void cmd_cont(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	run_void(ctx, out, "cont");
}

static void cmd_system_reset(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	run_void(ctx, out, "system_reset");
}

static void cmd_system_powerdown(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	run_void(ctx, out, "system_powerdown");
}

static void cmd_quit(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	run_void(ctx, out, "quit");
}

/* Sorted by name, as QEMU's help lists them. */
static const struct hmp_cmd hmp_cmds[] = {
	{ "autopilot", "[on|off] [floor=SIZE] [step=SIZE] [reserve=SIZE]",
	  "turn the memory autopilot on or off, set its limits, show it", cmd_autopilot, 4 },
	{ "balloon", "target", "request VM to change its memory allocation (in MB)", cmd_balloon,
	  1 },
	{ "cont|c", "", "resume emulation", cmd_cont, 0 },
	{ "help|?", "[cmd]", "show the help", cmd_help, 2 },
	{ "info", "[subcommand]", "show various information about the system state", cmd_info, 2 },
	{ "quit|q", "", "quit the emulator", cmd_quit, 0 },
	{ "stop|s", "", "stop emulation", cmd_stop, 0 },
	{ "system_powerdown", "", "send system power down event", cmd_system_powerdown, 0 },
	{ "system_reset", "", "reset the system", cmd_system_reset, 0 },
};

/* Matches "stop" or "s" against "stop|s". */
static bool name_matches(const char *names, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = names; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncmp(p, word, n))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static const struct hmp_cmd *find_hmp(const char *word)
{
	for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++)
		if (name_matches(hmp_cmds[i].names, word))
			return &hmp_cmds[i];
	return NULL;
}

static void print_help(FILE *out, const struct hmp_cmd *c)
{
	fprintf(out, "%s %s -- %s\n", c->names, c->params, c->help);
}

static void cmd_help(const struct qmp_ctx *ctx, FILE *out, char **argv, int argc)
{
	(void)ctx;
	if (argc < 2) {
		for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++)
			print_help(out, &hmp_cmds[i]);
		return;
	}
	const struct hmp_cmd *c = find_hmp(argv[1]);
	if (!c) {
		fprintf(out, "unknown command: '%s'\n", argv[1]);
		return;
	}
	if (c->fn == cmd_info) {
		if (argc > 2) {
			const struct info_cmd *ic = find_info(argv[2]);
			if (ic)
				print_info_help(out, ic);
			else
				fprintf(out, "unknown command: 'info %s'\n", argv[2]);
			return;
		}
		for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++)
			print_info_help(out, &info_cmds[i]);
		return;
	}
	print_help(out, c);
}

static void primary_name(const struct hmp_cmd *c, char *buf, size_t size)
{
	size_t n = strcspn(c->names, "|");
	snprintf(buf, size, "%.*s", (int)n, c->names);
}

char *hmp_run(const struct qmp_ctx *ctx, const char *line)
{
	char *buf = NULL, *copy = strdup(line);
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	if (!copy || !out) {
		if (out)
			fclose(out);
		free(buf);
		free(copy);
		return NULL;
	}

	char *argv[MAX_ARGS + 2];
	int argc = 0;
	bool too_many = false;
	char *save = NULL;
	for (char *tok = strtok_r(copy, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc < (int)ARRAY_SIZE(argv))
			argv[argc++] = tok;
		else
			too_many = true;
	}
	if (argc > 0) {
		const struct hmp_cmd *c = find_hmp(argv[0]);
		char name[32];
		if (!c) {
			fprintf(out, "unknown command: '%s'\n", argv[0]);
		} else if (argc - 1 > c->max_args || too_many) {
			primary_name(c, name, sizeof(name));
			fprintf(out,
				"%s: extraneous characters at the end of line\n"
				"Try \"help %s\" for more information\n",
				c->names, name);
		} else if (!strcmp(c->params, "target") && argc < 2) {
			/* QEMU's text for a missing number. */
			primary_name(c, name, sizeof(name));
			fprintf(out,
				"unexpected end of expression\n"
				"Try \"help %s\" for more information\n",
				name);
		} else {
			c->fn(ctx, out, argv, argc);
		}
	}
	free(copy);
	if (fclose(out)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- QMP's human-monitor-command -------------------------------------- */

/* Keeps printable ASCII only, for text that is not valid UTF-8. */
static void ascii_only(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static json_t *qmp_human_monitor_command(const struct qmp_ctx *ctx, json_t *args,
					 struct qmp_error *err)
{
	(void)err;
	const char *line = json_string_value(json_object_get(args, "command-line"));
	char *out = hmp_run(ctx, line);
	char *crlf = out ? hmp_crlf(out) : NULL;
	free(out);
	if (!crlf)
		return NULL;
	/* Output may quote client bytes: jansson needs valid UTF-8. */
	json_t *s = json_string(crlf);
	if (!s) {
		ascii_only(crlf);
		s = json_string(crlf);
	}
	free(crlf);
	return s;
}

const struct qmp_command hmp_qmp_commands[] = {
	/* cpu-index is accepted and ignored: every command here is VM-wide. */
	{ "human-monitor-command",
	  qmp_human_monitor_command,
	  { { "command-line", QMP_ARG_STR, false }, { "cpu-index", QMP_ARG_INT, true } } },
	{ 0 },
};
