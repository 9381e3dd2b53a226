/* SPDX-License-Identifier: MIT */
/* tcpstate close: end the selected sockets by RST, FIN or closing the fd in its owner. */
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "output.h"
#include "term_safe.h"
#include "tcpstate/close.h"
#include "tcpstate/util.h"

#define EXIT_SKIPPED 4
#define EXIT_SIGNAL_BASE 128
#define PAUSE_ENV "TCPSTATE_CLOSE_PAUSE_FD"
#define PLAN_SHOWN_BEFORE_PROMPT 20

struct close_run {
	struct cli_snapshot_args a;
	struct ts_close_opts o;
	bool how_set, dry_run, yes;
	struct ts_close_plan *plan;
	const struct ts_snapshot *snap;
};

static void close_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate close [SELECTION] --how rst|fin|fd [--min-idle SECONDS]\n"
		"                      [--dry-run] [--yes] [--json]\n"
		"\n"
		"Ends the selected TCP sockets. Each is identified by family, both ends, inode\n"
		"and cookie, and that identity is checked again right before acting: a socket\n"
		"that closed meanwhile, or an fd number now used by something else, is skipped.\n"
		"\n"
		"Only abandoned sockets are touched: a selected socket is skipped as maybe in use\n"
		"unless tcp_info shows no data sent or received and no ACK from the peer for\n"
		"--min-idle seconds, nothing unread and nothing unacknowledged. A CLOSE_WAIT\n"
		"socket is not necessarily abandoned: a client that half-closes after its\n"
		"request (HTTP/1.0, nc -N) leaves it in CLOSE_WAIT while the program is\n"
		"still computing the answer; closing it loses that answer.\n"
		"\n"
		"  --how rst      SOCK_DESTROY through sock_diag: the kernel aborts the socket.\n"
		"                 In ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1/2 and SYN_RECEIVED the\n"
		"                 peer gets a RST; a holder's next call fails with ECONNABORTED,\n"
		"                 its fd stays open (a listener's accept() says EINVAL). TIME_WAIT\n"
		"                 and not-yet-accepted sockets are dropped without a packet: the\n"
		"                 only way to end them. Needs CAP_NET_ADMIN and a kernel with\n"
		"                 CONFIG_INET_DIAG_DESTROY.\n"
		"  --how fin      shutdown(SHUT_WR) on a copy of the owner's fd (pidfd_getfd):\n"
		"                 an orderly FIN; a CLOSE_WAIT socket goes through LAST_ACK and\n"
		"                 ends; the fd stays open in the program (ESTABLISHED and\n"
		"                 CLOSE_WAIT only). Prefer it: the program keeps its fd.\n"
		"  --how fd       makes the owner call close(fd) itself (ptrace): frees the fd.\n"
		"                 Each (pid, fd) holding the socket is closed; a socket shared\n"
		"                 with a holder that could not be closed stays open. Refused for\n"
		"                 a process already being traced, and when SO_LINGER is on and\n"
		"                 the peer has not acknowledged all the data sent (close() would\n"
		"                 block the process until it does). All its threads are stopped\n"
		"                 while close() runs; a close() still blocked after 5 s is\n"
		"                 interrupted (the fd is released), and the process is restored\n"
		"                 either way.\n"
		"                 Hazard: the program is not told. The kernel hands the freed fd\n"
		"                 NUMBER to its next socket or open file; if the program (or a\n"
		"                 connection pool's stale object) still uses the old number, its\n"
		"                 read/write/close hits that new socket or file: another client\n"
		"                 gets this one's data, or a later close() fails with EBADF.\n"
		"                 Use it only on fds the program will never touch again.\n"
		"  --min-idle S   act only on sockets idle for S seconds (default %u; 0 to\n"
		"                 %u). 0 turns the test off: sockets in use are hit\n"
		"                 too (a warning says so). Sockets whose idle time is unknown\n"
		"                 (LISTEN, SYN_SENT, SYN_RECEIVED, IDLE, BOUND, UNKNOWN, no\n"
		"                 tcp_info) are skipped unless S is 0; TIME_WAIT carries\n"
		"                 nothing and is never skipped for it.\n"
		"  --dry-run      print each socket, its holders and the method; change nothing\n"
		"  -y, --yes      do not ask (required when stdin is not a terminal)\n"
		"\n"
		"%s"
		"  -h, --help             this text\n"
		"\n"
		"LISTEN sockets are touched only when --state names LISTEN itself (not a group\n"
		"such as 'all'). --backend procfs is refused (no cookies to check identity).\n"
		"\n"
		"Output: one line per socket (done, skipped and why, failed and the errno), then\n"
		"a summary. --json: JSON Lines, one object per socket, then {\"summary\": ...}.\n"
		"\n"
		"SIGINT, SIGTERM, SIGHUP or SIGQUIT while acting: the socket at hand is\n"
		"finished (--how fd: a blocked close() is interrupted and the process restored\n"
		"first), the rest is skipped as not tried, the report printed, exit 128+signal.\n"
		"\n"
		"Exit status: 0 every selected socket was ended (or nothing matched), 1 a\n"
		"failure (or the confirmation was declined), 2 usage error, 4 something was\n"
		"skipped and nothing failed, 128+N stopped by signal N. --dry-run exits 0, or 4\n"
		"when some would be skipped.\n"
		"\n"
		"Testing aid: when the environment variable " PAUSE_ENV " names an\n"
		"open fd, close prints a line on stderr after listing and confirming, then\n"
		"blocks reading one byte from that fd before it acts (to make races repeatable).\n"
		"\n"
		"Examples:\n"
		"  tcpstate close --netns web --pid 1234 --state close-wait --how fin --dry-run\n"
		"  tcpstate close --sport 8080 --state close-wait --min-idle 600 --how fin --yes\n"
		"  tcpstate close --dport 5432 --state established --how rst --json --yes\n",
		TS_MIN_IDLE_DEFAULT_S, TS_MIN_IDLE_MAX_S, CLI_SNAPSHOT_HELP);
}

