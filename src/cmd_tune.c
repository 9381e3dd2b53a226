/* SPDX-License-Identifier: MIT */
/* tcpstate tune: the TCP sysctls against what the sockets show. */
#include <errno.h>
#include <linux/capability.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "term_safe.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/util.h"
#include "tune.h"

enum {
	OPT_WRITE = CLI_OPT_VERB,
	OPT_APPLY,
	OPT_SAVE,
	OPT_REVERT,
	OPT_CONFIG_ROOT,
};

static void tune_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate tune [--netns NS] [--json] [--write FILE] [--apply [--save FILE]]\n"
		"       tcpstate tune --revert FILE [--netns NS] [--json]\n"
		"\n"
		"Audits the TCP settings (/proc/sys) of a network namespace: current value, kernel\n"
		"default, the states each one governs, and a recommendation driven by what the\n"
		"sockets of that namespace show now (orphaned FIN_WAIT_2, TIME_WAIT against the\n"
		"port range and tcp_max_tw_buckets, orphans in FIN_WAIT_1/LAST_ACK/CLOSING, full\n"
		"accept queues, SYN_RECEIVED against tcp_max_syn_backlog). Then lints the sysctl\n"
		"configuration files (/etc/sysctl.conf, sysctl.d directories: the first 4096\n"
		"files by name; FIFOs, directories and other non-regular files are reported,\n"
		"not read; control characters from the files are shown as '?'). No sysctl ends\n"
		"CLOSE_WAIT: the program must close() (see 'tcpstate doctor').\n"
		"\n"
		"Nothing is changed without one of these:\n"
		"      --write FILE       write the recommended changes as a sysctl.d drop-in\n"
		"                         (atomically; 'sysctl -p FILE' accepts it)\n"
		"      --apply            set the recommended values in /proc/sys of the target\n"
		"                         namespace, after saving the old ones; with --netns,\n"
		"                         host-wide settings (fs.*, tcp_max_orphans) are not applied\n"
		"      --save FILE        where --apply saves the old values (default:\n"
		"                         " TUNE_BACKUP_DIR "/tune-backup-NETNS-TIME.conf)\n"
		"      --revert FILE      restore the values a --apply saved, in the namespace\n"
		"                         recorded in FILE (or --netns). FILE must be a regular\n"
		"                         file naming only settings tune audits; host-wide ones\n"
		"                         are refused with --netns. Every line is checked\n"
		"                         before anything is changed\n"
		"Where and how:\n"
		"  -N, --netns NS         another network namespace: a path (with a '/'), else a\n"
		"                         name in /run/netns, else a pid (a name wins over the\n"
		"                         same pid; default: your own)\n"
		"  -j, --json             one JSON document\n"
		"      --config-root DIR  read the configuration files under DIR instead of /;\n"
		"                         symbolic links resolve inside DIR (as systemd-sysctl\n"
		"                         --root does), nothing outside it is read\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error, 2 usage error.\n");
}

/* ---- the audit ---- */

static void audit_free(struct tune_audit *a)
{
	ts_snapshot_free(a->snap);
	free(a->rows);
	ts_sysctl_conf_free(a->conf);
	ts_lint_findings_free(a->findings, a->n_findings);
	free(a->changes);
	free(a->host_skipped);
}

/* What --write and --apply would change: the rows to change, less the
 * host-wide ones for a namespace target. 0, or -1 (reported). */
static int audit_changes(const struct tune_args *ta, struct tune_audit *a)
{
	a->changes = calloc(a->n_rows, sizeof(*a->changes));
	a->host_skipped = calloc(a->n_rows, sizeof(*a->host_skipped));
	if (!a->changes || !a->host_skipped) {
		cli_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		struct tune_change *c;

		if (row->action != TS_TUNE_CHANGE)
			continue;
		if (!row->info->per_netns && ta->netns) {
			a->host_skipped[a->n_host_skipped++] = row->info->name;
			continue;
		}
		c = &a->changes[a->n_changes++];
		c->name = row->info->name;
		snprintf(c->from, sizeof(c->from), "%s", row->current);
		snprintf(c->to, sizeof(c->to), "%s", row->recommended);
		c->reason = row->reason;
	}
	return 0;
}

