/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "list_order.h"
#include "output.h"

static void list_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate list [OPTIONS]\n"
		"\n"
		"Lists TCP sockets in all 13 states, with the processes and fds that hold them.\n"
		"IDLE (never bound or connected) and CLOSED (connection over, fd still open)\n"
		"sockets appear in no kernel dump; they are found through process fds.\n"
		"Columns are as wide as their widest value; nothing is cut, long rows wrap.\n"
		"Addresses as bound: 0.0.0.0:80 (IPv4), [::]:80 (IPv6 only, v6only),\n"
		"*:80 (IPv6 wildcard that takes IPv4 clients too: dual stack).\n"
		"\n"
		"%s"
		"  -i, --info             add tcp_info (rtt, retransmits, last send/receive)\n"
		"                         to --json output (on by default with --json)\n"
		"  -H, --no-header        no title line\n"
		"      --sort KEY         state, port (local), pid (first holder; none last),\n"
		"                         age (idle time, longest first; unknown last) or\n"
		"                         queue (Recv-Q + Send-Q, largest first); ties and\n"
		"                         the default order: namespace, state (lifecycle\n"
		"                         order), local port, local address, peer, pid, fd\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error (also when processes or sockets could not be\n"
		"inspected for lack of file descriptors: the sockets found are listed, a\n"
		"warning says what is missing), 2 usage error.\n"
		"\n"
		"Examples:\n"
		"  tcpstate list --state close-wait --port 8080\n"
		"  tcpstate list --netns tslab-1a2b3c4d --json\n"
		"  tcpstate list --all-netns --state closing\n",
		CLI_SNAPSHOT_HELP);
}

/* The verb's own options; the shared ones are in cli_snapshot.h. */
enum { OPT_SORT = CLI_OPT_VERB };

struct list_args {
	struct cli_snapshot_args a;
	enum list_sort_key sort;
	bool header;
};

static int list_option(void *ctx, int opt, const char *arg)
{
	struct list_args *l = ctx;

	switch (opt) {
	case 'i':
		l->a.info = true;
		return 1;
	case 'H':
		l->header = false;
		return 1;
	case OPT_SORT:
		if (list_sort_key_parse(arg, &l->sort) < 0) {
			cli_error("--sort: unknown key '%s' (state, port, pid, age or queue)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

int cmd_list(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "info", no_argument, NULL, 'i' },
		{ "no-header", no_argument, NULL, 'H' },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct list_args l = { .sort = LIST_SORT_DEFAULT, .header = true };
	const struct cli_verb_options v = { "list", "iHh", long_opts, list_help, list_option, &l };
	struct cli_snapshot_args *a = &l.a;
	struct ts_snapshot *snap;
	bool incomplete;
	uint32_t *order;
	static char outbuf[1 << 20];
	int r;

	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	cli_snapshot_args_init(a);
	r = cli_snapshot_parse(a, &v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (cli_snapshot_args_check(a) < 0)
		return EXIT_USAGE;
	a->opts.want_info = a->json || a->info;

	if (cli_snapshot_take(a, &snap) < 0)
		return EXIT_ERROR;

	if (list_order(snap, l.sort, &order) < 0) {
		ts_snapshot_free(snap);
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	if (a->json)
		r = output_json_list(stdout, snap, true, order);
	else
		r = output_table_list(stdout, snap, a->opts.all_netns, l.header, order);
	free(order);
	incomplete = cli_snapshot_incomplete(snap);
	ts_snapshot_free(snap);
	if (fflush(stdout) != 0 || r < 0) {
		cli_error("cannot write the output");
		return EXIT_ERROR;
	}
	return incomplete ? EXIT_ERROR : EXIT_OK;
}