/* ---- describing ---- */

static const char *how_text(enum ts_close_how how)
{
	switch (how) {
	case TS_CLOSE_RST: return "rst (SOCK_DESTROY: the peer gets a RST)";
	case TS_CLOSE_FIN: return "fin (shutdown(SHUT_WR) on a copy of the fd: an orderly FIN)";
	case TS_CLOSE_FD: return "fd (close() inside the owner)";
	default: return "?";
	}
}

static void socket_text(const struct close_run *c, const struct ts_close_item *it, char *buf, size_t size)
{
	const struct ts_socket *s = it->s;
	char l[INET6_ADDRSTRLEN + 8], r[INET6_ADDRSTRLEN + 8];
	int n;

	output_endpoint(l, sizeof(l), s->family, &s->local_addr, s->local_port,
				(s->flags & TS_SOCK_V6ONLY) != 0);
	if (s->flags & TS_SOCK_REMOTE_VALID || s->remote_port)
		output_endpoint(r, sizeof(r), s->family, &s->remote_addr, s->remote_port, false);
	else
		snprintf(r, sizeof(r), "*");
	n = snprintf(buf, size, "%s %s -> %s inode %llu", ts_state_name((enum ts_state)s->state), l,
		     r, (unsigned long long)s->inode);
	if (c->a.opts.all_netns && it->ns && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " [netns %s]", TERM_SAFE(it->ns->name));
}

static void holders_text(const struct ts_close_item *it, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < it->n_holders && len < size; k++) {
		char comm[TS_COMM_LEN];

		output_comm(comm, it->holders[k].comm);
		len += (size_t)snprintf(buf + len, size - len, "%s%s/%d/fd %d", k ? ", " : "",
					comm, (int)it->holders[k].pid, it->holders[k].fd);
	}
}

static const char *errno_name(int err)
{
	const char *n = err ? strerrorname_np(err < 0 ? -err : err) : NULL;

	return n ? n : "?";
}

/* ---- the plan ---- */

static bool token_names_listen(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	bool found = false;

	if (!copy)
		return false;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		ts_state_mask_t m;

		if (ts_state_token_parse(tok, &m) == 0 && m == TS_STATE_BIT(TS_STATE_LISTEN))
			found = true;
	}
	free(copy);
	return found;
}

/* ---- output ---- */

/* What will be done to a planned socket, precisely. */
static void planned_text(const struct close_run *c, const struct ts_close_item *it, char *buf, size_t size)
{
	const char *verb = c->dry_run ? "would" : "will";

	switch (c->o.how) {
	case TS_CLOSE_RST:
		snprintf(buf, size, "%s send SOCK_DESTROY (cookie %llu): RST to the peer", verb,
			 (unsigned long long)it->s->cookie);
		break;
	case TS_CLOSE_FIN:
		snprintf(buf, size, "%s shutdown(SHUT_WR) a copy of pid %d fd %d: FIN to the peer", verb,
			 (int)it->holders[0].pid, it->holders[0].fd);
		break;
	case TS_CLOSE_FD:
		if (it->n_holders == 1)
			snprintf(buf, size, "%s close fd %d inside pid %d", verb, it->holders[0].fd,
				 (int)it->holders[0].pid);
		else
			snprintf(buf, size, "%s close each of its %zu fds inside its holders", verb,
				 it->n_holders);
		break;
	default:
		buf[0] = '\0';
	}
}

