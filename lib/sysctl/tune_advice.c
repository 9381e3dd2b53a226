/* SPDX-License-Identifier: MIT */
/* The tuning advice of `tcpstate tune`: the TCP sysctls against what a snapshot shows. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysctl/sysctl_internal.h"
#include "tcpstate/socket_facts.h"

const char *ts_tune_action_name(enum ts_tune_action a)
{
	switch (a) {
	case TS_TUNE_KEEP:
		return "keep";
	case TS_TUNE_CHANGE:
		return "change";
	case TS_TUNE_CONSIDER:
		return "consider";
	case TS_TUNE_UNAVAILABLE:
		return "unavailable";
	}
	return "?";
}

struct tw_key {
	struct in6_addr addr;
	uint16_t port;
	uint8_t family;
};

static int tw_key_cmp(const void *a, const void *b)
{
	const struct tw_key *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (int)x->family - (int)y->family;
}

int ts_tune_observe(const struct ts_snapshot *snap, uint32_t port_lo, uint32_t port_hi,
		    int64_t somaxconn, struct ts_tune_observed *ret)
{
	size_t n = ts_snapshot_socket_count(snap), n_tw = 0;
	struct ts_tune_observed o;
	uint8_t *listening = calloc(65536 / 8, 1);
	unsigned *syn = calloc(65536, sizeof(*syn));
	struct tw_key *tw = NULL;

	memset(&o, 0, sizeof(o));
	if (!listening || !syn)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (s->state == TS_STATE_LISTEN)
			listening[s->local_port / 8] |= (uint8_t)(1u << (s->local_port % 8));
		else if (s->state == TS_STATE_TIME_WAIT)
			n_tw++;
	}
	if (n_tw) {
		tw = malloc(n_tw * sizeof(*tw));
		if (!tw)
			goto oom;
	}
	n_tw = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		bool orphan = ts_socket_is_orphan(s);

		if (s->state < _TS_STATE_MAX)
			o.count[s->state]++;

		switch (s->state) {
		case TS_STATE_FIN_WAIT_2:
			if (orphan)
				o.fin_wait_2_orphans++;
			if (ts_socket_in_tw_bucket(s))
				o.fin_wait_2_in_tw++;
			break;
		case TS_STATE_FIN_WAIT_1:
		case TS_STATE_LAST_ACK:
		case TS_STATE_CLOSING:
			if (orphan)
				o.closing_orphans++;
			else
				o.closing_held++;
			break;
		case TS_STATE_TIME_WAIT:
			if (s->local_port >= port_lo && s->local_port <= port_hi &&
			    !(listening[s->local_port / 8] & (1u << (s->local_port % 8)))) {
				tw[n_tw] = (struct tw_key){ s->remote_addr, s->remote_port, s->family };
				n_tw++;
			}
			break;
		case TS_STATE_LISTEN:
			/* The kernel drops when the queue holds more than the backlog. */
			if (ts_listener_queue_full(s)) {
				o.listen_full++;
				o.listen_full_port = s->local_port;
				if (somaxconn > 0 && (int64_t)s->send_q >= somaxconn)
					o.listen_at_somaxconn++;
			}
			break;
		case TS_STATE_SYN_RECEIVED:
			syn[s->local_port]++;
			break;
		default:
			break;
		}
	}
	o.tw_outgoing = (unsigned)n_tw;
	if (n_tw) {
		qsort(tw, n_tw, sizeof(*tw), tw_key_cmp);
		for (size_t i = 0, run = 1; i < n_tw; i++, run++) {
			if (i + 1 < n_tw && tw_key_cmp(&tw[i], &tw[i + 1]) == 0)
				continue;
			if (run > o.tw_top_count) {
				o.tw_top_count = (unsigned)run;
				o.tw_top_addr = tw[i].addr;
				o.tw_top_port = tw[i].port;
				o.tw_top_family = tw[i].family;
			}
			run = 0;
		}
	}
	for (unsigned p = 0; p < 65536; p++)
		if (syn[p] > o.syn_recv_top) {
			o.syn_recv_top = syn[p];
			o.syn_recv_top_port = (uint16_t)p;
		}
	free(tw);
	free(syn);
	free(listening);
	*ret = o;
	return 0;
