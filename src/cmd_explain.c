/* SPDX-License-Identifier: MIT */
/*
 * tcpstate explain [STATE...] | ADDR:PORT | [ADDR]:PORT | :PORT | INODE
 *
 * A page per state from the table of lib/core/state_info.c, with the current
 * values of the settings that bound it, read in the target namespace; or the
 * story of live sockets: who holds them, what the kernel says about them, and
 * what that means. This file: parse -> run -> render, and the flow; see
 * explain.h for the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "explain.h"
#include "term_safe.h"
#include "tcpstate/util.h"

static void explain_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate explain [STATE...] [OPTIONS]\n"
		"       tcpstate explain ADDR:PORT | [ADDR6]:PORT | :PORT | INODE [OPTIONS]\n"
		"\n"
		"With states (default: all 13, in the order a connection lives them), prints\n"
		"what each state means, which side closed first, who must act, what ends it,\n"
		"the current value of every setting that bounds it, typical causes, and how to\n"
		"see it. States are named as for 'list --state'; groups such as 'closing' work.\n"
		"\n"
		"With a socket (1.2.3.4:80, [::1]:80, :80 for a port at either end, or a socket\n"
		"inode as shown by 'list --json' and /proc/PID/fd), tells the story of each live\n"
		"socket that matches: state, both ends, the processes and fds holding it, its\n"
		"timer, how long since data moved (or that it never carried any), its queues,\n"
		"and what that means; for SYN_RECEIVED, whether the listener defers accept\n"
		"(TCP_DEFER_ACCEPT) and the kernel's counters that bear on it.\n"
		"\n"
		"  -N, --netns NS   another network namespace: a path (with a '/'), else a name\n"
		"                   in /run/netns, else a pid (a name wins over the same pid;\n"
		"                   default: your own); settings are read there too\n"
		"  -j, --json       one JSON document\n"
		"  -h, --help       this text\n"
		"\n"
		"Examples:\n"
		"  tcpstate explain close-wait\n"
		"  tcpstate explain closing --netns tslab-1a2b3c4d\n"
		"  tcpstate explain 127.0.0.1:8080\n"
		"  tcpstate explain 4711 --json\n"
		"\n"
		"Exit status: 0 success, 1 error or no socket matched, 2 usage error.\n");
}

static unsigned terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 80;
	if (ws.ws_col < 60)
		return 60;
	return ws.ws_col > 100 ? 100 : ws.ws_col;
}

/* ---- queries ---- */

/* "tslab-1 (/run/netns/tslab-1)", "init (that of pid 1)": which one was used. */
static void netns_shown(const struct ts_netns_ref *ref, const char *spec, char *buf, size_t size)
{
	char name[64], given[64];

	term_safe(name, sizeof(name), ref->name);
	term_safe(given, sizeof(given), spec);
	switch (ref->form) {
	case TS_NETNS_FORM_NAME:
		snprintf(buf, size, "%s (/run/netns/%s%s)", name, given,
			 ref->shadows_pid ? ": a name, not a pid" : "");
		break;
	case TS_NETNS_FORM_PID:
		snprintf(buf, size, "%s (that of pid %d)", name, (int)ref->pid);
		break;
	case TS_NETNS_FORM_PATH:
		snprintf(buf, size, "%s (%s)", name, given);
		break;
	default:
		snprintf(buf, size, "%s", name);
		break;
	}
}

/* Before each page or story: the namespace note first, then blank lines between. */
static void separate(const struct explain_ctx *c, bool *printed)
{
	if (*printed)
		putchar('\n');
	else if (c->netns)
		printf("Settings are read in network namespace %s.\n\n", c->netns_shown);
	*printed = true;
}

static void query_not_found(const struct explain_ctx *c, const struct explain_query *q)
{
	if (c->netns)
		cli_error("no socket matches '%s' in network namespace %s", q->text, c->netns_shown);
	else
		cli_error("no socket matches '%s' in this network namespace", q->text);
}

/*
 * Takes a snapshot for one query and renders its matches (to f, or into
 * arr in JSON mode). Returns the number of matches, or -1 on an error
 * (reported).
 */
static int run_query(struct explain_ctx *c, const struct explain_query *q, FILE *f, json_object *arr,
		     bool *printed)
{
	struct cli_snapshot_args a;
	struct ts_snapshot *snap;
	size_t n;
	int found = 0;

	cli_snapshot_args_init(&a);
	a.opts.netns = c->netns;
	a.opts.owners = TS_OWNERS_PROC;
	a.opts.want_info = true;
	/* Let the kernel select by port; address and wildcard rules are ours. */
	if (q->kind != EXPLAIN_QUERY_INODE) {
		a.filter.ports[0] = q->port;
		a.filter.n_ports = 1;
	}
	if (cli_snapshot_take(&a, &snap) < 0)
		return -1;
	n = ts_snapshot_socket_count(snap);
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (!explain_query_match(q, s))
			continue;
		found++;
		if (arr) {
			json_object_array_add(arr, explain_story_json(c, snap, s, q));
		} else {
			separate(c, printed);
			explain_story_text(f, c, snap, s, q);
		}
	}
	ts_snapshot_free(snap);
	return found;
}

/* ---- parse ---- */

/* What the words after the options ask for: state pages and socket queries. */
struct explain_args {
	ts_state_mask_t states;
	struct explain_query *queries;
	size_t n_queries;
};