static void print_item(FILE *f, const struct close_run *c, const struct ts_close_item *it)
{
	char sock[256], hold[512], what[160];

	socket_text(c, it, sock, sizeof(sock));
	holders_text(it, hold, sizeof(hold));
	fprintf(f, "  %s", sock);
	if (it->n_holders)
		fprintf(f, " held by %s", hold);
	if (it->outcome == TS_CLOSE_PLANNED) {
		planned_text(c, it, what, sizeof(what));
		fprintf(f, ": %s\n", what);
	}
	else if (it->outcome == TS_CLOSE_FAILED && it->err)
		fprintf(f, ": %s (%s)\n", it->reason, errno_name(it->err));
	else
		fprintf(f, ": %s\n", it->reason);
	if (c->o.how == TS_CLOSE_FD && it->n_holders > 1 && it->outcome != TS_CLOSE_PLANNED)
		for (size_t k = 0; k < it->n_holders; k++)
			fprintf(f, "      pid %d fd %d: %s\n", (int)it->holders[k].pid, it->holders[k].fd,
				it->holders[k].detail ? it->holders[k].detail : "not tried");
}

static void print_group(FILE *f, const struct close_run *c, enum ts_close_outcome o, const char *title,
			size_t limit)
{
	size_t n = ts_close_plan_count(c->plan, o), shown = 0;

	if (!n)
		return;
	fprintf(f, "%s (%zu):\n", title, n);
	for (size_t i = 0; i < ts_close_plan_size(c->plan); i++) {
		const struct ts_close_item *it = ts_close_plan_item(c->plan, i);

		if (it->outcome != o)
			continue;
		if (limit && shown == limit) {
			fprintf(f, "  ... and %zu more\n", n - shown);
			break;
		}
		print_item(f, c, it);
		shown++;
	}
}

static void where_text(const struct close_run *c, char *buf, size_t size)
{
	const struct ts_netns *ns = ts_snapshot_netns(c->snap, 0);

	if (c->a.opts.all_netns)
		snprintf(buf, size, "in %zu network namespaces", ts_snapshot_netns_count(c->snap));
	else
		snprintf(buf, size, "in netns %s", ns ? TERM_SAFE(ns->name) : "?");
}

static void print_plan(FILE *f, const struct close_run *c, size_t limit)
{
	size_t n = ts_close_plan_size(c->plan);
	char where[128];

	where_text(c, where, sizeof(where));
	fprintf(f, "%zu socket%s selected %s; method %s\n", n, n == 1 ? "" : "s",
		where, how_text(c->o.how));
	if (c->o.min_idle_s)
		fprintf(f, "Only sockets idle for %u s or more are acted on (--min-idle): no data either "
			"way, nothing unread or unacknowledged.\n", c->o.min_idle_s);
	else
		fprintf(f, "--min-idle 0: sockets a program is still using are not spared.\n");
	print_group(f, c, TS_CLOSE_PLANNED, c->dry_run ? "Would act on" : "To act on", limit);
	print_group(f, c, TS_CLOSE_SKIPPED, c->dry_run ? "Would skip" : "Skipping", limit);
}

static void print_text_result(const struct close_run *c)
{
	char where[128];

	where_text(c, where, sizeof(where));
	print_group(stdout, c, TS_CLOSE_DONE, "Done", 0);
	print_group(stdout, c, TS_CLOSE_SKIPPED, "Skipped", 0);
	print_group(stdout, c, TS_CLOSE_FAILED, "Failed", 0);
	printf("Summary (--how %s, %s): %zu done, %zu skipped, %zu failed\n", ts_close_how_name(c->o.how),
	       where, ts_close_plan_count(c->plan, TS_CLOSE_DONE), ts_close_plan_count(c->plan, TS_CLOSE_SKIPPED),
	       ts_close_plan_count(c->plan, TS_CLOSE_FAILED));
}

