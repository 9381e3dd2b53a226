/* SPDX-License-Identifier: MIT */
/* tcpstate top: a frame as lines of at most 80 columns (addresses aside). */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "tcpstate/procinfo.h"
#include "term_safe.h"
#include "top_render.h"

#define LINE_MAX_LEN 512

static void emitf(top_line_fn emit, void *ctx, enum top_attr attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void emitf(top_line_fn emit, void *ctx, enum top_attr attr, const char *fmt, ...)
{
	char line[LINE_MAX_LEN], safe[LINE_MAX_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(ctx, attr, term_safe(safe, sizeof(safe), line));
}

/* "+1.5", "-12", "0": a change per second in at most 6 columns. */
static const char *rate_text(char *buf, size_t size, bool have, double r)
{
	if (!have)
		snprintf(buf, size, "-");
	else if (r == 0)
		snprintf(buf, size, "0");
	else if (r > -100 && r < 100)
		snprintf(buf, size, "%+.1f", r);
	else if (r > -99999 && r < 99999)
		snprintf(buf, size, "%+.0f", r);
	else
		snprintf(buf, size, "%s", r > 0 ? "+99999" : "-99999");
	return buf;
}

/* "42s", "12m05s", "3h07m", "5d02h". */
static const char *duration_text(char *buf, size_t size, double s)
{
	uint64_t v = s < 0 ? 0 : (uint64_t)s;

	if (v < 60)
		snprintf(buf, size, "%llus", (unsigned long long)v);
	else if (v < 3600)
		snprintf(buf, size, "%llum%02llus", (unsigned long long)(v / 60),
			 (unsigned long long)(v % 60));
	else if (v < 86400)
		snprintf(buf, size, "%lluh%02llum", (unsigned long long)(v / 3600),
			 (unsigned long long)(v % 3600 / 60));
	else
		snprintf(buf, size, "%llud%02lluh", (unsigned long long)(v / 86400),
			 (unsigned long long)(v % 86400 / 3600));
	return buf;
}

static void render_states(const struct top_frame *f, top_line_fn emit, void *ctx)
{
	char line[LINE_MAX_LEN] = "", rate[16];
	size_t len = 0, cells = 0;
	uint32_t total = 0;

	emitf(emit, ctx, TOP_ATTR_HEADER, "%-12s%6s%7s  %-12s%6s%7s  %-12s%6s%7s", "STATE", "NOW",
	      "/s", "STATE", "NOW", "/s", "STATE", "NOW", "/s");
	for (unsigned i = 0; i <= TS_STATE_COUNT; i++) {
		enum ts_state st = i < TS_STATE_COUNT ? ts_state_lifecycle_order(i) : TS_STATE_UNKNOWN;
		bool have = f->interval_s > 0;

		if (st == TS_STATE_UNKNOWN && !f->counts[st])
			continue;
		total += f->counts[st];
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%-12s%6u%7s",
					cells % 3 ? "  " : "", ts_state_name(st), f->counts[st],
					rate_text(rate, sizeof(rate), have, f->rate_per_s[st]));
		if (++cells % 3 == 0) {
			emit(ctx, TOP_ATTR_NORMAL, line);
			len = 0;
			line[0] = '\0';
		}
	}
	snprintf(line + len, sizeof(line) - len, "%s%-12s%6u", cells % 3 ? "  " : "", "total", total);
	emit(ctx, TOP_ATTR_NORMAL, line);
}

static const char *fds_text(char *buf, size_t size, const struct top_row *r)
{
	if (!r->has_fds)
		snprintf(buf, size, "-");
	else if (r->fd_limit == TS_PROCINFO_UNLIMITED)
		snprintf(buf, size, "%u/unlim", r->fds);
	else
		snprintf(buf, size, "%u/%llu", r->fds, (unsigned long long)r->fd_limit);
	return buf;
}

static void render_processes(const struct top_frame *f, size_t max, top_line_fn emit, void *ctx)
{
	char rate[16], fds[48], eta[32];

	emitf(emit, ctx, TOP_ATTR_HEADER, "%7s %-15s %10s %6s %6s %7s %11s %8s", "PID", "COMMAND",
	      "CLOSE_WAIT", "OTHER", "TOTAL", "GROW/s", "FDS/LIMIT", "LIMIT_IN");
	for (size_t i = 0; i < f->n_rows && i < max; i++) {
		const struct top_row *r = &f->rows[i];

		emitf(emit, ctx, TOP_ATTR_NORMAL, "%7d %-15s %10u %6u %6u %7s %11s %8s", (int)r->pid,
		      r->comm, r->count[0], r->total - r->count[0], r->total,
		      rate_text(rate, sizeof(rate), r->has_growth, r->growth_per_s),
		      fds_text(fds, sizeof(fds), r),
		      r->has_eta ? duration_text(eta, sizeof(eta), r->seconds_to_limit) : "-");
	}
}

static void render_groups(const struct top_frame *f, size_t max, top_line_fn emit, void *ctx)
{
	char rate[16], key[80];

	emitf(emit, ctx, TOP_ATTR_HEADER, "%-16s %7s %7s %7s %6s %7s %6s %6s %7s",
	      f->view == TOP_VIEW_PORTS ? "PORT" : "NETNS", "C_WAIT", "FIN_W1", "FIN_W2", "L_ACK",
	      "CLOSING", "CLOSED", "TOTAL", "GROW/s");
	for (size_t i = 0; i < f->n_rows && i < max; i++) {
		const struct top_row *r = &f->rows[i];

		if (f->view == TOP_VIEW_PORTS) {
			snprintf(key, sizeof(key), "%s:%u", r->remote ? "to " : "", r->port);
		} else {
			const struct ts_netns *ns = ts_snapshot_netns(f->snap, r->netns_index);

			snprintf(key, sizeof(key), "%s", ns ? ns->name : "?");
		}
		emitf(emit, ctx, TOP_ATTR_NORMAL, "%-16s %7u %7u %7u %6u %7u %6u %6u %7s", key,
		      r->count[0], r->count[1], r->count[2], r->count[3], r->count[4], r->count[5],
		      r->total, rate_text(rate, sizeof(rate), r->has_growth, r->growth_per_s));
	}
}

/* 80 columns with IPv4 ends: the holder by pid (its command is in the table above). */
static void render_stuck(const struct top_frame *f, size_t max, top_line_fn emit, void *ctx)
{
	char idle[32], local[INET6_ADDRSTRLEN + 16], remote[INET6_ADDRSTRLEN + 16], who[16];

	emitf(emit, ctx, TOP_ATTR_HEADER, "%-11s %6s %-21s %-21s %8s", "STATE", "IDLE", "LOCAL",
	      "REMOTE", "PID");
	for (size_t i = 0; i < f->n_stuck && i < max; i++) {
		const struct top_stuck *t = &f->stuck[i];

		output_endpoint(local, sizeof(local), t->s->family, &t->s->local_addr,
				t->s->local_port, false);
		output_endpoint(remote, sizeof(remote), t->s->family, &t->s->remote_addr,
				t->s->remote_port, false);
		if (t->pid)
			snprintf(who, sizeof(who), "%d", (int)t->pid);
		else
			snprintf(who, sizeof(who), "orphan");
		emitf(emit, ctx, TOP_ATTR_NORMAL, "%-11s %6s %-21s %-21s %8s",
		      ts_state_name((enum ts_state)t->s->state),
		      duration_text(idle, sizeof(idle), (double)t->idle_ms / 1000.0), local, remote, who);
	}
}

static void render_findings(const struct top_frame *f, size_t max, top_line_fn emit, void *ctx)
{
	for (size_t i = 0; f->d && i < f->d->n_findings && i < max; i++) {
		const struct ts_finding *x = &f->d->findings[i];
		char comm[TS_COMM_LEN], who[48] = "";

		if (x->pid) {
			output_comm(comm, x->comm);
			snprintf(who, sizeof(who), " (%d/%s)", (int)x->pid, comm);
		}
		emitf(emit, ctx, x->severity == TS_SEVERITY_CRITICAL ? TOP_ATTR_ALERT : TOP_ATTR_NORMAL,
		      "%-8s %s%s", ts_severity_name(x->severity), x->title, who);
	}
}

/* How many of total rows to show in max lines: one line goes to "... N more". */
static size_t fit(size_t total, size_t max)
{
	if (total <= max)
		return total;
	return max > 1 ? max - 1 : 0;
}

static void more_line(size_t shown, size_t total, const char *what, top_line_fn emit, void *ctx)
{
	if (total > shown)
		emitf(emit, ctx, TOP_ATTR_NORMAL, "  ... %zu more %s", total - shown, what);
}

void top_render(const struct top_frame *f, const struct top_header *h,
		const struct top_limits *lim, top_line_fn emit, void *ctx)
{
	size_t n_findings = f->d ? f->d->n_findings : 0;
	size_t n_rows = fit(f->n_rows + f->rows_more, lim->rows);
	size_t n_stuck = fit(f->stuck_total, lim->stuck);
	size_t shown_findings = fit(n_findings, lim->findings);
	char when[16];
	struct tm tm;

	localtime_r(&h->now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	emitf(emit, ctx, TOP_ATTR_TITLE, "tcpstate top - %s  every %.1fs  %s  owners %s", when,
	      h->delay_s, h->where, !h->owners ? "none" : h->bpf_kept ? "bpf (kept)" : "proc");
	render_states(f, emit, ctx);
	emit(ctx, TOP_ATTR_NORMAL, "");
	if (f->view == TOP_VIEW_PROCESSES && !h->owners) {
		emitf(emit, ctx, TOP_ATTR_TITLE, "Processes holding closing sockets: unknown "
		      "(no owners)");
		emit(ctx, TOP_ATTR_NORMAL, "");
	} else {
		emitf(emit, ctx, TOP_ATTR_TITLE, "Closing sockets by %s (sort: %s)",
		      f->view == TOP_VIEW_PROCESSES ? "process" : f->view == TOP_VIEW_PORTS ? "port"
											  : "namespace",
		      top_sort_name(f->sort));
		if (f->view == TOP_VIEW_PROCESSES)
			render_processes(f, n_rows, emit, ctx);
		else
			render_groups(f, n_rows, emit, ctx);
		if (f->n_rows == 0)
			emit(ctx, TOP_ATTR_NORMAL, "  none");
		more_line(n_rows, f->n_rows + f->rows_more, "rows", emit, ctx);
	}
	emit(ctx, TOP_ATTR_NORMAL, "");
	emitf(emit, ctx, TOP_ATTR_TITLE, "Oldest stuck sockets (closing states, by idle time)");
	render_stuck(f, n_stuck, emit, ctx);
	if (f->stuck_total == 0)
		emit(ctx, TOP_ATTR_NORMAL, "  none");
	more_line(n_stuck, f->stuck_total, "closing sockets", emit, ctx);
	emit(ctx, TOP_ATTR_NORMAL, "");
	emitf(emit, ctx, TOP_ATTR_TITLE, "Doctor findings%s",
	      f->interval_s > 0 ? " (over the last refresh)" : "");
	render_findings(f, shown_findings, emit, ctx);
	if (n_findings == 0)
		emit(ctx, TOP_ATTR_NORMAL, "  none");
	more_line(shown_findings, n_findings, "findings: tcpstate doctor", emit, ctx);
}

void top_limits_for_screen(size_t lines, struct top_limits *ret)
{
	size_t rem = lines > TOP_FIXED_LINES ? lines - TOP_FIXED_LINES : 0;

	/* The processes first: they are what top is for. */
	ret->rows = rem / 2 > 1 ? rem / 2 : 1;
	ret->stuck = rem / 4 > 1 ? rem / 4 : 1;
	ret->findings = rem > ret->rows + ret->stuck + 1 ? rem - ret->rows - ret->stuck : 1;
}
