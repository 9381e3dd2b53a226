/* SPDX-License-Identifier: MIT */
/* The options shared by the verbs that select sockets, parsed into cli_snapshot_args. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "tcpstate/util.h"

const struct option cli_snapshot_long_options[] = {
	CLI_SNAPSHOT_LONG_OPTIONS,
	{ 0 },
};

void cli_snapshot_args_init(struct cli_snapshot_args *a)
{
	const char *second = getenv("TCPSTATE_TEST_BPF_SECOND_PASS");

	memset(a, 0, sizeof(*a));
	a->opts.filter = &a->filter;
	a->opts.backend = TS_BACKEND_AUTO;
	a->opts.owners = TS_OWNERS_AUTO;
	a->opts.test_bpf_second_pass_only = second && strcmp(second, "1") == 0;
}

/* Calls one() on each comma-separated token; -1 on the first bad token. */
static int each_token(const char *arg, const char *what,
		      int (*one)(struct cli_snapshot_args *, const char *), struct cli_snapshot_args *a)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	unsigned n = 0;
	int r = 0;

	if (!copy) {
		cli_error("out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save), n++)
		r = one(a, tok);
	if (r == 0 && n == 0) {
		cli_error("empty %s", what);
		r = -1;
	}
	free(copy);
	return r;
}

static int add_state(struct cli_snapshot_args *a, const char *tok)
{
	ts_state_mask_t m;

	if (ts_state_token_parse(tok, &m) < 0) {
		cli_error("unknown state '%s' (see 'tcpstate list --help')", tok);
		return -1;
	}
	a->filter.states |= m;
	return 0;
}

static int add_port_to(uint16_t *v, uint8_t *n, const char *tok)
{
	uint16_t port;

	int r = ts_parse_port_or_service(tok, &port);

	if (r == -ENOENT) {
		cli_error("no TCP service '%s' in the services database (/etc/services): give the "
			  "port number", tok);
		return -1;
	}
	if (r < 0) {
		cli_error("bad port '%s' (a number from 1 to 65535, or a service name such as http)",
			  tok);
		return -1;
	}
	if (*n >= TS_FILTER_MAX_PORTS) {
		cli_error("too many ports (at most %d per option)", TS_FILTER_MAX_PORTS);
		return -1;
	}
	v[(*n)++] = port;
	return 0;
}

static int add_port(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.ports, &a->filter.n_ports, tok);
}

static int add_sport(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.sports, &a->filter.n_sports, tok);
}

static int add_dport(struct cli_snapshot_args *a, const char *tok)
{
	return add_port_to(a->filter.dports, &a->filter.n_dports, tok);
}

static int add_addr(struct cli_snapshot_args *a, const char *tok)
{
	if (a->filter.n_addrs >= TS_FILTER_MAX_ADDRS) {
		cli_error("too many addresses (at most %d)", TS_FILTER_MAX_ADDRS);
		return -1;
	}
	if (ts_addr_match_parse(tok, &a->filter.addrs[a->filter.n_addrs]) < 0) {
		/* "-anp": ss's flags, where -a here takes an address. */
		if (tok[strspn(tok, "antlpuxeoimrs46HOZE")] == '\0')
			cli_error("bad address '%s': -a takes an address here (-a/--addr ADDR); "
				  "for ss's -anp: every state is listed by default, -p is --port "
				  "PORT, owners are always shown (-n/--no-owners skips them)", tok);
		else
			cli_error("bad address '%s' (IPv4 or IPv6, optionally /PREFIX)", tok);
		return -1;
	}
	a->filter.n_addrs++;
	return 0;
}

static int add_pid(struct cli_snapshot_args *a, const char *tok)
{
	pid_t pid;

	if (ts_parse_pid(tok, &pid) < 0) {
		cli_error("bad pid '%s'", tok);
		return -1;
	}
	if (a->filter.n_pids >= TS_FILTER_MAX_PIDS) {
		cli_error("too many pids (at most %d)", TS_FILTER_MAX_PIDS);
		return -1;
	}
	a->filter.pids[a->filter.n_pids++] = pid;
	return 0;
}

static int add_comm(struct cli_snapshot_args *a, const char *tok)
{
	if (strlen(tok) >= TS_COMM_LEN) {
		cli_error("command name '%s' is longer than the kernel keeps (%d characters)",
			  tok, TS_COMM_LEN - 1);
		return -1;
	}
	if (a->filter.n_comms >= TS_FILTER_MAX_COMMS) {
		cli_error("too many command names (at most %d)", TS_FILTER_MAX_COMMS);
		return -1;
	}
	snprintf(a->filter.comms[a->filter.n_comms++], TS_COMM_LEN, "%s", tok);
	return 0;
}

int cli_snapshot_option(struct cli_snapshot_args *a, int opt, const char *arg)
{
	int r;

	switch (opt) {
	case 's':
		r = each_token(arg, "state", add_state, a);
		break;
	case 'p':
		r = each_token(arg, "port", add_port, a);
		break;
	case CLI_OPT_SPORT:
		r = each_token(arg, "port", add_sport, a);
		break;
	case CLI_OPT_DPORT:
		r = each_token(arg, "port", add_dport, a);
		break;
	case 'a':
		r = each_token(arg, "address", add_addr, a);
		break;
	case 'P':
		r = each_token(arg, "pid", add_pid, a);
		break;
	case 'c':
		r = each_token(arg, "command name", add_comm, a);
		break;
	case 'N':
		a->opts.netns = arg;
		r = 0;
		break;
	case 'A':
		a->opts.all_netns = true;
		r = 0;
		break;
	case 'j':
		a->json = true;
		r = 0;
		break;
	case 'n':
		a->opts.owners = TS_OWNERS_NONE;
		r = 0;
		break;
	case CLI_OPT_OWNERS:
		if (strcmp(arg, "bpf") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_BPF;
		else if (strcmp(arg, "proc") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_PROC;
		else if (strcmp(arg, "auto") == 0)
			a->opts.owner_source = TS_OWNER_SOURCE_AUTO;
		else {
			cli_error("unknown owner source '%s' (bpf, proc or auto)", arg);
			return -1;
		}
		a->owners_explicit = true;
		r = 0;
		break;
	case 'v':
		a->verbose = true;
		r = 0;
		break;
	case CLI_OPT_BACKEND:
		if (strcmp(arg, "netlink") == 0)
			a->opts.backend = TS_BACKEND_NETLINK;
		else if (strcmp(arg, "procfs") == 0)
			a->opts.backend = TS_BACKEND_PROCFS;
		else if (strcmp(arg, "bpf") == 0)
			a->opts.backend = TS_BACKEND_BPF;
		else if (strcmp(arg, "auto") == 0)
			a->opts.backend = TS_BACKEND_AUTO;
		else {
			cli_error("unknown backend '%s' (netlink, procfs, bpf or auto)", arg);
			return -1;
		}
		r = 0;
		break;
	default:
		return 0;
	}
	return r < 0 ? -1 : 1;
}