/* The words after the options: states, or sockets. EXIT_USAGE (reported) or CLI_PARSE_RUN. */
static int explain_parse_words(struct explain_args *ea, int argc, char **argv)
{
	ea->queries = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*ea->queries));
	if (!ea->queries) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	for (int i = optind; i < argc; i++) {
		ts_state_mask_t m;
		int r = explain_query_parse(argv[i], &ea->queries[ea->n_queries]);

		if (r < 0)
			return EXIT_USAGE;
		if (r > 0) {
			ea->n_queries++;
			continue;
		}
		if (ts_state_token_parse(argv[i], &m) < 0) {
			cli_error("unknown state or socket '%s' (a state such as close-wait, a group "
				  "such as closing, ADDR:PORT, [ADDR]:PORT, :PORT or an inode number)",
				  argv[i]);
			return EXIT_USAGE;
		}
		ea->states |= m;
	}
	if (optind >= argc)
		ea->states = TS_STATE_MASK_ALL;
	return CLI_PARSE_RUN;
}

static int explain_option(void *ctx, int opt, const char *arg)
{
	struct explain_ctx *c = ctx;

	switch (opt) {
	case 'N':
		c->netns = arg;
		return 1;
	case 'j':
		c->json = true;
		return 1;
	}
	return 0;
}

/* Options into c, words into ea: CLI_PARSE_RUN, or the exit status. */
static int explain_parse(struct explain_ctx *c, struct explain_args *ea, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "netns", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_options v = { "explain", "N:jh", long_opts, explain_help, explain_option, c };
	int r = cli_verb_parse(&v, argc, argv);

	return r != CLI_PARSE_RUN ? r : explain_parse_words(ea, argc, argv);
}

/* ---- run ---- */

/* The width, the namespace's name and its settings: CLI_PARSE_RUN, or the exit status. */
static int explain_open(struct explain_ctx *c)
{
	int r;

	if (!c->json)
		c->width = terminal_width();
	if (c->netns) {
		struct ts_netns_ref ref;

		term_safe(c->netns_shown, sizeof(c->netns_shown), c->netns);
		r = cli_netns_check(c->netns, &ref);
		if (r < 0)
			return EXIT_USAGE;
		if (r == 0)
			netns_shown(&ref, c->netns, c->netns_shown, sizeof(c->netns_shown));
	}
	r = ts_sysctl_open(c->netns, NULL, &c->sysctl);
	if (r < 0) {
		if (c->netns) {
			cli_netns_error(c->netns, r);
			return cli_netns_usage_error(r) ? EXIT_USAGE : EXIT_ERROR;
		}
		c->sysctl = NULL;
		c->sysctl_err = r;
	}
	return CLI_PARSE_RUN;
}

/* The JSON document's arrays (all NULL for text). */
struct explain_doc {
	json_object *doc, *pages, *stories, *unmatched;
};

/* A page per state asked for, in the order a connection lives them. */
static void explain_pages(struct explain_ctx *c, ts_state_mask_t states, struct explain_doc *j,
			  bool *printed)
{
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		const struct ts_state_info *info = ts_state_info(ts_state_lifecycle_order(i));

		if (!info || !(states & TS_STATE_BIT(info->state)))
			continue;
		if (c->json) {
			json_object_array_add(j->pages, explain_page_json(c, info));
			continue;
		}
		separate(c, printed);
		explain_page_text(stdout, c, info);
	}
}

/* The story of each socket a query matches: EXIT_OK, or EXIT_ERROR when one failed or matched none. */
static int explain_stories(struct explain_ctx *c, const struct explain_args *ea,
			   struct explain_doc *j, bool *printed)
{
	int status = EXIT_OK;

	for (size_t i = 0; i < ea->n_queries; i++) {
		int r = run_query(c, &ea->queries[i], stdout, j->stories, printed);

		if (r < 0)
			return EXIT_ERROR;
		if (r == 0) {
			query_not_found(c, &ea->queries[i]);
			if (j->unmatched)
				json_object_array_add(j->unmatched,
						      json_object_new_string(ea->queries[i].text));
			status = EXIT_ERROR;
		}
	}
	return status;
}

/* ---- render ---- */

static void explain_doc_start(const struct explain_ctx *c, struct explain_doc *j)
{
	j->doc = json_object_new_object();
	j->pages = json_object_new_array();
	j->stories = json_object_new_array();
	j->unmatched = json_object_new_array();
	json_object_object_add(j->doc, "netns", c->netns ? json_object_new_string(c->netns) : NULL);
}

static void explain_doc_print(struct explain_doc *j)
{
	json_object_object_add(j->doc, "states", j->pages);
	json_object_object_add(j->doc, "sockets", j->stories);
	json_object_object_add(j->doc, "unmatched", j->unmatched);
	term_safe_json_puts(json_object_to_json_string_ext(j->doc, JSON_C_TO_STRING_PRETTY |
									  JSON_C_TO_STRING_NOSLASHESCAPE),
			    stdout);
}

int cmd_explain(int argc, char **argv)
{
	struct explain_ctx c = { .width = 80 };
	struct explain_args ea = { 0 };
	struct explain_doc j = { 0 };
	bool printed = false;
	int status = explain_parse(&c, &ea, argc, argv);

	if (status == CLI_PARSE_RUN)
		status = explain_open(&c);
	if (status != CLI_PARSE_RUN)
		goto out;
	if (c.json)
		explain_doc_start(&c, &j);
	explain_pages(&c, ea.states, &j, &printed);
	status = explain_stories(&c, &ea, &j, &printed);
	if (j.doc)
		explain_doc_print(&j);
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		status = EXIT_ERROR;
	}
out:
	json_object_put(j.doc);
	ts_sysctl_free(c.sysctl);
	free(ea.queries);
	return status;
}
