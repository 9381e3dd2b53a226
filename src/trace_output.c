/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "output.h"
#include "term_safe.h"
#include "trace_output.h"

#define NS_PER_S UINT64_C(1000000000)

void trace_fmt_duration(char *buf, size_t size, uint64_t ns, bool at_least)
{
	const char *ge = at_least ? "≥ " : "";

	if (ns < UINT64_C(1000000))
		snprintf(buf, size, "%s%" PRIu64 " us", ge, ns / 1000);
	else if (ns < NS_PER_S)
		snprintf(buf, size, "%s%.1f ms", ge, (double)ns / 1e6);
	else if (ns < 60 * NS_PER_S)
		snprintf(buf, size, "%s%.3f s", ge, (double)ns / 1e9);
	else if (ns < 1000 * NS_PER_S)
		snprintf(buf, size, "%s%.1f s", ge, (double)ns / 1e9);
	else
		snprintf(buf, size, "%s%" PRIu64 " s", ge, ns / NS_PER_S);
}

static void wall_time(const struct trace_out *o, uint64_t mono, bool iso, char *buf, size_t size)
{
	int64_t wall = (int64_t)mono + o->wall_minus_mono_ns;
	time_t sec = (time_t)(wall / (int64_t)NS_PER_S);
	long us = (long)((wall % (int64_t)NS_PER_S) / 1000);
	struct tm tm;
	char base[32];

	if (iso) {
		gmtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, size, "%s.%06ldZ", base, us);
	} else {
		localtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%H:%M:%S", &tm);
		snprintf(buf, size, "%s.%03ld", base, us / 1000);
	}
}

static void holder_text(const struct ts_trace_socket *s, char *buf, size_t size)
{
	char comm[TS_COMM_LEN];

	switch (s->holder) {
	case TS_TRACE_HOLDER_PROCESS:
		output_comm(comm, s->comm);
		snprintf(buf, size, "%d/%d(%s)", (int)s->pid, s->fd, comm);
		break;
	case TS_TRACE_HOLDER_ORPHAN:
		snprintf(buf, size, "orphan");
		break;
	default:
		snprintf(buf, size, "?");
		break;
	}
}

static const char *holder_word(enum ts_trace_holder h)
{
	return h == TS_TRACE_HOLDER_PROCESS ? "process" : h == TS_TRACE_HOLDER_ORPHAN ? "orphan"
										  : "unknown";
}

static void ends(const struct ts_trace_socket *s, char *l, char *r, size_t size)
{
	output_endpoint(l, size, s->family, &s->local_addr, s->local_port, false);
	output_endpoint(r, size, s->family, &s->remote_addr, s->remote_port, false);
}

static void socket_json(struct json_object *o, const struct trace_out *out,
			const struct ts_trace_socket *s)
{
	char l[80], r[80];

	json_object_object_add(o, "netns", json_object_new_string(
		TERM_SAFE(ts_trace_netns_name(out->trace, s->netns_inode))));
	json_object_object_add(o, "holder", json_object_new_string(holder_word(s->holder)));
	if (s->holder == TS_TRACE_HOLDER_PROCESS) {
		char comm[TS_COMM_LEN];

		output_comm(comm, s->comm);
		json_object_object_add(o, "pid", json_object_new_int(s->pid));
		json_object_object_add(o, "fd", json_object_new_int(s->fd));
		json_object_object_add(o, "comm", json_object_new_string(comm));
	}
	json_object_object_add(o, "family", json_object_new_string(
		s->family == AF_INET6 ? "ipv6" : "ipv4"));
	ends(s, l, r, sizeof(l));
	json_object_object_add(o, "local", json_object_new_string(l));
	json_object_object_add(o, "remote", json_object_new_string(r));
	json_object_object_add(o, "local_port", json_object_new_int(s->local_port));
	json_object_object_add(o, "remote_port", json_object_new_int(s->remote_port));
	if (s->cookie)
		json_object_object_add(o, "cookie", json_object_new_uint64(s->cookie));
}

static int json_line(FILE *f, struct json_object *o)
{
	int r = fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return r < 0 ? -1 : 0;
}

static const char *age_word(enum ts_trace_age a)
{
	return a == TS_TRACE_AGE_EXACT ? "exact" : a == TS_TRACE_AGE_AT_LEAST ? "at_least"
									     : "unknown";
}

/* A JSON string of s: '"' and '\\' escaped, controls as \\u00XX (s is already
 * term_safe(): no invalid UTF-8). */
static void put_json_string(FILE *f, const char *s)
{
	putc_unlocked('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			putc_unlocked('\\', f);
			putc_unlocked(c, f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			putc_unlocked(c, f);
		}
	}
	putc_unlocked('"', f);
}

