/* SPDX-License-Identifier: MIT */
/*
 * tcpstate top: parse -> a collector (the BPF owner program kept loaded) ->
 * each refresh: snapshot, process facts, the doctor over the last two looks
 * -> a frame (top_model.c) -> the screen (ncurses) or a block on stdout
 * (--batch).
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <curses.h>
#include <linux/capability.h>

#include "cli.h"
#include "cli_diagnose.h"
#include "cli_snapshot.h"
#include "tcpstate/collector.h"
#include "tcpstate/util.h"
#include "top_model.h"
#include "top_render.h"

#define TOP_DELAY_DEFAULT_S 3.0
#define TOP_DELAY_MIN_S 0.1
#define TOP_DELAY_MAX_S 86400.0
#define TOP_HEAP_KEEP (256 << 20) /* bytes: larger allocations are still mapped */

enum {
	OPT_VIEW = CLI_OPT_VERB,
	OPT_SORT,
};

static void top_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate top [OPTIONS]\n"
		"\n"
		"A live view in the habits of top(1), refreshed every --delay seconds: the\n"
		"13 state counts with their change per second; closing sockets (CLOSE_WAIT,\n"
		"FIN_WAIT_1, FIN_WAIT_2, LAST_ACK, CLOSING, CLOSED) by holding process, port\n"
		"or namespace, with their growth per second, the process's open files and\n"
		"limit (FDS/LIMIT), and LIMIT_IN: the time until it reaches RLIMIT_NOFILE,\n"
		"from the doctor's leak rule (a leak between the last two refreshes); the\n"
		"closing sockets idle longest; and the doctor's findings over the last two\n"
		"looks (the first screen has no rates: it has one look). The BPF owner\n"
		"program stays loaded between refreshes: finding holders needs CAP_BPF and\n"
		"CAP_PERFMON, or CAP_SYS_ADMIN (without them top says so and exits 1; --owners\n"
		"proc walks /proc at every refresh instead). Works over ssh and in an 80x24\n"
		"terminal.\n"
		"\n"
		"Keys: q quit; p processes, o ports, n namespaces; w sort by CLOSE_WAIT,\n"
		"t by all closing states, g by growth; space refresh now.\n"
		"\n"
		"--json needs --batch: one JSON object per refresh, one a line (JSON Lines),\n"
		"with what a block shows (states, states_per_s, top_closing, stuck, findings).\n"
		"\n"
		"%s"
		"Top:\n"
		"  -d, --delay SECONDS    between refreshes (decimals allowed, %.1f to %.0f;\n"
		"                         default %.0f)\n"
		"  -b, --batch            no screen: one block per refresh on stdout, blocks\n"
		"                         separated by an empty line (as top -b)\n"
		"  -n, --iterations N     stop after N refreshes (default: until q, Ctrl-C);\n"
		"                         --no-owners has no short form in top\n"
		"      --view V           processes (default), ports or netns\n"
		"      --sort K           close-wait (default), total or growth\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error (no privilege for the BPF owner program, not\n"
		"a terminal without --batch), 2 usage error (--json without --batch).\n"
		"\n"
		"Examples:\n"
		"  tcpstate top\n"
		"  tcpstate top --all-netns -d 1 --view ports\n"
		"  tcpstate top --batch -n 2 -d 5\n"
		"  tcpstate top --batch --json -n 10 -d 1 | jq .states.CLOSE_WAIT\n",
		CLI_SNAPSHOT_HELP, TOP_DELAY_MIN_S, TOP_DELAY_MAX_S, TOP_DELAY_DEFAULT_S);
}

struct top_args {
	struct cli_snapshot_args a;
	double delay_s;
	bool batch;
	uint64_t iterations; /* 0: no end */
	enum top_view view;
	enum top_sort sort;
};