oom:
	free(tw);
	free(syn);
	free(listening);
	return -ENOMEM;
}

static void set_reason(struct ts_tune_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(struct ts_tune_row *row, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(row->reason, sizeof(row->reason), fmt, ap);
	va_end(ap);
}

static void recommend(struct ts_tune_row *row, enum ts_tune_action a, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void recommend(struct ts_tune_row *row, enum ts_tune_action a, const char *fmt, ...)
{
	va_list ap;

	row->action = a;
	va_start(ap, fmt);
	vsnprintf(row->recommended, sizeof(row->recommended), fmt, ap);
	va_end(ap);
}

static bool row_int(const struct ts_tune_row *row, int64_t *v)
{
	return row->action != TS_TUNE_UNAVAILABLE && sysctl_parse_i64(row->current, v) == 0;
}

/* What an advisor sees: every row (some advice weighs two settings) and the snapshot. */
struct advice_ctx {
	struct ts_tune_row *rows;
	size_t n;
	const struct ts_tune_observed *o;
};

static const struct ts_tune_row *row_of(const struct advice_ctx *c, enum ts_sysctl_id id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].info->id == id)
			return &c->rows[i];
	return NULL;
}

static int64_t cur_int(const struct advice_ctx *c, enum ts_sysctl_id id, int64_t dflt)
{
	const struct ts_tune_row *row = row_of(c, id);
	int64_t v;

	return row && row_int(row, &v) ? v : dflt;
}

/*
 * One setting's advice: sets row's action, recommended value and reason.
 * have: the current value is one integer, v.
 */
typedef void advisor(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c);

static void advise_nothing(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	(void)have, (void)v, (void)c;
	set_reason(row, "nothing observed that it would change");
}

static void advise_fin_timeout(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;

	if (o->fin_wait_2_orphans >= TS_TUNE_MANY_ORPHANS && have && v > 30) {
		recommend(row, TS_TUNE_CHANGE, "30");
		set_reason(row, "%u orphaned FIN_WAIT_2 sockets (closed by their program, the "
			   "peer has not sent its FIN) each last tcp_fin_timeout; 30 s "
			   "halves that. It does not touch CLOSE_WAIT.", o->fin_wait_2_orphans);
	} else {
		set_reason(row, "%u orphaned FIN_WAIT_2 socket%s: nothing to shorten%s",
			   o->fin_wait_2_orphans, o->fin_wait_2_orphans == 1 ? "" : "s",
			   o->count[TS_STATE_CLOSE_WAIT] ? "; CLOSE_WAIT is not governed by it" : "");
	}
}

static void advise_max_tw_buckets(struct ts_tune_row *row, bool have, int64_t v,
				  const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;
	unsigned tw = o->count[TS_STATE_TIME_WAIT];
	/* Orphaned FIN_WAIT_2 kept as TIME_WAIT records count against the buckets too. */
	unsigned buckets = tw + o->fin_wait_2_in_tw;

	if (have && v > 0 && (int64_t)buckets * 4 >= v * 3) {
		int64_t nv = v * 2 > (int64_t)buckets * 2 ? v * 2 : (int64_t)buckets * 2;

		recommend(row, TS_TUNE_CHANGE, "%" PRId64, nv > INT_MAX ? INT_MAX : nv);
		set_reason(row, "%u TIME_WAIT records (with orphaned FIN_WAIT_2 kept as such), near the limit "
			   "of %" PRId64 ": beyond it new ones are destroyed at once ('time wait "
			   "bucket table overflow')", buckets, v);
	} else {
		set_reason(row, "%u TIME_WAIT sockets, well below the limit", tw);
	}
}