static void put_key(FILE *f, const char *key, const char *value)
{
	fprintf(f, ",\"%s\":", key);
	put_json_string(f, value);
}

/*
 * One event as a JSON line, written straight out: building a json-c object of
 * some 17 keys per event cost more than the tracer itself at thousands of
 * events a second (the churn benchmark lost events to it).
 */
static int event_json(struct trace_out *o, const struct ts_trace_event *ev)
{
	const struct ts_trace_socket *s = &ev->sock;
	FILE *f = o->f;
	char t[48], l[80], r[80];

	wall_time(o, ev->mono_ns, true, t, sizeof(t));
	fputs("{\"type\":\"event\"", f);
	put_key(f, "time", t);
	fprintf(f, ",\"mono_ns\":%" PRIu64, ev->mono_ns);
	put_key(f, "netns", TERM_SAFE(ts_trace_netns_name(o->trace, s->netns_inode)));
	put_key(f, "holder", holder_word(s->holder));
	if (s->holder == TS_TRACE_HOLDER_PROCESS) {
		char comm[TS_COMM_LEN];

		output_comm(comm, s->comm);
		fprintf(f, ",\"pid\":%d,\"fd\":%d", (int)s->pid, s->fd);
		put_key(f, "comm", comm);
	}
	put_key(f, "family", s->family == AF_INET6 ? "ipv6" : "ipv4");
	ends(s, l, r, sizeof(l));
	put_key(f, "local", l);
	put_key(f, "remote", r);
	fprintf(f, ",\"local_port\":%u,\"remote_port\":%u", s->local_port, s->remote_port);
	if (s->cookie)
		fprintf(f, ",\"cookie\":%" PRIu64, s->cookie);
	if (ev->born)
		fputs(",\"old_state\":null", f);
	else
		put_key(f, "old_state", ts_state_name(ev->old_state));
	put_key(f, "new_state", ts_state_name(ev->new_state));
	fprintf(f, ",\"born\":%s,\"ended\":%s", ev->born ? "true" : "false",
		ev->ended ? "true" : "false");
	if (ev->polled)
		fputs(",\"noticed_by_polling\":true", f);
	if (ev->reused)
		fputs(",\"tuple_reused\":true", f);
	if (ev->age == TS_TRACE_AGE_NONE)
		fputs(",\"in_old_state_s\":null", f);
	else
		fprintf(f, ",\"in_old_state_s\":%.9f", (double)ev->in_old_ns / 1e9);
	put_key(f, "in_old_state", age_word(ev->age));
	fputs("}\n", f);
	return ferror(f) ? -1 : 0;
}

/* How a TIME_WAIT end without a kernel hook was found, for the text line. */
static const char *end_note(const struct ts_trace_event *ev)
{
	if (ev->polled)
		return " (end noticed by polling)";
	if (ev->reused)
		return " (ended by then: a new connection has its 4-tuple)";
	return "";
}

int trace_out_event(struct trace_out *o, const struct ts_trace_event *ev)
{
	char t[32], holder[48], l[80], r[80], age[40], old[24];

	if (o->json)
		return event_json(o, ev);
	if (!o->header_done) {
		fprintf(o->f, "%-12s %-14s %-24s %-22s %-22s %-12s    %-12s %s\n", "TIME", "NETNS",
			"HOLDER", "LOCAL", "REMOTE", "OLD", "NEW", "IN OLD");
		o->header_done = true;
	}
	wall_time(o, ev->mono_ns, false, t, sizeof(t));
	holder_text(&ev->sock, holder, sizeof(holder));
	ends(&ev->sock, l, r, sizeof(l));
	if (ev->age == TS_TRACE_AGE_NONE)
		snprintf(age, sizeof(age), "-");
	else
		trace_fmt_duration(age, sizeof(age), ev->in_old_ns, ev->age == TS_TRACE_AGE_AT_LEAST);
	snprintf(old, sizeof(old), "%s", ev->born ? "(new)" : ts_state_name(ev->old_state));
	fprintf(o->f, "%-12s %-14s %-24s %-22s %-22s %-12s -> %-12s %s%s\n", t,
		TERM_SAFE(ts_trace_netns_name(o->trace, ev->sock.netns_inode)), holder, l, r, old,
		ts_state_name(ev->new_state), age, end_note(ev));
	return ferror(o->f) ? -1 : 0;
}

int trace_out_lost(struct trace_out *o, uint64_t n, uint64_t total)
{
	if (o->json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("lost"));
		json_object_object_add(j, "lost", json_object_new_uint64(n));
		json_object_object_add(j, "lost_total", json_object_new_uint64(total));
		return json_line(o->f, j);
	}
	fprintf(o->f, "-- %" PRIu64 " event%s lost, at most (%" PRIu64
		" since the start): the kernel could not queue or run them --\n", n,
		n == 1 ? "" : "s", total);
	return ferror(o->f) ? -1 : 0;
}

