/* QEMU's early queries, with QEMU 7.2 microvm's reply shapes (captured
 * from a live QEMU): what memvm has is reported, what it lacks is an empty
 * answer rather than an unknown command. */
#include "vmm/monitor/query.h"

#include <stdio.h>
#include <string.h>

#include "vmm/config/config.h"
#include "vmm/monitor/qom.h"

#define UNUSED_ARGS \
	(void)ctx;  \
	(void)args; \
	(void)err

static json_t *cmd_query_name(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	const char *name = ctx->be->cfg ? ctx->be->cfg->name : "";
	return name[0] ? json_pack("{s:s}", "name", name) : json_object();
}

static json_t *cmd_query_uuid(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	const char *uuid = ctx->be->cfg ? ctx->be->cfg->uuid : "";
	return json_pack("{s:s}", "UUID", uuid[0] ? uuid : "00000000-0000-0000-0000-000000000000");
}

static json_t *cmd_query_target(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	return json_pack("{s:s}", "arch", "x86_64");
}

static json_t *cmd_query_machines(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	/* memvm's one machine, under the name of its QEMU counterpart. */
	return json_pack("[{s:b,s:s,s:b,s:s,s:i,s:b,s:s,s:b}]", "hotpluggable-cpus", 0, "name",
			 "microvm", "numa-mem-supported", 0, "default-cpu-type", "host-x86_64-cpu",
			 "cpu-max", (int)VM_MAX_CPUS, "deprecated", 0, "default-ram-id", QOM_RAM_ID,
			 "is-default", 1);
}

static json_t *cmd_query_current_machine(const struct qmp_ctx *ctx, json_t *args,
					 struct qmp_error *err)
{
	UNUSED_ARGS;
	return json_pack("{s:b}", "wakeup-suspend-support", 0);
}

static json_t *cmd_empty_list(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	return json_array();
}

static json_t *cmd_query_migrate(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	UNUSED_ARGS;
	return json_object(); /* never migrated */
}

static json_t *cmd_query_chardev(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	return qom_chardev_list(ctx);
}

static json_t *cmd_query_memdev(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	return qom_memdev_list(ctx);
}

static json_t *cmd_query_hotpluggable_cpus(const struct qmp_ctx *ctx, json_t *args,
					   struct qmp_error *err)
{
	(void)ctx;
	(void)args;
	/* As QEMU's microvm: no CPU hotplug. */
	qmp_error_set(err, QMP_CLS_GENERIC, "The feature 'query-hotpluggable-cpus' is not enabled");
	return NULL;
}

/* ---- query-command-line-options ------------------------------------------ */

struct cl_param {
	const char *name, *type, *help;
};

struct cl_option {
	const char *option;
	struct cl_param params[12];
};

/* memvm's option groups and their keys (QEMU's QemuOpts view). */
static const struct cl_option cl_options[] = {
	{ "machine",
	  { { "mem-merge", "boolean", "KSM for guest RAM (MADV_MERGEABLE)" },
	    { "prealloc-threads", "number", "threads populating RAM with -mem-prealloc" },
	    { "thp", "boolean", "transparent huge pages for anonymous guest RAM" },
	    { "mem-shared", "boolean", "guest RAM is a shared mapping" },
	    { "host-quirks", "boolean", "work around the detected host's KVM" },
	    { "dt", "boolean", "the TSC-deadline timer in CPUID" },
	    { "pvh", "boolean", "boot a vmlinux through its Xen PVH entry" },
	    { "dumpdtb", "string", "write the device tree to a file and exit" } } },
	{ "sandbox",
	  { { "enable", "boolean", NULL },
	    { "obsolete", "string", NULL },
	    { "elevateprivileges", "string", NULL },
	    { "spawn", "string", NULL },
	    { "resourcecontrol", "string", NULL },
	    { "log", "boolean", "log denied system calls instead of killing memvm" } } },
	{ "name",
	  { { "guest", "string", "Sets the name of the guest" },
	    { "process", "string", NULL },
	    { "debug-threads", "boolean", NULL } } },
	{ "smp-opts", { { "cpus", "number", NULL } } },
	{ "memory", { { "size", "size", NULL } } },
	{ "accel", { { "accel", "string", "kvm only" } } },
	{ "device", { { 0 } } },
};

static json_t *cl_option_json(const struct cl_option *o)
{
	json_t *params = json_array();
	for (size_t i = 0; params && i < ARRAY_SIZE(o->params) && o->params[i].name; i++) {
		const struct cl_param *p = &o->params[i];
		json_t *j = json_pack("{s:s,s:s}", "name", p->name, "type", p->type);
		if (j && p->help && json_object_set_new(j, "help", json_string(p->help))) {
			json_decref(j);
			j = NULL;
		}
		if (json_array_append_new(params, j)) {
			json_decref(params);
			return NULL;
		}
	}
	return params ? json_pack("{s:o,s:s}", "parameters", params, "option", o->option) : NULL;
}

static json_t *cmd_query_command_line_options(const struct qmp_ctx *ctx, json_t *args,
					      struct qmp_error *err)
{
	(void)ctx;
	const char *want = json_string_value(json_object_get(args, "option"));
	json_t *list = json_array();
	for (size_t i = 0; list && i < ARRAY_SIZE(cl_options); i++) {
		if (want && strcmp(want, cl_options[i].option))
			continue;
		if (json_array_append_new(list, cl_option_json(&cl_options[i]))) {
			json_decref(list);
			return NULL;
		}
	}
	if (list && want && !json_array_size(list)) {
		json_decref(list);
		qmp_error_set(err, QMP_CLS_GENERIC, "invalid option name: %s", want);
		return NULL;
	}
	return list;
}

