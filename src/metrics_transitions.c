/* SPDX-License-Identifier: MIT */
/* The exporter's transitions and time-in-state histograms: folded, pruned, rendered. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_exposition.h"
#include "metrics_transitions.h"

/*
 * 1 ms (loopback handshakes, LAST_ACK on a LAN) to 1 h (CLOSE_WAIT leaks,
 * idle ESTABLISHED); the kernel's own times fall inside: SYN retransmits at
 * 1, 3, 7, 15, 31 s, tcp_fin_timeout and TIME_WAIT at 60 s (a TIME_WAIT
 * of 60 s and a few ms is counted in le="120").
 */
const uint64_t metrics_transitions_bounds_ns[METRICS_TRANSITIONS_N_BOUNDS] = {
	1000000ull, 2500000ull, 5000000ull, 10000000ull, 25000000ull, 50000000ull,
	100000000ull, 250000000ull, 500000000ull, 1000000000ull, 2500000000ull, 5000000000ull,
	10000000000ull, 30000000000ull, 60000000000ull, 120000000000ull, 300000000000ull,
	600000000000ull, 1800000000000ull, 3600000000000ull,
};

/* The same bounds as the le label writes them (as Prometheus' client libraries do). */
static const char *const bound_labels[METRICS_TRANSITIONS_N_BOUNDS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0",
	"2.5", "5.0", "10.0", "30.0", "60.0", "120.0", "300.0", "600.0", "1800.0", "3600.0",
};

static const char *const inexact_names[_METRICS_INEXACT_MAX] = {
	[METRICS_INEXACT_AT_LEAST] = "at_least",
	[METRICS_INEXACT_UNKNOWN] = "unknown",
	[METRICS_INEXACT_POLLED] = "polled",
};

static const char *const source_names[] = {
	[METRICS_TRANSITIONS_OFF] = "off",
	[METRICS_TRANSITIONS_BPF] = "bpf",
	[METRICS_TRANSITIONS_FAILED] = "failed",
};

struct state_dur {
	uint64_t bucket[METRICS_TRANSITIONS_N_BOUNDS + 1]; /* not cumulative; the last: > 1 h */
	uint64_t count;                                     /* exact times */
	uint64_t sum_ns;
	uint64_t inexact[_METRICS_INEXACT_MAX];
};

struct ns_series {
	uint64_t inode;
	char name[64];
	uint64_t first_ns;    /* CLOCK_MONOTONIC of its first event */
	uint64_t pairs[TS_STATE_COUNT][TS_STATE_COUNT];
	uint64_t left[TS_STATE_COUNT]; /* transitions out of each state: its histogram exists */
	struct state_dur dur[TS_STATE_COUNT];
};

struct metrics_transitions {
	pthread_mutex_t lock;
	enum metrics_transitions_source source;
	uint64_t lost;
	struct ns_series **ns; /* sorted by inode */
	size_t n, cap;
	struct ns_series other;
	bool other_used;
};