/* ---- summary ---- */

static void stat_text(FILE *f, const char *label, const struct ts_trace_stat *st)
{
	char p50[32], p90[32], p99[32], max[32];

	if (st->exact) {
		trace_fmt_duration(p50, sizeof(p50), st->p50_ns, false);
		trace_fmt_duration(p90, sizeof(p90), st->p90_ns, false);
		trace_fmt_duration(p99, sizeof(p99), st->p99_ns, false);
		trace_fmt_duration(max, sizeof(max), st->max_ns, false);
	} else {
		snprintf(p50, sizeof(p50), "-");
		snprintf(p90, sizeof(p90), "-");
		snprintf(p99, sizeof(p99), "-");
		snprintf(max, sizeof(max), "-");
	}
	fprintf(f, "  %-24s %8" PRIu64 " %8" PRIu64 " %12s %12s %12s %12s%s\n", label, st->count,
		st->at_least, p50, p90, p99, max, st->sampled ? " (sampled)" : "");
}

static void stat_header(FILE *f, const char *what)
{
	fprintf(f, "  %-24s %8s %8s %12s %12s %12s %12s\n", what, "COUNT", "INEXACT", "P50", "P90",
		"P99", "MAX");
}

static void summary_text(struct trace_out *o, const struct ts_trace_summary *s)
{
	FILE *f = o->f;
	char dur[40], label[64], comm[TS_COMM_LEN];

	trace_fmt_duration(dur, sizeof(dur), s->duration_ns, false);
	fprintf(f, "\nSummary: %" PRIu64 " event%s in %s, %" PRIu64 " lost%s\n", s->events,
		s->events == 1 ? "" : "s", dur, s->lost,
		s->lost ? " at most (counts are short by up to that much)" : "");
	if (s->lost)
		fprintf(f, "Lost: %" PRIu64 " the ring buffer was full for, %" PRIu64
			" the kernel skipped the hook for (of any socket), %" PRIu64
			" never seen (sockets gone before their end was seen)\n",
			s->loss.events_dropped, s->loss.events_skipped, s->loss.events_unseen);
	if (s->loss.other_records)
		fprintf(f, "Also lost: %" PRIu64 " holder or destruction record%s (no event "
			"missing; some holders may show as '?')\n", s->loss.other_records,
			s->loss.other_records == 1 ? "" : "s");
	fprintf(f, "Time in state (INEXACT: entered before the trace, not in the percentiles)\n");
	stat_header(f, "STATE LEFT");
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (s->per_state[st].count)
			stat_text(f, ts_state_name(st), &s->per_state[st]);
	}
	stat_header(f, "HOLDER");
	for (size_t i = 0; i < s->n_procs; i++) {
		const struct ts_trace_stat_proc *p = &s->procs[i];

		if (p->other) {
			snprintf(label, sizeof(label), "(other)");
		} else if (p->holder == TS_TRACE_HOLDER_PROCESS) {
			output_comm(comm, p->comm);
			snprintf(label, sizeof(label), "%d(%s)", (int)p->pid, comm);
		} else {
			snprintf(label, sizeof(label), "%s", p->holder == TS_TRACE_HOLDER_ORPHAN ? "orphan"
												 : "?");
		}
		stat_text(f, label, &p->stat);
	}
	stat_header(f, "LOCAL PORT");
	for (size_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i].other)
			snprintf(label, sizeof(label), "(other)");
		else
			snprintf(label, sizeof(label), "%u", s->ports[i].port);
		stat_text(f, label, &s->ports[i].stat);
	}
	fprintf(f, "Still in their state at the end (oldest first, at most %d listed)\n",
		TS_TRACE_MAX_OPEN_LISTED);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (!s->open_count[st])
			continue;
		fprintf(f, "  %s: %" PRIu64 "\n", ts_state_name(st), s->open_count[st]);
		for (size_t k = 0; k < s->n_open[st]; k++) {
			const struct ts_trace_open_sock *op = &s->open[st][k];
			char l[80], r[80], holder[48], age[40];

			ends(&op->sock, l, r, sizeof(l));
			holder_text(&op->sock, holder, sizeof(holder));
			trace_fmt_duration(age, sizeof(age), op->age_ns, op->age == TS_TRACE_AGE_AT_LEAST);
			fprintf(f, "    %-22s %-22s %-24s %s\n", l, r, holder, age);
		}
	}
}

