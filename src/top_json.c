/* SPDX-License-Identifier: MIT */
/*
 * tcpstate top --batch --json: a frame as one JSON object on one line (JSON
 * Lines, one per refresh), with the keys of the other verbs' documents:
 * summary's "states" and "top_closing", list's endpoints, doctor's findings.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "cli.h"
#include "doctor_output.h"
#include "output.h"
#include "tcpstate/procinfo.h"
#include "top_render.h"

/* A number with a fixed count of decimals (json-c would print 17 digits). */
static json_object *fixed(double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(v, buf);
}

static json_object *rates_json(const struct top_frame *f)
{
	json_object *o;

	if (!(f->interval_s > 0))
		return NULL;
	o = json_object_new_object();
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		json_object_object_add(o, ts_state_name(st), fixed(f->rate_per_s[st], 3));
	}
	json_object_object_add(o, "UNKNOWN", fixed(f->rate_per_s[TS_STATE_UNKNOWN], 3));
	return o;
}

/* What groups the row: pid and comm, the port, or the namespace. */
static void row_key_json(const struct top_frame *f, const struct top_row *r, json_object *o)
{
	const struct ts_netns *ns;

	switch (f->view) {
	case TOP_VIEW_PROCESSES:
		json_object_object_add(o, "pid", json_object_new_int(r->pid));
		json_object_object_add(o, "comm", json_object_new_string(r->comm));
		break;
	case TOP_VIEW_PORTS:
		json_object_object_add(o, "port", json_object_new_int(r->port));
		/* the remote end's port: no listener on it here (the text's "to :PORT") */
		json_object_object_add(o, "remote", json_object_new_boolean(r->remote));
		break;
	default:
		ns = ts_snapshot_netns(f->snap, r->netns_index);
		json_object_object_add(o, "netns", ns ? json_object_new_string(ns->name) : NULL);
		break;
	}
}

static json_object *row_json(const struct top_frame *f, const struct top_row *r)
{
	json_object *o = json_object_new_object();

	row_key_json(f, r, o);
	for (unsigned k = 0; k < TOP_N_CLOSING; k++)
		json_object_object_add(o, ts_state_name(ts_held_closing_states[k]),
				       json_object_new_int64(r->count[k]));
	json_object_object_add(o, "total", json_object_new_int64(r->total));
	json_object_object_add(o, "growth_per_s", r->has_growth ? fixed(r->growth_per_s, 3) : NULL);
	if (f->view != TOP_VIEW_PROCESSES)
		return o;
	/* doctor's names for the process's open files and RLIMIT_NOFILE (null: unlimited) */
	json_object_object_add(o, "fd_count", r->has_fds ? json_object_new_int64(r->fds) : NULL);
	json_object_object_add(o, "nofile_soft",
			       r->has_fds && r->fd_limit != TS_PROCINFO_UNLIMITED
				       ? json_object_new_int64((int64_t)r->fd_limit)
				       : NULL);
	json_object_object_add(o, "seconds_to_limit",
			       r->has_eta ? fixed(r->seconds_to_limit, 1) : NULL);
	return o;
}

static json_object *stuck_json(const struct top_frame *f, const struct top_stuck *t)
{
	const struct ts_netns *ns = ts_snapshot_netns(f->snap, t->s->netns_index);
	json_object *o = json_object_new_object();
	char addr[64];

	json_object_object_add(o, "state", json_object_new_string(ts_state_name((enum ts_state)t->s->state)));
	json_object_object_add(o, "idle_ms", json_object_new_int64((int64_t)t->idle_ms));
	output_addr(addr, sizeof(addr), t->s->family, &t->s->local_addr);
	json_object_object_add(o, "local_addr", json_object_new_string(addr));
	json_object_object_add(o, "local_port", json_object_new_int(t->s->local_port));
	output_addr(addr, sizeof(addr), t->s->family, &t->s->remote_addr);
	json_object_object_add(o, "remote_addr", json_object_new_string(addr));
	json_object_object_add(o, "remote_port", json_object_new_int(t->s->remote_port));
	json_object_object_add(o, "netns", ns ? json_object_new_string(ns->name) : NULL);
	/* the first holder; null: no process holds it (an orphan) */
	json_object_object_add(o, "pid", t->pid ? json_object_new_int(t->pid) : NULL);
	json_object_object_add(o, "comm", t->pid ? json_object_new_string(t->comm) : NULL);
	return o;
}

static json_object *finding_json(const struct top_frame *f, const struct ts_finding *x)
{
	json_object *o = doctor_finding_json_head(x, f->snap);
	char comm[TS_COMM_LEN];

	output_comm(comm, x->comm);
	json_object_object_add(o, "pid", x->pid ? json_object_new_int(x->pid) : NULL);
	json_object_object_add(o, "comm", x->pid ? json_object_new_string(comm) : NULL);
	return o;
}

int top_render_json(const struct top_frame *f, const struct top_header *h, FILE *out)
{
	json_object *o = json_object_new_object(), *rows = json_object_new_array(),
		    *stuck = json_object_new_array(), *findings = json_object_new_array();
	int r;

	cli_json_header(o);
	json_object_object_add(o, "refresh", json_object_new_int64((int64_t)h->refresh));
	json_object_object_add(o, "delay_s", fixed(h->delay_s, 3));
	json_object_object_add(o, "interval_s", f->interval_s > 0 ? fixed(f->interval_s, 3) : NULL);
	json_object_object_add(o, "netns", cli_json_netns_names(f->snap));
	json_object_object_add(o, "owners", json_object_new_string(!h->owners ? "none"
								    : h->bpf_kept ? "bpf" : "proc"));
	/* where the sockets came from: bpf (iter/tcp), netlink (sock_diag) or procfs */
	json_object_object_add(o, "sockets", json_object_new_string(h->sockets));
	json_object_object_add(o, "states", output_state_counts_json(f->counts));
	json_object_object_add(o, "states_per_s", rates_json(f));
	json_object_object_add(o, "view", json_object_new_string(top_view_name(f->view)));
	/* the rows' key they are sorted by (largest first): --sort close-wait is "CLOSE_WAIT" */
	json_object_object_add(o, "sort_by", json_object_new_string(
		f->sort == TOP_SORT_CLOSE_WAIT ? ts_state_name(TS_STATE_CLOSE_WAIT)
		: f->sort == TOP_SORT_GROWTH ? "growth_per_s" : "total"));
	for (size_t i = 0; i < f->n_rows; i++)
		json_object_array_add(rows, row_json(f, &f->rows[i]));
	/* without owners nobody is known to hold anything: null, not an empty list */
	if (f->view == TOP_VIEW_PROCESSES && !h->owners) {
		json_object_put(rows);
		rows = NULL;
	}
	json_object_object_add(o, "top_closing", rows);
	json_object_object_add(o, "top_closing_omitted", json_object_new_int64((int64_t)f->rows_more));
	for (size_t i = 0; i < f->n_stuck; i++)
		json_object_array_add(stuck, stuck_json(f, &f->stuck[i]));
	json_object_object_add(o, "stuck", stuck);
	json_object_object_add(o, "stuck_omitted",
			       json_object_new_int64((int64_t)(f->stuck_total - f->n_stuck)));
	for (size_t i = 0; f->d && i < f->d->n_findings; i++)
		json_object_array_add(findings, finding_json(f, &f->d->findings[i]));
	json_object_object_add(o, "findings", findings);
	r = fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return r < 0 ? -1 : 0;
}