/* ip_local_port_range and tcp_tw_reuse: outgoing TIME_WAIT using up the ephemeral ports. */
static void advise_ports(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;
	bool reuse = row->info->id == TS_SYSCTL_TCP_TW_REUSE;
	const struct ts_tune_row *pr = reuse ? row_of(c, TS_SYSCTL_IP_LOCAL_PORT_RANGE) : row;
	int64_t f[2];
	size_t nf = 0;
	int64_t range = 28232;
	bool busy;

	if (pr && sysctl_parse_fields(pr->current, f, 2, &nf) == 0 && nf == 2 && f[1] >= f[0])
		range = f[1] - f[0] + 1;
	busy = o->tw_top_count >= 32 && (int64_t)o->tw_top_count * 2 >= range;
	if (!busy) {
		set_reason(row, "%u outgoing TIME_WAIT sockets, at most %u to one destination, "
			   "of %" PRId64 " ephemeral ports", o->tw_outgoing, o->tw_top_count, range);
	} else if (reuse) {
		if (have && v != 1) {
			recommend(row, TS_TUNE_CHANGE, "1");
			set_reason(row, "%u TIME_WAIT sockets to one destination use up %u%% of the "
				   "%" PRId64 " ephemeral ports: 1 lets connect() reuse a TIME_WAIT "
				   "port (timestamps keep it safe). Only outgoing connections are "
				   "affected.", o->tw_top_count,
				   (unsigned)(o->tw_top_count * 100 / range), range);
		} else {
			set_reason(row, "already 1; reuse connections (keep-alive, pooling) to "
				   "make fewer TIME_WAIT");
		}
	} else if (nf == 2 && (f[0] > 10000 || f[1] < 65535)) {
		recommend(row, TS_TUNE_CHANGE, "10000 65535");
		set_reason(row, "%u TIME_WAIT sockets to one destination use up %u%% of the "
			   "%" PRId64 " ephemeral ports: widen the range (for outgoing "
			   "connections; keep the ports your servers listen on out of it)",
			   o->tw_top_count, (unsigned)(o->tw_top_count * 100 / range), range);
	} else {
		set_reason(row, "already wide; reuse connections (keep-alive, pooling) instead");
	}
}

static void advise_orphan_retries(struct ts_tune_row *row, bool have, int64_t v,
				  const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;
	int64_t eff = have && v == 0 ? 8 : v;

	if (o->closing_orphans >= TS_TUNE_MANY_ORPHANS && have && eff > 3) {
		recommend(row, TS_TUNE_CHANGE, "3");
		set_reason(row, "%u orphaned FIN_WAIT_1/LAST_ACK/CLOSING sockets wait out %" PRId64
			   " retransmissions to a peer that does not answer; 3 ends them sooner "
			   "(orphans only)", o->closing_orphans, eff);
	} else {
		set_reason(row, "%u orphaned FIN_WAIT_1/LAST_ACK/CLOSING sockets", o->closing_orphans);
	}
}

static void advise_retries2(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;

	if (o->closing_held >= TS_TUNE_MANY_HELD_CLOSING && have && v > 8) {
		recommend(row, TS_TUNE_CONSIDER, "8");
		set_reason(row, "%u FIN_WAIT_1/LAST_ACK/CLOSING sockets still held by programs "
			   "wait out tcp_retries2 (%" PRId64 "); 8 (~100 s) ends them sooner but "
			   "also drops ESTABLISHED connections sooner when a peer is unreachable: "
			   "with care, not applied by tcpstate", o->closing_held, v);
	} else {
		set_reason(row, "%u held FIN_WAIT_1/LAST_ACK/CLOSING sockets", o->closing_held);
	}
}