unsigned metrics_transitions_bucket(uint64_t ns)
{
	unsigned lo = 0, hi = METRICS_TRANSITIONS_N_BOUNDS;

	while (lo < hi) { /* the first bound >= ns */
		unsigned mid = (lo + hi) / 2;

		if (metrics_transitions_bounds_ns[mid] < ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int metrics_transitions_new(struct metrics_transitions **ret)
{
	struct metrics_transitions *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->source = METRICS_TRANSITIONS_OFF;
	snprintf(t->other.name, sizeof(t->other.name), "other");
	*ret = t;
	return 0;
}

struct metrics_transitions *metrics_transitions_free(struct metrics_transitions *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		free(t->ns[i]);
	free(t->ns);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

void metrics_transitions_set_source(struct metrics_transitions *t, enum metrics_transitions_source s)
{
	pthread_mutex_lock(&t->lock);
	t->source = s;
	pthread_mutex_unlock(&t->lock);
}

void metrics_transitions_set_lost(struct metrics_transitions *t, uint64_t lost)
{
	pthread_mutex_lock(&t->lock);
	t->lost = lost;
	pthread_mutex_unlock(&t->lock);
}

/* The index of inode in t->ns, or where it would go (*found false). */
static size_t ns_index(const struct metrics_transitions *t, uint64_t inode, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->ns[mid]->inode < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < t->n && t->ns[lo]->inode == inode;
	return lo;
}

/* The series of a namespace, made on its first event; "other" past the bound or without memory. */
static struct ns_series *ns_get(struct metrics_transitions *t, const struct ts_trace_event *ev,
				metrics_transitions_name_fn name, void *userdata)
{
	uint64_t inode = ev->sock.netns_inode;
	struct ns_series *s;
	bool found;
	size_t i = ns_index(t, inode, &found);

	if (found)
		return t->ns[i];
	if (t->n >= METRICS_TRANSITIONS_MAX_NETNS)
		goto other;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct ns_series **v = realloc(t->ns, cap * sizeof(*v));

		if (!v)
			goto other;
		t->ns = v;
		t->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto other;
	s->inode = inode;
	s->first_ns = ev->mono_ns;
	snprintf(s->name, sizeof(s->name), "%s", name ? name(inode, userdata) : "");
	memmove(&t->ns[i + 1], &t->ns[i], (t->n - i) * sizeof(t->ns[0]));
	t->ns[i] = s;
	t->n++;
	return s;
other:
	t->other_used = true;
	return &t->other;
}

void metrics_transitions_add(struct metrics_transitions *t, const struct ts_trace_event *ev,
			     metrics_transitions_name_fn name, void *userdata)
{
	struct ns_series *s;
	struct state_dur *d;

	if (ev->born || ev->old_state >= TS_STATE_COUNT || ev->new_state >= TS_STATE_COUNT)
		return;
	pthread_mutex_lock(&t->lock);
	s = ns_get(t, ev, name, userdata);
	s->pairs[ev->old_state][ev->new_state]++;
	s->left[ev->old_state]++;
	d = &s->dur[ev->old_state];
	if (ev->polled) {
		d->inexact[METRICS_INEXACT_POLLED]++;
	} else if (ev->age == TS_TRACE_AGE_EXACT) {
		d->bucket[metrics_transitions_bucket(ev->in_old_ns)]++;
		d->count++;
		d->sum_ns += ev->in_old_ns;
	} else {
		d->inexact[ev->age == TS_TRACE_AGE_AT_LEAST ? METRICS_INEXACT_AT_LEAST
							    : METRICS_INEXACT_UNKNOWN]++;
	}
	pthread_mutex_unlock(&t->lock);
}

void metrics_transitions_sync(struct metrics_transitions *t, const struct metrics_ns *ns, size_t n,
			      uint64_t began_ns)
{
	size_t kept = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		struct ns_series *s = t->ns[i];
		const struct metrics_ns *seen = NULL;

		for (size_t k = 0; k < n && !seen; k++)
			if (ns[k].inode == s->inode)
				seen = &ns[k];
		if (seen)
			snprintf(s->name, sizeof(s->name), "%s", seen->name);
		if (seen || s->first_ns >= began_ns)
			t->ns[kept++] = s;
		else
			free(s);
	}
	t->n = kept;
	pthread_mutex_unlock(&t->lock);
}

/* ---- rendering ---- */

static void render_pairs(const struct ns_series *s, struct metrics_buf *b)
{
	char netns[160];

	metrics_label_value(netns, sizeof(netns), s->name);
	for (unsigned from = 0; from < TS_STATE_COUNT; from++)
		for (unsigned to = 0; to < TS_STATE_COUNT; to++) {
			if (!s->pairs[from][to])
				continue;
			metrics_printf(b, "tcpstate_transitions_total{netns=\"%s\",from=\"%s\",to=\"%s\"}",
				       netns, ts_state_name((enum ts_state)from),
				       ts_state_name((enum ts_state)to));
			metrics_value(b, (double)s->pairs[from][to]);
		}
}

static void render_durations(const struct ns_series *s, struct metrics_buf *b)
{
	char netns[160];

	metrics_label_value(netns, sizeof(netns), s->name);
	for (unsigned st = 0; st < TS_STATE_COUNT; st++) {
		const struct state_dur *d = &s->dur[st];
		const char *state = ts_state_name((enum ts_state)st);
		uint64_t cum = 0;

		if (!s->left[st])
			continue;
		for (unsigned k = 0; k < METRICS_TRANSITIONS_N_BOUNDS; k++) {
			cum += d->bucket[k];
			metrics_printf(b, "tcpstate_state_duration_seconds_bucket{netns=\"%s\",state=\"%s\",le=\"%s\"}",
				       netns, state, bound_labels[k]);
			metrics_value(b, (double)cum);
		}
		metrics_printf(b, "tcpstate_state_duration_seconds_bucket{netns=\"%s\",state=\"%s\",le=\"+Inf\"}",
			       netns, state);
		metrics_value(b, (double)d->count);
		metrics_printf(b, "tcpstate_state_duration_seconds_sum{netns=\"%s\",state=\"%s\"}", netns, state);
		/* Written with a fraction, so that OpenMetrics parsers read a float. */
		metrics_printf(b, " %.9f\n", (double)d->sum_ns / 1e9);
		metrics_printf(b, "tcpstate_state_duration_seconds_count{netns=\"%s\",state=\"%s\"}", netns, state);
		metrics_value(b, (double)d->count);
	}
}

static void render_inexact(const struct ns_series *s, struct metrics_buf *b)
{
	char netns[160];

	metrics_label_value(netns, sizeof(netns), s->name);
	for (unsigned st = 0; st < TS_STATE_COUNT; st++)
		for (unsigned k = 0; k < _METRICS_INEXACT_MAX; k++) {
			if (!s->dur[st].inexact[k])
				continue;
			metrics_printf(b, "tcpstate_state_duration_inexact_total{netns=\"%s\",state=\"%s\",reason=\"%s\"}",
				       netns, ts_state_name((enum ts_state)st), inexact_names[k]);
			metrics_value(b, (double)s->dur[st].inexact[k]);
		}
}

static void each_ns(const struct metrics_transitions *t, struct metrics_buf *b,
		    void (*fn)(const struct ns_series *, struct metrics_buf *))
{
	for (size_t i = 0; i < t->n; i++)
		fn(t->ns[i], b);
	if (t->other_used)
		fn(&t->other, b);
}

void metrics_transitions_render(struct metrics_transitions *t, enum metrics_format f,
				struct metrics_buf *b)
{
	pthread_mutex_lock(&t->lock);
	metrics_family(b, f, "tcpstate_transitions_source", "gauge",
		       "Where tcpstate_transitions_total and tcpstate_state_duration_seconds come from, 1 "
		       "for the one in effect: bpf (the programs of tcpstate trace, loaded), off "
		       "(--no-transitions), failed (the trace program did not load or stopped; said once "
		       "on stderr): only bpf gives those series");
	for (size_t i = 0; i < sizeof(source_names) / sizeof(source_names[0]); i++) {
		metrics_printf(b, "tcpstate_transitions_source{source=\"%s\"}", source_names[i]);
		metrics_value(b, t->source == i);
	}
	if (t->source != METRICS_TRANSITIONS_BPF)
		goto out;
	metrics_family(b, f, "tcpstate_trace_lost_events_total", "counter",
		       "State changes lost since the exporter started, at most: the kernel's ring "
		       "buffer was full, a hook run was skipped (a change made while the program "
		       "ran on that CPU), or a socket was found gone without its changes seen; "
		       "tcpstate_transitions_total and tcpstate_state_duration_seconds miss them");
	metrics_printf(b, "tcpstate_trace_lost_events_total");
	metrics_value(b, (double)t->lost);
	metrics_family(b, f, "tcpstate_transitions_total", "counter",
		       "TCP state changes per network namespace since the exporter started, by the state "
		       "left (from) and entered (to); a socket's birth (-> IDLE, a listener's new child "
		       "-> SYN_RECEIVED) is not one. A series appears with its first change; the "
		       "series of a namespace that is gone are dropped; namespaces past 1024 are "
		       "summed into netns=\"other\"");
	each_ns(t, b, render_pairs);
	metrics_family(b, f, "tcpstate_state_duration_seconds", "histogram",
		       "Time a socket spent in the state it left, per network namespace, counted only "
		       "when exact: the state was entered while the exporter ran. Times known only as a "
		       "lower bound (sockets older than the exporter) are not in it: see "
		       "tcpstate_state_duration_inexact_total");
	each_ns(t, b, render_durations);
	metrics_family(b, f, "tcpstate_state_duration_inexact_total", "counter",
		       "State changes whose time in the state left is not in "
		       "tcpstate_state_duration_seconds: reason=at_least (entered before the exporter "
		       "started: only a lower bound is known), unknown (the socket was not followed), "
		       "polled (a TIME_WAIT end noticed by a once-a-second poll)");
	each_ns(t, b, render_inexact);
out:
	pthread_mutex_unlock(&t->lock);
}