/* The configuration files against the live values. 0, or -1 (reported). */
static int audit_lint(const struct tune_args *ta, struct tune_audit *a)
{
	struct ts_sysctl *live = NULL;
	int r;

	/* The files apply where systemd-sysctl runs: the caller's namespace. */
	r = ts_sysctl_conf_load(ta->config_root, &a->conf);
	if (r < 0) {
		char root[PATH_MAX];

		tune_sanitize(root, sizeof(root), ta->config_root ? ta->config_root : "/");
		if (r == -EOPNOTSUPP)
			cli_error("--config-root needs openat2() (Linux 5.6 or later) to keep symbolic "
				  "links inside %s", root);
		else
			cli_error("cannot read the sysctl configuration under %s: %s", root,
				  tune_errno_text(r));
		return -1;
	}
	r = ts_sysctl_open(NULL, NULL, &live);
	if (r == 0)
		r = ts_sysctl_conf_lint(a->conf, live, &a->findings, &a->n_findings);
	ts_sysctl_free(live);
	if (r < 0) {
		cli_error("cannot lint the sysctl configuration: %s", tune_errno_text(r));
		return -1;
	}
	return 0;
}

static int audit_run(const struct tune_args *ta, struct ts_sysctl *s, struct tune_audit *a)
{
	struct cli_snapshot_args sa;
	const struct ts_netns *ns;
	struct ts_diagnose_sysctls sys;
	uint32_t lo = 32768, hi = 60999;
	int64_t somaxconn = 0;
	int r;

	cli_snapshot_args_init(&sa);
	sa.opts.netns = ta->netns;
	sa.opts.owners = TS_OWNERS_NONE; /* counts and inodes are enough, and fast */
	if (cli_snapshot_take(&sa, &a->snap) < 0)
		return -1;
	ns = ts_snapshot_netns(a->snap, 0);
	if (ns) {
		/* a file name in /run/netns: shown, and written into files */
		tune_sanitize(a->netns_name, sizeof(a->netns_name), ns->name);
		a->netns_kind = ns->kind;
		/* What opens it again: the path or pid the user gave, else the library's. */
		if (ta->netns && strchr(ta->netns, '/'))
			snprintf(a->netns_reopen, sizeof(a->netns_reopen), "%s", ta->netns);
		else if (ta->netns && ts_str_is_digits(ta->netns))
			snprintf(a->netns_reopen, sizeof(a->netns_reopen), "/proc/%s/ns/net", ta->netns);
		else if (ts_netns_reopen_spec(ns, NULL, a->netns_reopen, sizeof(a->netns_reopen)) < 0)
			a->netns_reopen[0] = '\0';
		a->netns_inode = ns->inode;
	}

	/* The port range and somaxconn as doctor reads them (one parser). */
	ts_diagnose_sysctls_read(s, &sys);
	if (sys.err[TS_DS_PORT_RANGE] == 0 && sys.value[TS_DS_PORT_RANGE] >= 0 &&
	    sys.value[TS_DS_PORT_RANGE] <= sys.value2[TS_DS_PORT_RANGE] &&
	    sys.value2[TS_DS_PORT_RANGE] <= 65535) {
		lo = (uint32_t)sys.value[TS_DS_PORT_RANGE];
		hi = (uint32_t)sys.value2[TS_DS_PORT_RANGE];
	}
	if (sys.err[TS_DS_SOMAXCONN] == 0)
		somaxconn = sys.value[TS_DS_SOMAXCONN];
	r = ts_tune_observe(a->snap, lo, hi, somaxconn, &a->obs);
	if (r == 0)
		r = ts_tune_advise(s, &a->obs, &a->rows, &a->n_rows);
	if (r < 0) {
		cli_error("cannot work out the advice: %s", tune_errno_text(r));
		return -1;
	}

	if (audit_changes(ta, a) < 0)
		return -1;
	return audit_lint(ta, a);
}

/* ---- the verb ---- */

/* ---- parse ---- */