static void advise_max_orphans(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	/* Linux counts orphans that are still full sockets, not TIME_WAIT records
	 * (ts_socket_counts_as_orphan()). */
	unsigned orphans = c->o->fin_wait_2_orphans - c->o->fin_wait_2_in_tw + c->o->closing_orphans;

	if (have && v > 0 && (int64_t)orphans * 2 >= v) {
		recommend(row, TS_TUNE_CHANGE, "%" PRId64, v * 2 > INT_MAX ? INT_MAX : v * 2);
		set_reason(row, "%u orphaned sockets, half the host-wide limit or more: beyond "
			   "it orphans are reset at once ('too many orphaned sockets')", orphans);
	} else {
		set_reason(row, "%u orphaned sockets in this namespace", orphans);
	}
}

static void advise_somaxconn(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;

	if (o->listen_at_somaxconn && have) {
		recommend(row, TS_TUNE_CHANGE, "%" PRId64, v < 2048 ? 4096 : (v > INT_MAX / 2 ? INT_MAX : v * 2));
		set_reason(row, "%u listener%s with a full accept queue whose backlog is capped "
			   "at somaxconn (port %u): raise it, and the program's listen() "
			   "backlog (the queue is the smaller of the two)",
			   o->listen_at_somaxconn, o->listen_at_somaxconn == 1 ? "" : "s",
			   o->listen_full_port);
	} else if (o->listen_full) {
		set_reason(row, "%u listener%s with a full accept queue (port %u), backlog below "
			   "somaxconn: the program must accept() faster or pass a larger listen() "
			   "backlog", o->listen_full, o->listen_full == 1 ? "" : "s",
			   o->listen_full_port);
	} else {
		set_reason(row, "no listener with a full accept queue");
	}
}

static void advise_max_syn_backlog(struct ts_tune_row *row, bool have, int64_t v,
				   const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;
	int64_t cookies = cur_int(c, TS_SYSCTL_TCP_SYNCOOKIES, -1);

	/* Linux drops SYNs by it only without syncookies (tcp_conn_request()). */
	if (cookies > 0) {
		set_reason(row, "at most %u SYN_RECEIVED on one port; with tcp_syncookies=%" PRId64
			   " this limits nothing (the listener's backlog bounds them, then SYN "
			   "cookies answer)", o->syn_recv_top, cookies);
	} else if (have && v > 0 && (int64_t)o->syn_recv_top * 4 >= v * 3) {
		recommend(row, TS_TUNE_CHANGE, "%" PRId64, v > INT_MAX / 2 ? INT_MAX : v * 2);
		set_reason(row, "%u SYN_RECEIVED on port %u, near the limit of %" PRId64 ": raise it "
			   "(and the program's listen() backlog); keep tcp_syncookies=1",
			   o->syn_recv_top, o->syn_recv_top_port, v);
	} else {
		set_reason(row, "at most %u SYN_RECEIVED on one port", o->syn_recv_top);
	}
}

static void advise_syncookies(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	const struct ts_tune_observed *o = c->o;
	int64_t backlog = cur_int(c, TS_SYSCTL_TCP_MAX_SYN_BACKLOG, 0);
	bool pressure = o->listen_full || (backlog > 0 && (int64_t)o->syn_recv_top * 4 >= backlog * 3);

	if (have && v != 1) {
		recommend(row, pressure ? TS_TUNE_CHANGE : TS_TUNE_CONSIDER, "1");
		set_reason(row, "1 answers SYNs with cookies only when the SYN queue overflows%s",
			   pressure ? ", which is happening now" : "");
	} else {
		set_reason(row, "keep 1: cookies answer a SYN flood when the queue overflows");
	}
}

static void advise_abort_on_overflow(struct ts_tune_row *row, bool have, int64_t v,
				     const struct advice_ctx *c)
{
	if (have && v != 0 && c->o->listen_full) {
		recommend(row, TS_TUNE_CONSIDER, "0");
		set_reason(row, "listeners overflow and clients get resets: 0 lets them retry");
	} else {
		set_reason(row, "keep 0: 1 turns a short overload into resets");
	}
}