static json_object *item_json(const struct close_run *c, const struct ts_close_item *it)
{
	const struct ts_socket *s = it->s;
	json_object *o = json_object_new_object(), *hs = json_object_new_array();
	char buf[INET6_ADDRSTRLEN];
	bool remote = s->flags & TS_SOCK_REMOTE_VALID || s->remote_port;

	json_object_object_add(o, "netns", it->ns ? json_object_new_string(it->ns->name) : NULL);
	json_object_object_add(o, "state", json_object_new_string(ts_state_name((enum ts_state)s->state)));
	json_object_object_add(o, "family", json_object_new_string(s->family == AF_INET6 ? "inet6" : "inet"));
	output_addr(buf, sizeof(buf), s->family, &s->local_addr);
	json_object_object_add(o, "local_addr", json_object_new_string(buf));
	json_object_object_add(o, "local_port", json_object_new_int(s->local_port));
	output_addr(buf, sizeof(buf), s->family, &s->remote_addr);
	json_object_object_add(o, "remote_addr", remote ? json_object_new_string(buf) : NULL);
	json_object_object_add(o, "remote_port", remote ? json_object_new_int(s->remote_port) : NULL);
	json_object_object_add(o, "inode", json_object_new_uint64(s->inode));
	json_object_object_add(o, "cookie", json_object_new_uint64(s->cookie));
	json_object_object_add(o, "how", json_object_new_string(ts_close_how_name(c->o.how)));
	json_object_object_add(o, "result", json_object_new_string(ts_close_outcome_name(it->outcome)));
	json_object_object_add(o, "reason", it->reason[0] ? json_object_new_string(it->reason) : NULL);
	json_object_object_add(o, "errno", it->err ? json_object_new_string(errno_name(it->err)) : NULL);
	json_object_object_add(o, "idle_ms", it->has_activity ? json_object_new_uint64(it->act.idle_ms) : NULL);
	for (size_t k = 0; k < it->n_holders; k++) {
		const struct ts_close_holder *h = &it->holders[k];
		json_object *e = json_object_new_object();
		bool tried = h->detail != NULL;

		json_object_object_add(e, "pid", json_object_new_int(h->pid));
		json_object_object_add(e, "fd", json_object_new_int(h->fd));
		json_object_object_add(e, "comm", json_object_new_string(h->comm));
		json_object_object_add(e, "result", tried ? json_object_new_string(ts_close_outcome_name(h->outcome)) : NULL);
		json_object_object_add(e, "errno", h->err ? json_object_new_string(errno_name(h->err)) : NULL);
		json_object_object_add(e, "detail", tried ? json_object_new_string(h->detail) : NULL);
		json_object_array_add(hs, e);
	}
	json_object_object_add(o, "holders", hs);
	return o;
}

static void print_json(const struct close_run *c, int exit_code)
{
	json_object *sum = json_object_new_object(), *root = json_object_new_object();

	for (size_t i = 0; i < ts_close_plan_size(c->plan); i++) {
		json_object *o = item_json(c, ts_close_plan_item(c->plan, i));

		term_safe_json_puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), stdout);
		json_object_put(o);
	}
	json_object_object_add(sum, "how", json_object_new_string(ts_close_how_name(c->o.how)));
	json_object_object_add(sum, "dry_run", json_object_new_boolean(c->dry_run));
	json_object_object_add(sum, "min_idle_s", json_object_new_uint64(c->o.min_idle_s));
	json_object_object_add(sum, "selected", json_object_new_uint64(ts_close_plan_size(c->plan)));
	json_object_object_add(sum, c->dry_run ? "planned" : "done",
			       json_object_new_uint64(ts_close_plan_count(c->plan, c->dry_run ? TS_CLOSE_PLANNED : TS_CLOSE_DONE)));
	json_object_object_add(sum, "skipped", json_object_new_uint64(ts_close_plan_count(c->plan, TS_CLOSE_SKIPPED)));
	json_object_object_add(sum, "failed", json_object_new_uint64(ts_close_plan_count(c->plan, TS_CLOSE_FAILED)));
	json_object_object_add(sum, "exit", json_object_new_int(exit_code));
	json_object_object_add(root, "summary", sum);
	term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	json_object_put(root);
}

static int exit_code(const struct close_run *c)
{
	if (ts_close_plan_count(c->plan, TS_CLOSE_FAILED))
		return EXIT_ERROR;
	if (ts_close_plan_count(c->plan, TS_CLOSE_SKIPPED))
		return EXIT_SKIPPED;
	return EXIT_OK;
}