static int top_option(void *ctx, int opt, const char *arg)
{
	struct top_args *t = ctx;
	char *end;

	switch (opt) {
	case 'd':
		errno = 0;
		t->delay_s = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(t->delay_s) ||
		    t->delay_s < TOP_DELAY_MIN_S || t->delay_s > TOP_DELAY_MAX_S) {
			cli_error("bad --delay '%s' (seconds, %.1f to %.0f)", arg, TOP_DELAY_MIN_S,
				  TOP_DELAY_MAX_S);
			return -1;
		}
		return 1;
	case 'b':
		t->batch = true;
		return 1;
	case 'n':
		if (!arg)
			return 0; /* --no-owners: the shared option */
		if (ts_parse_u64(arg, 1, UINT32_MAX, &t->iterations) < 0) {
			cli_error("bad --iterations '%s' (a number from 1 to %u)", arg, UINT32_MAX);
			return -1;
		}
		return 1;
	case OPT_VIEW:
		if (top_view_parse(arg, &t->view) < 0) {
			cli_error("bad --view '%s' (processes, ports or netns)", arg);
			return -1;
		}
		return 1;
	case OPT_SORT:
		if (top_sort_parse(arg, &t->sort) < 0) {
			cli_error("bad --sort '%s' (close-wait, total or growth)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

static int top_parse(struct top_args *t, int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const struct cli_verb_options v = { "top", "d:bn:h", long_opts, top_help, top_option, t };
	int r;

	*t = (struct top_args){ .delay_s = TOP_DELAY_DEFAULT_S };
	cli_snapshot_args_init(&t->a);
	r = cli_snapshot_parse(&t->a, &v, argc, argv);
	if (r != CLI_PARSE_RUN)
		return r;
	if (t->a.json && !t->batch) {
		cli_error("--json needs --batch (-b): the screen has no JSON; 'top --batch --json' "
			  "writes one JSON object per refresh");
		return EXIT_USAGE;
	}
	if (cli_snapshot_args_check(&t->a) < 0)
		return EXIT_USAGE;
	t->a.opts.want_info = true; /* idle times and the doctor's ages come from tcp_info */
	if (t->a.opts.owners == TS_OWNERS_AUTO)
		t->a.opts.owners = TS_OWNERS_PROC;
	return CLI_PARSE_RUN;
}

/* One look and what the doctor reads beside it. */
struct top_look {
	struct ts_snapshot *snap;
	double at_s; /* CLOCK_MONOTONIC */
	struct ts_diagnose_procs procs;
	struct ts_diagnose_sysctls *sysctls;
	struct ts_netstat *netstat;
	size_t n_sysctls;
	struct ts_listener_facts listeners;
};

/* Frees a look; its snapshot's arrays go back to c for a later refresh. */
static void look_clear(struct top_look *l, struct ts_collector *c)
{
	ts_listener_facts_clear(&l->listeners);
	free(l->sysctls);
	free(l->netstat);
	ts_diagnose_procs_clear(&l->procs);
	ts_collector_recycle(c, l->snap);
	memset(l, 0, sizeof(*l));
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct top_run {
	struct top_args *t;
	struct ts_collector *c;
	struct top_look cur, prev;
	struct ts_diagnosis *d;
	struct top_memo *memo;     /* the last frame's rows and counts, for the next one */
	unsigned refreshes;
	char where[128];
};

/* A new look; the one before becomes prev. 0, or -1 (reported). */
static int look_again(struct top_run *run)
{
	struct cli_snapshot_args *a = &run->t->a;
	struct ts_snapshot_status st;
	struct top_look l = { 0 };
	int r;

	r = ts_collector_take(run->c, &l.snap, &st);
	if (r < 0) {
		cli_snapshot_report_failure(a, r, &st);
		return -1;
	}
	l.at_s = mono_s();
	r = ts_diagnose_procs_collect(l.snap, a->opts.proc_root, &l.procs);
	if (r == 0)
		r = cli_diagnose_netns_facts(a, l.snap, &l.sysctls, &l.netstat, &l.n_sysctls);
	if (r == 0)
		r = ts_listener_facts_collect(l.snap, &l.listeners);
	if (r < 0) {
		cli_error("cannot read process facts, settings or listeners: %s", strerror(-r));
		look_clear(&l, run->c);
		return -1;
	}
	look_clear(&run->prev, run->c);
	run->prev = run->cur;
	run->cur = l;
	run->refreshes++;

	/* The doctor over the last two looks (one, the first time): its leak rule gives
	 * the growth and the time to RLIMIT_NOFILE. */
	run->d = ts_diagnosis_free(run->d);
	{
		const struct top_look *first = run->prev.snap ? &run->prev : &run->cur;
		const struct top_look *later = run->prev.snap ? &run->cur : NULL;

		r = ts_diagnose(&(struct ts_diagnose_input){
					.snap = first->snap, .procs = &first->procs,
					.sysctls = first->sysctls, .n_sysctls = first->n_sysctls,
					.netstat = first->netstat, .n_netstat = first->n_sysctls,
					.listeners = &first->listeners,
					.later = later ? later->snap : NULL,
					.procs_later = later ? &later->procs : NULL,
					.interval_s = later ? later->at_s - first->at_s : 0 },
				&run->d);
	}
	if (r < 0) {
		cli_error("cannot diagnose: %s", strerror(-r));
		return -1;
	}
	return 0;
}

static int frame_build(const struct top_run *run, struct top_frame *f)
{
	return top_frame_build(&(struct top_input){
				       .snap = run->cur.snap,
				       .prev = run->prev.snap,
				       .memo = run->memo,
				       .snap_id = run->refreshes,
				       .prev_id = run->refreshes - 1,
				       .interval_s = run->prev.snap ? run->cur.at_s - run->prev.at_s : 0,
				       .procs = &run->cur.procs,
				       .d = run->d,
				       .view = run->t->view,
				       .sort = run->t->sort },
			       f);
}

static void header_fill(const struct top_run *run, struct top_header *h)
{
	const struct ts_snapshot_stats *st = ts_snapshot_stats(run->cur.snap);

	*h = (struct top_header){
		.now = time(NULL),
		.delay_s = run->t->delay_s,
		.where = run->where,
		.owners = st->owners_scanned,
		.bpf_kept = st->owners_scanned && st->owner_source == TS_OWNER_SOURCE_BPF &&
			    ts_collector_keeps_bpf(run->c),
		.sockets = cli_socket_source_name(st),
		.refresh = run->refreshes,
	};
}

/* ---- batch ---- */

static void batch_line(void *ctx, enum top_attr attr, const char *line)
{
	(void)attr;
	fputs(line, ctx);
	fputc('\n', ctx);
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (!cli_stop_signal && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int run_batch(struct top_run *run)
{
	const struct top_limits all = { SIZE_MAX, SIZE_MAX, SIZE_MAX };

	for (;;) {
		struct top_frame f;
		struct top_header h;

		if (frame_build(run, &f) < 0) {
			cli_error("out of memory");
			return EXIT_ERROR;
		}
		header_fill(run, &h);
		if (run->t->a.json) {
			top_render_json(&f, &h, stdout);
		} else {
			if (run->refreshes > 1)
				putchar('\n');
			top_render(&f, &h, &all, batch_line, stdout);
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			cli_error("cannot write the output");
			return EXIT_ERROR;
		}
		if (run->t->iterations && run->refreshes >= run->t->iterations)
			return EXIT_OK;
		sleep_s(run->t->delay_s);
		if (cli_stop_signal)
			return EXIT_OK;
		if (look_again(run) < 0)
			return EXIT_ERROR;
	}
}

/* ---- screen ---- */

struct screen {
	int row;
	int rows, cols;
};

static void screen_line(void *ctx, enum top_attr attr, const char *line)
{
	struct screen *s = ctx;
	attr_t a = attr == TOP_ATTR_TITLE ? A_BOLD : attr == TOP_ATTR_HEADER ? A_REVERSE
						   : attr == TOP_ATTR_ALERT ? A_BOLD : A_NORMAL;

	if (s->row >= s->rows - 1)
		return; /* the last line is the keys' */
	attrset(a);
	mvaddnstr(s->row++, 0, line, s->cols);
	attrset(A_NORMAL);
}

static int draw(const struct top_run *run)
{
	struct screen s = { 0 };
	struct top_limits lim;
	struct top_frame f;
	struct top_header h;

	if (frame_build(run, &f) < 0)
		return -1;
	header_fill(run, &h);
	getmaxyx(stdscr, s.rows, s.cols);
	top_limits_for_screen((size_t)(s.rows > 0 ? s.rows : 0), &lim);
	erase();
	top_render(&f, &h, &lim, screen_line, &s);
	attrset(A_REVERSE);
	mvaddnstr(s.rows - 1, 0, "q quit  p/o/n processes/ports/netns  w/t/g sort  space refresh",
		  s.cols > 1 ? s.cols - 1 : 0);
	attrset(A_NORMAL);
	refresh();
	return 0;
}

/* A key: 1 redraw, 2 refresh now, 0 nothing, -1 quit. */
static int key_handle(struct top_args *t, int ch)
{
	switch (ch) {
	case 'q': case 'Q': return -1;
	case 'p': t->view = TOP_VIEW_PROCESSES; return 1;
	case 'o': t->view = TOP_VIEW_PORTS; return 1;
	case 'n': t->view = TOP_VIEW_NETNS; return 1;
	case 'w': t->sort = TOP_SORT_CLOSE_WAIT; return 1;
	case 't': t->sort = TOP_SORT_TOTAL; return 1;
	case 'g': t->sort = TOP_SORT_GROWTH; return 1;
	case ' ': return 2;
	case KEY_RESIZE: return 1;
	}
	return 0;
}

/*
 * While the screen is up, stderr goes to a memory file: a message written
 * then (a refresh that failed) would be drawn over and wiped. Shown after.
 */
static int stderr_hold(int *ret_saved)
{
	int mem = memfd_create("tcpstate-top-stderr", MFD_CLOEXEC), saved;

	if (mem < 0)
		return -errno;
	saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (saved < 0 || dup2(mem, STDERR_FILENO) < 0) {
		int r = -errno;

		if (saved >= 0)
			close(saved);
		close(mem);
		return r;
	}
	close(mem);
	*ret_saved = saved;
	return 0;
}

static void stderr_release(int saved)
{
	char buf[4096];
	off_t off = 0;
	ssize_t n;

	fflush(stderr);
	while ((n = pread(STDERR_FILENO, buf, sizeof(buf), off)) > 0) {
		off += n;
		if (write(saved, buf, (size_t)n) != n)
			break;
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int run_screen(struct top_run *run)
{
	SCREEN *scr = newterm(NULL, stdout, stdin);
	int rc = EXIT_OK, saved = -1;

	if (!scr) {
		cli_error("cannot drive this terminal (TERM=%s): use --batch",
			  getenv("TERM") ? getenv("TERM") : "(unset)");
		return EXIT_ERROR;
	}
	if (stderr_hold(&saved) < 0)
		saved = -1; /* messages then go to the screen: still said */
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);
	for (;;) {
		double next = run->cur.at_s + run->t->delay_s;
		bool again = false;

		if (draw(run) < 0) {
			rc = -1;
			break;
		}
		if (run->t->iterations && run->refreshes >= run->t->iterations)
			break;
		while (!cli_stop_signal && !again) {
			double left = next - mono_s();
			int ch, k;

			if (left <= 0)
				break;
			timeout((int)(left * 1000) + 1);
			ch = getch();
			if (ch == ERR)
				continue;
			k = key_handle(run->t, ch);
			if (k < 0)
				goto out;
			if (k == 2)
				again = true;
			else if (k == 1 && draw(run) < 0)
				goto out;
		}
		if (cli_stop_signal)
			break;
		if (look_again(run) < 0) {
			rc = EXIT_ERROR;
			break;
		}
	}
out:
	endwin();
	delscreen(scr);
	if (saved >= 0)
		stderr_release(saved);
	if (rc < 0) {
		cli_error("out of memory");
		rc = EXIT_ERROR;
	}
	return rc;
}

/* ---- start ---- */

static void where_text(const struct top_run *run, char *buf, size_t size)
{
	const struct ts_snapshot *snap = run->cur.snap;
	const struct ts_netns *ns = ts_snapshot_netns(snap, 0);

	if (run->t->a.opts.all_netns)
		snprintf(buf, size, "all netns (%zu)", ts_snapshot_netns_count(snap));
	else
		snprintf(buf, size, "netns %.64s", ns ? ns->name : "?");
}

/* The holders need the kept program: without its privilege, say so and stop. */
static bool bpf_denied(const struct top_run *run)
{
	const struct ts_snapshot_stats *st = ts_snapshot_stats(run->cur.snap);
	bool have = cli_has_bpf_caps();
	char hint[256];

	/* Without the capabilities any failure of the load is theirs (the
	 * loader's first step may fail otherwise, as on an unreadable /dev/null). */
	if (st->bpf.failure != TS_BPF_FAILURE_PRIVILEGE &&
	    (have || st->bpf.failure == TS_BPF_FAILURE_NONE ||
	     st->bpf.failure == TS_BPF_FAILURE_NOT_BUILT || st->bpf.failure == TS_BPF_FAILURE_KERNEL))
		return false;
	cli_error("top keeps a BPF program loaded to find the sockets' holders at every "
		  "refresh, which is not permitted (%s): %s, or use --owners proc (a /proc walk "
		  "at every refresh)", strerror(st->bpf.err),
		  cli_privilege_hint("CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN", have, hint,
				     sizeof(hint)));
	return true;
}

int cmd_top(int argc, char **argv)
{
	struct top_args t;
	struct top_run run = { .t = &t };
	struct ts_snapshot_status st;
	int rc = top_parse(&t, argc, argv), r;

	if (rc != CLI_PARSE_RUN)
		return rc;
	if (!t.batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		cli_error("top needs a terminal on stdin and stdout; use --batch (-b) for one "
			  "block per refresh on stdout");
		return EXIT_ERROR;
	}
	/* Every refresh allocates what the one before freed (a snapshot, the doctor's
	 * arrays): kept in the heap instead of mapped and unmapped each time, their pages
	 * are not faulted in and zeroed again (with the collector's sized snapshots, page
	 * faults per refresh at 100k sockets went from ~230 to ~20). */
	mallopt(M_MMAP_THRESHOLD, TOP_HEAP_KEEP);
	mallopt(M_TRIM_THRESHOLD, TOP_HEAP_KEEP);
	run.memo = top_memo_new();
	if (!run.memo) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	r = ts_collector_new(&t.a.opts, &run.c, &st);
	if (r < 0) {
		cli_snapshot_report_failure(&t.a, r, &st);
		top_memo_free(run.memo);
		return EXIT_ERROR;
	}
	cli_stop_on_signals();
	rc = EXIT_ERROR;
	if (look_again(&run) < 0)
		goto out;
	if (bpf_denied(&run))
		goto out;
	/* Notes once, before the screen takes the terminal. */
	cli_snapshot_report_notes(&t.a, run.cur.snap);
	where_text(&run, run.where, sizeof(run.where));
	rc = t.batch ? run_batch(&run) : run_screen(&run);
out:
	ts_diagnosis_free(run.d);
	look_clear(&run.cur, run.c);
	look_clear(&run.prev, run.c);
	ts_collector_free(run.c);
	top_memo_free(run.memo);
	return rc;
}