/* ---- query-qmp-schema ------------------------------------------------------ */

/* Built from the command tables themselves, so it never disagrees with
 * what is dispatched: each command's arguments as an object type (named
 * by number, as QEMU masks its type names), return values as "any", and
 * the events memvm sends. */
struct schema {
	json_t *list;
	unsigned next_type;
	int err;
};

static const char *arg_type_name(enum qmp_arg_type t)
{
	switch (t) {
	case QMP_ARG_INT:
		return "int";
	case QMP_ARG_STR:
		return "str";
	case QMP_ARG_BOOL:
		return "bool";
	case QMP_ARG_ARRAY:
		return "[str]";
	default:
		return "any";
	}
}

static void schema_add(struct schema *s, json_t *entry)
{
	if (!entry || json_array_append_new(s->list, entry))
		s->err = -1;
}

/* An object type of the given members; returns its name. */
static const char *schema_object(struct schema *s, json_t *members, char *name, size_t n)
{
	snprintf(name, n, "%u", s->next_type++);
	schema_add(s, members ? json_pack("{s:s,s:s,s:o}", "name", name, "meta-type", "object",
					  "members", members)
			      : NULL);
	return name;
}

static int schema_command(void *opaque, const struct qmp_command *c)
{
	struct schema *s = opaque;
	json_t *members = json_array();
	for (size_t i = 0; members && i < ARRAY_SIZE(c->args) && c->args[i].name; i++) {
		json_t *m = json_pack("{s:s,s:s}", "name", c->args[i].name, "type",
				      arg_type_name(c->args[i].type));
		if (m && c->args[i].optional && json_object_set_new(m, "default", json_null())) {
			json_decref(m);
			m = NULL;
		}
		if (json_array_append_new(members, m))
			s->err = -1;
	}
	char name[16];
	schema_object(s, members, name, sizeof(name));
	schema_add(s, json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", c->name, "meta-type", "command",
				"arg-type", name, "ret-type", "any", "allow-oob", 0));
	return 0;
}

static void schema_event(struct schema *s, const char *event, json_t *members)
{
	char name[16];
	schema_object(s, members, name, sizeof(name));
	schema_add(s, json_pack("{s:s,s:s,s:s}", "name", event, "meta-type", "event", "arg-type",
				name));
}

static json_t *cmd_query_qmp_schema(const struct qmp_ctx *ctx, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	struct schema s = { .list = json_array() };
	if (!s.list)
		return NULL;
	qmp_foreach_command(ctx, schema_command, &s);
	json_t *cause = json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "guest", "type", "bool", "name",
				  "reason", "type", "str");
	schema_event(&s, "SHUTDOWN", cause);
	schema_event(&s, "RESET", json_deep_copy(cause));
	schema_event(&s, "STOP", json_array());
	schema_event(&s, "RESUME", json_array());
	schema_event(&s, "POWERDOWN", json_array());
	schema_event(&s, "BALLOON_CHANGE",
		     json_pack("[{s:s,s:s}]", "name", "actual", "type", "int"));
	static const char *const builtins[][2] = {
		{ "int", "int" },   { "str", "string" }, { "bool", "boolean" },
		{ "any", "value" }, { "null", "null" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		schema_add(&s, json_pack("{s:s,s:s,s:s}", "name", builtins[i][0], "meta-type",
					 "builtin", "json-type", builtins[i][1]));
	schema_add(&s, json_pack("{s:s,s:s,s:s}", "name", "[str]", "meta-type", "array",
				 "element-type", "str"));
	if (s.err) {
		json_decref(s.list);
		return NULL;
	}
	return s.list;
}

const struct qmp_command query_commands[] = {
	{ "query-name", cmd_query_name, { { 0 } } },
	{ "query-uuid", cmd_query_uuid, { { 0 } } },
	{ "query-target", cmd_query_target, { { 0 } } },
	{ "query-machines", cmd_query_machines, { { "compat-props", QMP_ARG_BOOL, true } } },
	{ "query-current-machine", cmd_query_current_machine, { { 0 } } },
	{ "query-chardev", cmd_query_chardev, { { 0 } } },
	{ "query-block", cmd_empty_list, { { 0 } } },
	{ "query-block-jobs", cmd_empty_list, { { 0 } } },
	{ "query-blockstats", cmd_empty_list, { { "query-nodes", QMP_ARG_BOOL, true } } },
	{ "query-pci", cmd_empty_list, { { 0 } } },
	{ "query-iothreads", cmd_empty_list, { { 0 } } },
	{ "query-migrate", cmd_query_migrate, { { 0 } } },
	{ "query-command-line-options",
	  cmd_query_command_line_options,
	  { { "option", QMP_ARG_STR, true } } },
	{ "query-hotpluggable-cpus", cmd_query_hotpluggable_cpus, { { 0 } } },
	{ "query-memdev", cmd_query_memdev, { { 0 } } },
	{ "query-memory-devices", cmd_empty_list, { { 0 } } },
	{ "query-qmp-schema", cmd_query_qmp_schema, { { 0 } } },
	{ 0 },
};