/* Sockets left untried because a signal stopped us. */
static size_t not_tried(const struct close_run *c)
{
	size_t n = 0;

	for (size_t i = 0; i < ts_close_plan_size(c->plan); i++) {
		const struct ts_close_item *it = ts_close_plan_item(c->plan, i);

		n += it->outcome == TS_CLOSE_SKIPPED && it->err == -EINTR;
	}
	return n;
}

/* ---- asking, pausing ---- */

/* True when the user said yes on the terminal. */
static bool confirm(const struct close_run *c, size_t n)
{
	char line[64];

	print_plan(stderr, c, PLAN_SHOWN_BEFORE_PROMPT);
	if (c->o.how == TS_CLOSE_FD)
		fprintf(stderr, "Warning: --how fd closes each fd inside its program without telling it. "
			"The next socket or file the program opens gets the same fd number; if the program "
			"(or a pool's stale connection object) still uses the old number, it reads, writes "
			"or closes that new one: another client gets this one's data, or close() fails "
			"with EBADF. --how fin ends the connection and leaves the fd to the program.\n");
	fprintf(stderr, "End %zu socket%s with --how %s? [y/N] ", n, n == 1 ? "" : "s",
		ts_close_how_name(c->o.how));
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

/* The testing aid: block on one byte from the fd named in the environment. */
static void maybe_pause(size_t n)
{
	const char *v = getenv(PAUSE_ENV);
	uint32_t fd;
	char byte;
	ssize_t r;

	if (!v)
		return;
	if (ts_parse_u32(v, 0, INT32_MAX, &fd) < 0 || fcntl((int)fd, F_GETFD) < 0) {
		cli_warn("%s=%s is not an open fd: not pausing", PAUSE_ENV, v);
		return;
	}
	fprintf(stderr, "tcpstate: paused before acting on %zu socket%s (%s=%u)\n", n,
		n == 1 ? "" : "s", PAUSE_ENV, fd);
	fflush(stderr);
	do
		r = read((int)fd, &byte, 1);
	while (r < 0 && errno == EINTR);
}

/* ---- the verb ---- */

/* The verb's own options; the shared ones are in cli_snapshot.h. */
enum { OPT_HOW = CLI_OPT_VERB, OPT_DRY_RUN, OPT_MIN_IDLE };

static int close_option(void *ctx, int opt, const char *arg)
{
	struct close_run *c = ctx;

	switch (opt) {
	case 's':
		if (token_names_listen(arg))
			c->o.listen_named = true;
		return 0; /* and the shared option takes it */
	case OPT_HOW:
		if (ts_close_how_parse(arg, &c->o.how) < 0) {
			cli_error("unknown --how '%s' (rst, fin or fd)", arg);
			return -1;
		}
		c->how_set = true;
		return 1;
	case OPT_DRY_RUN:
		c->dry_run = true;
		return 1;
	case OPT_MIN_IDLE:
		if (ts_parse_u32(arg, 0, TS_MIN_IDLE_MAX_S, &c->o.min_idle_s) < 0) {
			cli_error("bad --min-idle '%s' (whole seconds, 0 to %u)", arg, TS_MIN_IDLE_MAX_S);
			return -1;
		}
		return 1;
	case 'y':
		c->yes = true;
		return 1;
	}
	return 0;
}

static int parse_args(struct close_run *c, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "how", required_argument, NULL, OPT_HOW },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "min-idle", required_argument, NULL, OPT_MIN_IDLE },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_options v = { "close", "yh", long_opts, close_help, close_option, c };
	int r = cli_snapshot_parse(&c->a, &v, argc, argv);

	if (r != CLI_PARSE_RUN)
		return r;
	if (!c->how_set) {
		cli_error("say how to close: --how rst, --how fin or --how fd (there is no default; "
			  "see 'tcpstate close --help')");
		return EXIT_USAGE;
	}
	if (cli_snapshot_args_check(&c->a) < 0)
		return EXIT_USAGE;
	if (c->a.opts.backend == TS_BACKEND_PROCFS) {
		cli_error("close needs sock_diag (socket cookies to check identity): "
			  "--backend procfs is refused");
		return EXIT_USAGE;
	}
	if (c->o.how != TS_CLOSE_RST && c->a.opts.owners == TS_OWNERS_NONE) {
		cli_error("--how %s acts through the fds that hold a socket: drop --no-owners",
			  ts_close_how_name(c->o.how));
		return EXIT_USAGE;
	}
	if (!c->dry_run && !c->yes && !isatty(STDIN_FILENO)) {
		cli_error("stdin is not a terminal: add --yes to act without asking "
			  "(or --dry-run to see what would be done)");
		return EXIT_USAGE;
	}
	if (c->o.min_idle_s == 0)
		cli_warn("--min-idle 0: sockets a program is still using are hit too: an answer it "
			 "is still computing is lost%s", c->o.how == TS_CLOSE_FD ?
			 ", and with --how fd the fd number it still uses goes to its next socket or "
			 "file (another client's data, EBADF)" : "");
	return CLI_PARSE_RUN;
}

