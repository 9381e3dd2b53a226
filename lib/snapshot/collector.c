/* SPDX-License-Identifier: MIT */
/* ts_collector: collect.c's snapshot with the BPF programs kept loaded. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/bpf/owners.h"
#include "snapshot/collect.h"
#include "snapshot/snapshot.h"
#include "tcpstate/collector.h"

struct ts_collector {
	struct ts_snapshot_opts opts; /* pointers into the copies below */
	struct ts_filter filter;
	char *netns;
	char *proc_root;
	struct snapshot_kept kept;  /* owners NULL: not from BPF, or it could not load;
				     * sockets NULL: sock_diag (or /proc/net) */
	struct ts_bpf_status fallback; /* AUTO: why BPF could not load (failure NONE: it did) */
	struct ts_bpf_status socket_fallback; /* AUTO backend: why the BPF socket source
					       * could not load (NONE: it did, or not tried) */
	struct snapshot_sizes last;    /* the last snapshot's, with room to grow */
	struct snapshot_scratch scratch; /* arrays given back, lent to the next snapshot */
};

static bool bpf_wanted(const struct ts_snapshot_opts *o)
{
	if (o->owners == TS_OWNERS_NONE)
		return false;
	if (o->owner_source == TS_OWNER_SOURCE_BPF)
		return true;
	return o->owner_source == TS_OWNER_SOURCE_AUTO && !o->proc_root;
}

/*
 * The BPF socket source, kept loaded, for backend BPF and for AUTO when
 * owners are scanned: BOUND sockets, in no socket hash, are then found
 * through their fds; without owners AUTO keeps the dump, which has them.
 */
static bool sockets_wanted(const struct ts_snapshot_opts *o)
{
	if (o->backend == TS_BACKEND_BPF)
		return true;
	return o->backend == TS_BACKEND_AUTO && o->owners != TS_OWNERS_NONE && !o->proc_root;
}

static int opts_copy(struct ts_collector *c, const struct ts_snapshot_opts *o)
{
	c->opts = *o;
	if (o->filter) {
		c->filter = *o->filter;
		c->opts.filter = &c->filter;
	}
	if (o->netns) {
		c->netns = strdup(o->netns);
		if (!c->netns)
			return -ENOMEM;
		c->opts.netns = c->netns;
	}
	if (o->proc_root) {
		c->proc_root = strdup(o->proc_root);
		if (!c->proc_root)
			return -ENOMEM;
		c->opts.proc_root = c->proc_root;
	}
	return 0;
}

int ts_collector_new(const struct ts_snapshot_opts *opts, struct ts_collector **ret,
		     struct ts_snapshot_status *ret_status)
{
	struct ts_snapshot_status unused;
	struct ts_collector *c;
	int r;

	if (!ret_status)
		ret_status = &unused;
	memset(ret_status, 0, sizeof(*ret_status));
	if (opts->owners == TS_OWNERS_NONE && opts->filter && ts_filter_needs_owners(opts->filter)) {
		ret_status->failed_stage = TS_SNAPSHOT_STAGE_OPTIONS;
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->kept.scratch = &c->scratch;
	r = opts_copy(c, opts);
	if (r < 0)
		goto out_free;
	if (bpf_wanted(&c->opts)) {
		struct ts_bpf_status st = { 0 };

		r = bpf_owners_open(&c->kept.owners, &st);
		if (r < 0) {
			if (c->opts.owner_source == TS_OWNER_SOURCE_BPF || r == -ENOMEM) {
				ret_status->failed_stage = TS_SNAPSHOT_STAGE_OWNERS;
				ret_status->bpf = st;
				goto out_free;
			}
			c->fallback = st;
			c->kept.owners = NULL;
		}
	}
	if (sockets_wanted(&c->opts)) {
		struct ts_bpf_status st = { 0 };

		r = bpf_sockets_open(&c->kept.sockets, &st);
		if (r < 0) {
			if (c->opts.backend == TS_BACKEND_BPF || r == -ENOMEM) {
				ret_status->failed_stage = TS_SNAPSHOT_STAGE_DUMP;
				ret_status->socket_bpf = st;
				goto out_free;
			}
			c->socket_fallback = st;
			c->kept.sockets = NULL;
		}
	}
	*ret = c;
	return 0;
out_free:
	ts_collector_free(c);
	return r;
}

int ts_collector_take(struct ts_collector *c, struct ts_snapshot **ret,
		      struct ts_snapshot_status *ret_status)
{
	struct ts_snapshot_opts o = c->opts;
	struct ts_snapshot *snap;
	int r;

	if (c->fallback.failure != TS_BPF_FAILURE_NONE)
		o.owner_source = TS_OWNER_SOURCE_PROC; /* as AUTO does after the failed load */
	r = snapshot_collect(&o, &c->kept, &c->last, &snap, ret_status);
	if (r < 0)
		return r;
	/* The next one is about as large: room for it and an eighth more. */
	c->last.sockets = snap->n_sockets + snap->n_sockets / 8;
	c->last.owners = snap->n_owners + snap->n_owners / 8;
	if (c->fallback.failure != TS_BPF_FAILURE_NONE && snap->stats.owners_scanned)
		snap->stats.bpf = c->fallback;
	snap->stats.socket_bpf = c->socket_fallback;
	*ret = snap;
	return 0;
}

void ts_collector_recycle(struct ts_collector *c, struct ts_snapshot *snap)
{
	if (c)
		snapshot_scratch_keep(&c->scratch, snap);
	else
		ts_snapshot_free(snap);
}

bool ts_collector_keeps_bpf(const struct ts_collector *c)
{
	return c->kept.owners != NULL;
}

struct ts_collector *ts_collector_free(struct ts_collector *c)
{
	if (!c)
		return NULL;
	bpf_owners_close(c->kept.owners);
	bpf_sockets_close(c->kept.sockets);
	snapshot_scratch_clear(&c->scratch);
	free(c->netns);
	free(c->proc_root);
	free(c);
	return NULL;
}