static int tune_option(void *ctx, int opt, const char *arg)
{
	struct tune_args *ta = ctx;

	switch (opt) {
	case 'N':
		ta->netns = arg;
		return 1;
	case 'j':
		ta->json = true;
		return 1;
	case OPT_WRITE:
		ta->write = arg;
		return 1;
	case OPT_APPLY:
		ta->apply = true;
		return 1;
	case OPT_SAVE:
		ta->save = arg;
		return 1;
	case OPT_REVERT:
		ta->revert = arg;
		return 1;
	case OPT_CONFIG_ROOT:
		ta->config_root = arg;
		return 1;
	}
	return 0;
}

/* The option loop: CLI_PARSE_RUN, or the exit status after --help or a usage error. */
static int tune_parse_options(struct tune_args *ta, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "netns", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "write", required_argument, NULL, OPT_WRITE },
		{ "apply", no_argument, NULL, OPT_APPLY },
		{ "save", required_argument, NULL, OPT_SAVE },
		{ "revert", required_argument, NULL, OPT_REVERT },
		{ "config-root", required_argument, NULL, OPT_CONFIG_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_options v = { "tune", "N:jh", long_opts, tune_help, tune_option, ta };

	return cli_verb_parse(&v, argc, argv);
}

/* Options, then their combinations: CLI_PARSE_RUN, or the exit status. */
static int tune_parse(struct tune_args *ta, int argc, char **argv)
{
	int r = tune_parse_options(ta, argc, argv);

	if (r != CLI_PARSE_RUN)
		return r;
	if (optind < argc) {
		cli_error("unexpected argument '%s' (try 'tcpstate tune --help')", argv[optind]);
		return EXIT_USAGE;
	}
	if (ta->revert && (ta->apply || ta->write || ta->save || ta->config_root)) {
		cli_error("--revert excludes --apply, --write, --save and --config-root");
		return EXIT_USAGE;
	}
	if (ta->save && !ta->apply) {
		cli_error("--save goes with --apply");
		return EXIT_USAGE;
	}
	if ((ta->write && !*ta->write) || (ta->save && !*ta->save) || (ta->revert && !*ta->revert) ||
	    (ta->config_root && !*ta->config_root)) {
		cli_error("empty file name");
		return EXIT_USAGE;
	}
	if (cli_netns_check(ta->netns, NULL) < 0)
		return EXIT_USAGE;
	return CLI_PARSE_RUN;
}

/* ---- run: the changes asked for ---- */

/* --write, then --apply, each recorded in root (NULL for text): 0, or -1 (reported). */
static int tune_act(const struct tune_args *ta, struct ts_sysctl *s, const struct tune_audit *a,
		    json_object *root)
{
	char backup[PATH_MAX] = "";
	json_object *applied;
	int r;

	if (ta->write) {
		if (!ta->json)
			putchar('\n');
		if (tune_write_dropin(ta, a) < 0)
			return -1;
		if (root)
			json_object_object_add(root, "written", json_object_new_string(ta->write));
	}
	if (!ta->apply)
		return 0;
	applied = json_object_new_array();
	if (!ta->json)
		putchar('\n');
	r = tune_apply(ta, s, a, applied, backup, sizeof(backup));
	if (root) {
		json_object_object_add(root, "applied", applied);
		json_object_object_add(root, "backup", backup[0] ? json_object_new_string(backup) : NULL);
	} else {
		json_object_put(applied);
	}
	return r < 0 ? -1 : 0;
}

int cmd_tune(int argc, char **argv)
{
	struct tune_args ta = { 0 };
	struct tune_audit a = { 0 };
	struct ts_sysctl *s = NULL;
	json_object *root = NULL;
	int rc = tune_parse(&ta, argc, argv);

	if (rc != CLI_PARSE_RUN)
		return rc;
	if (ta.revert)
		return tune_revert(&ta);
	if (tune_open_sysctl(ta.netns, &s) < 0)
		return EXIT_ERROR;
	rc = EXIT_ERROR;
	if (audit_run(&ta, s, &a) < 0)
		goto out;
	/* render the audit, act, then the JSON document that records both */
	if (ta.json)
		root = tune_audit_json(&ta, &a);
	else
		tune_print_audit(&ta, &a);
	if (tune_act(&ta, s, &a, root) == 0)
		rc = EXIT_OK;
	if (root)
		term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		rc = EXIT_ERROR;
	}
out:
	json_object_put(root);
	audit_free(&a);
	ts_sysctl_free(s);
	return rc;
}
