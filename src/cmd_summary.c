/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "output.h"
#include "term_safe.h"

#define TOP_N 10

#define N_CLOSING TS_HELD_CLOSING_COUNT

struct holder {
	pid_t pid;
	const char *comm;
	unsigned count[N_CLOSING];
	unsigned total;
	uint64_t ns_bits; /* the namespaces (netns_index < 64) of its closing sockets */
	bool ns_more;     /* and some with a higher index */
};

static void summary_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate [summary] [OPTIONS]\n"
		"\n"
		"Counts TCP sockets in each of the 13 states (zero rows included), per network\n"
		"namespace with --all-netns, and names the processes holding the most sockets\n"
		"in CLOSE_WAIT and the other closing states.\n"
		"\n"
		"%s"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error (also when processes or sockets could not be\n"
		"inspected for lack of file descriptors: the counts are printed, a warning says\n"
		"what is missing), 2 usage error.\n",
		CLI_SNAPSHOT_HELP);
}

static int holder_cmp(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;

	if (x->count[0] != y->count[0]) /* CLOSE_WAIT first: it is the program's bug */
		return x->count[0] < y->count[0] ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return x->pid - y->pid;
}

/* Per process counts of closing sockets; sorted, worst first. */
static struct holder *holders_build(const struct ts_snapshot *snap, size_t *ret_n)
{
	size_t n_sock = ts_snapshot_socket_count(snap), n = 0, cap = 0;
	struct holder *h = NULL;
	/* process_index -> holder slot, grown on demand */
	size_t *slot_of = NULL, n_slots = 0;

	for (size_t i = 0; i < n_sock; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const struct ts_owner *o = ts_snapshot_owners(snap, s);
		int slot = ts_held_closing_index((enum ts_state)s->state);

		if (slot < 0 || !o)
			continue;
		for (unsigned k = 0; k < s->owner_count; k++) {
			uint32_t pi = o[k].process_index;
			const struct ts_process *p = ts_snapshot_process(snap, pi);
			size_t hi;

			/* Count each socket once per process, even if it holds it twice. */
			if (k > 0 && o[k - 1].pid == o[k].pid)
				continue;
			if (pi >= n_slots) {
				size_t ns = (pi + 1) * 2;
				size_t *v = realloc(slot_of, ns * sizeof(*v));

				if (!v)
					goto oom;
				for (size_t j = n_slots; j < ns; j++)
					v[j] = SIZE_MAX;
				slot_of = v;
				n_slots = ns;
			}
			if (slot_of[pi] == SIZE_MAX) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 16;
					struct holder *v = realloc(h, nc * sizeof(*v));

					if (!v)
						goto oom;
					h = v;
					cap = nc;
				}
				memset(&h[n], 0, sizeof(h[n]));
				h[n].pid = o[k].pid;
				h[n].comm = p ? p->comm : "?";
				slot_of[pi] = n++;
			}
			hi = slot_of[pi];
			h[hi].count[slot]++;
			h[hi].total++;
			if (s->netns_index < 64)
				h[hi].ns_bits |= (uint64_t)1 << s->netns_index;
			else
				h[hi].ns_more = true;
		}
	}
	free(slot_of);
	if (n)
		qsort(h, n, sizeof(*h), holder_cmp);
	*ret_n = n;
	return h;
oom:
	free(slot_of);
	free(h);
	*ret_n = 0;
	return NULL;
}

static void count_states(const struct ts_snapshot *snap, long netns_index, uint32_t counts[_TS_STATE_MAX])
{
	size_t n = ts_snapshot_socket_count(snap);

	memset(counts, 0, sizeof(uint32_t) * _TS_STATE_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (netns_index < 0 || s->netns_index == (uint32_t)netns_index)
			counts[s->state]++;
	}
}

static int print_json(const struct ts_snapshot *snap, const struct holder *h, size_t nh, bool owners)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	uint32_t counts[_TS_STATE_MAX];

	cli_json_header(root);
	count_states(snap, -1, counts);
	json_object_object_add(root, "states", output_state_counts_json(counts));
	for (size_t i = 0; i < ts_snapshot_netns_count(snap); i++) {
		const struct ts_netns *ns = ts_snapshot_netns(snap, (uint32_t)i);
		json_object *e = json_object_new_object();

		count_states(snap, (long)i, counts);
		json_object_object_add(e, "name", json_object_new_string(ns->name));
		json_object_object_add(e, "inode", json_object_new_int64((int64_t)ns->inode));
		json_object_object_add(e, "states", output_state_counts_json(counts));
		json_object_array_add(arr, e);
	}
	json_object_object_add(root, "netns", arr);
	if (owners) {
		json_object *top = json_object_new_array();

		for (size_t i = 0; i < nh && i < TOP_N; i++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "pid", json_object_new_int(h[i].pid));
			json_object_object_add(e, "comm", json_object_new_string(h[i].comm));
			for (size_t k = 0; k < N_CLOSING; k++)
				json_object_object_add(e, ts_state_name(ts_held_closing_states[k]),
						       json_object_new_int64(h[i].count[k]));
			json_object_object_add(e, "total", json_object_new_int64(h[i].total));
			json_object *ns = json_object_new_array();

			for (uint32_t b = 0; b < 64; b++)
				if (h[i].ns_bits & ((uint64_t)1 << b))
					json_object_array_add(ns, json_object_new_string(
									  ts_snapshot_netns(snap, b)->name));
			json_object_object_add(e, "netns", ns);
			json_object_object_add(e, "netns_truncated", json_object_new_boolean(h[i].ns_more));
			json_object_array_add(top, e);
		}
		json_object_object_add(root, "top_closing", top);
	} else {
		json_object_object_add(root, "top_closing", NULL);
	}
	term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	json_object_put(root);
	return 0;
}