static struct json_object *stat_json(const struct ts_trace_stat *st)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "count", json_object_new_uint64(st->count));
	json_object_object_add(j, "inexact", json_object_new_uint64(st->at_least));
	json_object_object_add(j, "exact", json_object_new_uint64(st->exact));
	if (st->exact) {
		json_object_object_add(j, "p50_s", json_object_new_double((double)st->p50_ns / 1e9));
		json_object_object_add(j, "p90_s", json_object_new_double((double)st->p90_ns / 1e9));
		json_object_object_add(j, "p99_s", json_object_new_double((double)st->p99_ns / 1e9));
		json_object_object_add(j, "max_s", json_object_new_double((double)st->max_ns / 1e9));
	}
	json_object_object_add(j, "sampled", json_object_new_boolean(st->sampled));
	return j;
}

/* "lost" split by cause: events the ring buffer had no room for (exact),
 * hook runs the kernel skipped (any socket: an upper bound), changes never
 * seen (inferred, at most), other records. */
static struct json_object *loss_json(const struct ts_trace_loss *l)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "events_at_most", json_object_new_uint64(l->events));
	json_object_object_add(j, "ring_buffer_full", json_object_new_uint64(l->events_dropped));
	json_object_object_add(j, "hook_skipped", json_object_new_uint64(l->events_skipped));
	json_object_object_add(j, "never_seen", json_object_new_uint64(l->events_unseen));
	json_object_object_add(j, "other_records", json_object_new_uint64(l->other_records));
	return j;
}

static int summary_json(struct trace_out *o, const struct ts_trace_summary *s)
{
	struct json_object *j = json_object_new_object(), *states = json_object_new_object();
	struct json_object *procs = json_object_new_array(), *ports = json_object_new_array();
	struct json_object *open = json_object_new_object();

	json_object_object_add(j, "type", json_object_new_string("summary"));
	json_object_object_add(j, "duration_s", json_object_new_double((double)s->duration_ns / 1e9));
	json_object_object_add(j, "events", json_object_new_uint64(s->events));
	json_object_object_add(j, "lost", json_object_new_uint64(s->lost));
	json_object_object_add(j, "loss", loss_json(&s->loss));
	for (unsigned i = 0; i < TS_STATE_COUNT; i++)
		if (s->per_state[i].count)
			json_object_object_add(states, ts_state_name((enum ts_state)i),
					       stat_json(&s->per_state[i]));
	json_object_object_add(j, "per_state", states);
	for (size_t i = 0; i < s->n_procs; i++) {
		const struct ts_trace_stat_proc *p = &s->procs[i];
		struct json_object *pj = stat_json(&p->stat);

		json_object_object_add(pj, "holder", json_object_new_string(
			p->other ? "other" : holder_word(p->holder)));
		if (!p->other && p->holder == TS_TRACE_HOLDER_PROCESS) {
			char comm[TS_COMM_LEN];

			output_comm(comm, p->comm);
			json_object_object_add(pj, "pid", json_object_new_int(p->pid));
			json_object_object_add(pj, "comm", json_object_new_string(comm));
		}
		json_object_array_add(procs, pj);
	}
	json_object_object_add(j, "per_process", procs);
	for (size_t i = 0; i < s->n_ports; i++) {
		struct json_object *pj = stat_json(&s->ports[i].stat);

		if (s->ports[i].other)
			json_object_object_add(pj, "other", json_object_new_boolean(true));
		else
			json_object_object_add(pj, "port", json_object_new_int(s->ports[i].port));
		json_object_array_add(ports, pj);
	}
	json_object_object_add(j, "per_local_port", ports);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		struct json_object *st, *socks;

		if (!s->open_count[i])
			continue;
		st = json_object_new_object();
		socks = json_object_new_array();
		json_object_object_add(st, "count", json_object_new_uint64(s->open_count[i]));
		for (size_t k = 0; k < s->n_open[i]; k++) {
			const struct ts_trace_open_sock *op = &s->open[i][k];
			struct json_object *sj = json_object_new_object();

			socket_json(sj, o, &op->sock);
			json_object_object_add(sj, "age_s", json_object_new_double((double)op->age_ns / 1e9));
			json_object_object_add(sj, "age", json_object_new_string(age_word(op->age)));
			json_object_array_add(socks, sj);
		}
		json_object_object_add(st, "oldest", socks);
		json_object_object_add(open, ts_state_name((enum ts_state)i), st);
	}
	json_object_object_add(j, "still_open", open);
	return json_line(o->f, j);
}

int trace_out_summary(struct trace_out *o, const struct ts_trace_summary *s)
{
	if (o->json)
		return summary_json(o, s);
	summary_text(o, s);
	return ferror(o->f) ? -1 : 0;
}