static void advise_syn_retries(struct ts_tune_row *row, bool have, int64_t v, const struct advice_ctx *c)
{
	unsigned syn_sent = c->o->count[TS_STATE_SYN_SENT];

	if (!syn_sent) {
		advise_nothing(row, have, v, c);
		return;
	}
	set_reason(row, "%u SYN_SENT: peers or paths that do not answer; the program can "
		   "bound it itself (TCP_SYNCNT, a connect timeout)", syn_sent);
}

static void advise_synack_retries(struct ts_tune_row *row, bool have, int64_t v,
				  const struct advice_ctx *c)
{
	unsigned syn_recv = c->o->count[TS_STATE_SYN_RECEIVED];

	if (!syn_recv) {
		advise_nothing(row, have, v, c);
		return;
	}
	set_reason(row, "%u SYN_RECEIVED: clients that do not complete the handshake", syn_recv);
}

/* The advice per setting; a setting without one: nothing observed that it would change. */
static advisor *const advisors[_TS_SYSCTL_ID_MAX] = {
	[TS_SYSCTL_TCP_FIN_TIMEOUT] = advise_fin_timeout,
	[TS_SYSCTL_TCP_MAX_TW_BUCKETS] = advise_max_tw_buckets,
	[TS_SYSCTL_IP_LOCAL_PORT_RANGE] = advise_ports,
	[TS_SYSCTL_TCP_TW_REUSE] = advise_ports,
	[TS_SYSCTL_TCP_ORPHAN_RETRIES] = advise_orphan_retries,
	[TS_SYSCTL_TCP_RETRIES2] = advise_retries2,
	[TS_SYSCTL_TCP_MAX_ORPHANS] = advise_max_orphans,
	[TS_SYSCTL_SOMAXCONN] = advise_somaxconn,
	[TS_SYSCTL_TCP_MAX_SYN_BACKLOG] = advise_max_syn_backlog,
	[TS_SYSCTL_TCP_SYNCOOKIES] = advise_syncookies,
	[TS_SYSCTL_TCP_ABORT_ON_OVERFLOW] = advise_abort_on_overflow,
	[TS_SYSCTL_TCP_SYN_RETRIES] = advise_syn_retries,
	[TS_SYSCTL_TCP_SYNACK_RETRIES] = advise_synack_retries,
};

static void advise_one(struct ts_tune_row *row, const struct advice_ctx *c)
{
	enum ts_sysctl_id id = row->info->id;
	advisor *fn = (unsigned)id < _TS_SYSCTL_ID_MAX && advisors[id] ? advisors[id] : advise_nothing;
	int64_t v = 0;
	bool have = row_int(row, &v);

	row->action = TS_TUNE_KEEP;
	row->recommended[0] = '\0';
	fn(row, have, v, c);
}

int ts_tune_advise(struct ts_sysctl *s, const struct ts_tune_observed *obs,
		   struct ts_tune_row **ret, size_t *ret_n)
{
	size_t n;
	const struct ts_sysctl_info *known = ts_sysctl_known(&n);
	struct ts_tune_row *rows = calloc(n, sizeof(*rows));
	struct advice_ctx c = { rows, n, obs };

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r;

		rows[i].info = &known[i];
		r = ts_sysctl_read(s, known[i].name, rows[i].current, sizeof(rows[i].current));
		if (r < 0) {
			rows[i].current[0] = '\0';
			rows[i].read_errno = -r;
			rows[i].action = TS_TUNE_UNAVAILABLE;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].action == TS_TUNE_UNAVAILABLE) {
			set_reason(&rows[i], "%s", rows[i].read_errno == ENOENT
				   ? "not in this kernel or namespace" : strerror(rows[i].read_errno));
			continue;
		}
		advise_one(&rows[i], &c);
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}