/*
 * The `tcpstate list` that shows what a summary counted of one holder: in the
 * namespaces the summary read (--all-netns, or the same --netns).
 */
static void list_hint(char *buf, size_t size, const struct cli_snapshot_args *a, pid_t pid)
{
	char word[PATH_MAX + 8];

	if (a->opts.all_netns)
		snprintf(buf, size, "tcpstate list --all-netns --state close-wait --pid %d", (int)pid);
	else if (a->opts.netns)
		snprintf(buf, size, "tcpstate list --netns %s --state close-wait --pid %d",
			 cli_shell_word(a->opts.netns, word, sizeof(word)), (int)pid);
	else
		snprintf(buf, size, "tcpstate list --state close-wait --pid %d", (int)pid);
}

static void print_table(const struct ts_snapshot *snap, const struct holder *h, size_t nh,
			const struct cli_snapshot_args *a, bool owners)
{
	uint32_t counts[_TS_STATE_MAX];
	char title[128];

	if (a->opts.all_netns) {
		for (size_t i = 0; i < ts_snapshot_netns_count(snap); i++) {
			const struct ts_netns *ns = ts_snapshot_netns(snap, (uint32_t)i);

			count_states(snap, (long)i, counts);
			if (ns->kind == TS_NETNS_UNNAMED)
				snprintf(title, sizeof(title), "Network namespace %s", ns->name);
			else
				snprintf(title, sizeof(title), "Network namespace %s (net:[%llu])",
					 ns->name, (unsigned long long)ns->inode);
			output_state_counts_text(stdout, counts, title);
			putchar('\n');
		}
		count_states(snap, -1, counts);
		output_state_counts_text(stdout, counts, "All namespaces");
	} else {
		const struct ts_netns *ns = ts_snapshot_netns(snap, 0);

		count_states(snap, -1, counts);
		snprintf(title, sizeof(title), "TCP sockets by state, network namespace %s",
			 ns ? ns->name : "?");
		output_state_counts_text(stdout, counts, title);
	}

	if (!owners)
		return;
	putchar('\n');
	if (nh == 0) {
		printf("No process holds a socket in CLOSE_WAIT or another closing state.\n");
		return;
	}
	printf("Top processes holding closing sockets\n");
	printf("  %7s %-16s %10s %10s %10s %8s %7s %6s %6s\n", "PID", "COMMAND", "CLOSE_WAIT",
	       "FIN_WAIT_1", "FIN_WAIT_2", "LAST_ACK", "CLOSING", "CLOSED", "TOTAL");
	for (size_t i = 0; i < nh && i < TOP_N; i++)
		printf("  %7d %-16s %10u %10u %10u %8u %7u %6u %6u\n", (int)h[i].pid, TERM_SAFE(h[i].comm),
		       h[i].count[0], h[i].count[1], h[i].count[2], h[i].count[3], h[i].count[4],
		       h[i].count[5], h[i].total);
	if (h[0].count[0]) {
		char hint[PATH_MAX + 128];

		list_hint(hint, sizeof(hint), a, h[0].pid);
		printf("\nCLOSE_WAIT: the peer closed and the program has not called close();\n"
		       "no timer or sysctl ends it. See '%s'.\n", TERM_SAFE(hint));
	}
}

int cmd_summary(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_options v = { "summary", "h", long_opts, summary_help, NULL, NULL };
	struct cli_snapshot_args a;
	struct ts_snapshot *snap;
	struct holder *h = NULL;
	size_t nh = 0;
	bool owners, incomplete;
	int r;

	cli_snapshot_args_init(&a);
	r = cli_snapshot_parse(&a, &v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (cli_snapshot_args_check(&a) < 0)
		return EXIT_USAGE;

	if (cli_snapshot_take(&a, &snap) < 0)
		return EXIT_ERROR;
	owners = ts_snapshot_stats(snap)->owners_scanned;
	if (owners)
		h = holders_build(snap, &nh);
	if (a.json)
		print_json(snap, h, nh, owners);
	else
		print_table(snap, h, nh, &a, owners);
	free(h);
	incomplete = cli_snapshot_incomplete(snap);
	ts_snapshot_free(snap);
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		return EXIT_ERROR;
	}
	return incomplete ? EXIT_ERROR : EXIT_OK;
}