/* Says once what the kernel's refusals of SOCK_DESTROY mean. */
static void explain_rst_errors(const struct close_run *c)
{
	bool eperm = false, eopnotsupp = false;

	if (c->o.how != TS_CLOSE_RST)
		return;
	for (size_t i = 0; i < ts_close_plan_size(c->plan); i++) {
		const struct ts_close_item *it = ts_close_plan_item(c->plan, i);

		if (it->outcome != TS_CLOSE_FAILED)
			continue;
		eperm |= it->err == -EPERM || it->err == -EACCES;
		eopnotsupp |= it->err == -EOPNOTSUPP;
	}
	if (eperm) {
		char hint[256];

		cli_error("SOCK_DESTROY was refused (EPERM): %s",
			  cli_privilege_hint("CAP_NET_ADMIN over the socket's network namespace",
					     cli_has_cap(CAP_NET_ADMIN), hint, sizeof(hint)));
	}
	if (eopnotsupp)
		cli_error("this kernel lacks CONFIG_INET_DIAG_DESTROY: --how rst cannot work here; "
			  "use --how fin or --how fd");
}

int cmd_close(int argc, char **argv)
{
	struct close_run c;
	struct ts_snapshot *snap = NULL;
	sigset_t stop, old;
	int r, code, sig = 0;

	memset(&c, 0, sizeof(c));
	cli_snapshot_args_init(&c.a);
	c.o.min_idle_s = TS_MIN_IDLE_DEFAULT_S;
	r = parse_args(&c, argc, argv);
	if (r >= 0)
		return r;
	c.a.opts.backend = TS_BACKEND_NETLINK;
	c.a.opts.want_info = c.o.min_idle_s > 0; /* the idle test reads tcp_info */
	c.o.netns = c.a.opts.netns;
	c.o.all_netns = c.a.opts.all_netns;

	if (cli_snapshot_take(&c.a, &snap) < 0)
		return EXIT_ERROR;
	c.snap = snap;
	r = ts_close_plan_build(snap, &c.o, &c.plan);
	if (r < 0) {
		cli_error("cannot plan: %s", strerror(-r));
		code = EXIT_ERROR;
		goto out;
	}

	if (c.dry_run) {
		code = exit_code(&c);
		if (c.a.json) {
			print_json(&c, code);
		} else {
			print_plan(stdout, &c, 0);
			printf("Dry run: nothing was changed.\n");
		}
		goto out;
	}

	if (ts_close_plan_count(c.plan, TS_CLOSE_PLANNED) > 0) {
		if (!c.yes && !confirm(&c, ts_close_plan_count(c.plan, TS_CLOSE_PLANNED))) {
			cli_error("not confirmed: nothing was done");
			code = EXIT_ERROR;
			goto out;
		}
		maybe_pause(ts_close_plan_count(c.plan, TS_CLOSE_PLANNED));
		/* A signal stops us between sockets, never inside --how fd's close */
		cli_stop_signals_block(&stop, &old);
		ts_close_plan_execute_until(c.plan, cli_stop_signal_pending, &stop);
		sig = cli_stop_signal_take(&stop);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	code = sig ? EXIT_SIGNAL_BASE + sig : exit_code(&c);
	if (c.a.json)
		print_json(&c, code);
	else if (ts_close_plan_size(c.plan) == 0)
		printf("No socket matches: nothing to do.\n");
	else
		print_text_result(&c);
	explain_rst_errors(&c);
	if (sig)
		cli_error("interrupted by SIG%s: stopped after the socket at hand%s; %zu not tried",
			  sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
			  c.o.how == TS_CLOSE_FD ? " (its process restored)" : "", not_tried(&c));
out:
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		code = EXIT_ERROR;
	}
	ts_close_plan_free(c.plan);
	ts_snapshot_free(snap);
	return code;
}
