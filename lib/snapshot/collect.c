/* SPDX-License-Identifier: MIT */
/*
 * ts_snapshot_collect(): the sockets of each namespace asked for (sock_diag,
 * or /proc/net when that is all there is), their owners (owner_scan.c: BPF
 * or /proc), the fd-only sockets (fdsock.c), into a snapshot (snapshot.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/array.h"
#include "core/netns.h"
#include "snapshot/bpf/owners.h"
#include "snapshot/collect.h"
#include "snapshot/fdsock.h"
#include "snapshot/owner_scan.h"
#include "snapshot/procnet.h"
#include "snapshot/sock_iter.h"
#include "snapshot/sockstat.h"
#include "snapshot/snapshot.h"
#include "snapshot/sock_diag.h"

#define BYTECODE_MAX 2048

/* Linux 6.8 added TCP_BOUND_INACTIVE dumps. */
static bool kernel_dumps_bound(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 8);
}

static int collect_procfs(struct ts_snapshot *snap, const struct netns_target *t,
			  uint32_t netns_index, const struct ts_filter *f, enum ts_snapshot_stage *stage)
{
	static const struct {
		const char *path;
		int family;
	} files[] = {
		{ "/proc/thread-self/net/tcp", AF_INET },
		{ "/proc/thread-self/net/tcp6", AF_INET6 },
	};
	FILE *fp[2] = { NULL, NULL };
	int saved, r;

	/* /proc/thread-self/net is the namespace of the thread opening it. */
	*stage = TS_SNAPSHOT_STAGE_NETNS;
	r = netns_enter(t, &saved);
	if (r < 0)
		return r;
	*stage = TS_SNAPSHOT_STAGE_DUMP;
	for (size_t i = 0; i < 2; i++)
		fp[i] = fopen(files[i].path, "re");
	r = netns_leave(saved);
	for (size_t i = 0; i < 2 && r == 0; i++) {
		unsigned bad = 0;

		if (!fp[i])
			continue; /* no IPv6 in this kernel */
		r = procnet_read(fp[i], files[i].family, f, netns_index, snap, &bad);
		snap->stats.malformed_messages += bad;
	}
	for (size_t i = 0; i < 2; i++)
		if (fp[i])
			fclose(fp[i]);
	if (r == 0 && !fp[0])
		r = -ENOENT;
	return r;
}

static int dump_family(int fd, struct ts_snapshot *snap, uint32_t netns_index,
		       const struct ts_filter *f, int family, uint32_t kstates, bool want_info,
		       const void *bc, size_t bclen)
{
	struct sock_diag_parse_ctx ctx = { .snap = snap, .filter = f, .netns_index = netns_index };
	struct sock_diag_dump_opts o = {
		.family = family,
		.kernel_states = kstates,
		.bytecode = bclen ? bc : NULL,
		.bytecode_len = bclen,
		.want_info = want_info,
		.record_fd = -1,
	};
	int r = sock_diag_dump(fd, &o, &ctx, &snap->stats.dump_retries);

	snap->stats.malformed_messages += ctx.malformed;
	return r;
}

/*
 * In the target namespace: whether its socket hashes hold no TCP socket
 * (sockstat.h), so that walking them, which costs the whole host's table,
 * would find nothing. Counted in the stats. Unreadable counts: walk.
 */
static bool netns_without_tcp(struct ts_snapshot *snap)
{
	struct sockstat_tcp counts;

	if (sockstat_tcp_read(&counts) < 0 || !sockstat_tcp_none(&counts))
		return false;
	snap->stats.netns_without_tcp++;
	return true;
}

static int collect_netlink(struct ts_snapshot *snap, const struct netns_target *t,
			   uint32_t netns_index, const struct ts_filter *f, bool want_info,
			   enum ts_snapshot_stage *stage)
{
	uint32_t kstates = ts_state_mask_to_kernel(ts_filter_states(f));
	unsigned char bc4[BYTECODE_MAX], bc6[BYTECODE_MAX];
	size_t len4 = 0, len6 = 0, first = snap->n_sockets;
	int saved, fd, r;

	if (kstates == 0)
		return 0; /* only fd-found states asked for */
	r = ts_filter_bytecode_build(f, AF_INET, bc4, sizeof(bc4), &len4);
	if (r < 0)
		return r;
	r = ts_filter_bytecode_build(f, AF_INET6, bc6, sizeof(bc6), &len6);
	if (r < 0)
		return r;

	*stage = TS_SNAPSHOT_STAGE_NETNS;
	r = netns_enter(t, &saved);
	if (r < 0)
		return r;
	/* BOUND sockets are in the bind hash, which sockstat does not count. */
	if (!(ts_filter_states(f) & TS_STATE_BIT(TS_STATE_BOUND)) && netns_without_tcp(snap))
		return netns_leave(saved);
	*stage = TS_SNAPSHOT_STAGE_DUMP;
	fd = sock_diag_open();
	r = netns_leave(saved);
	if (fd < 0)
		return fd;
	if (r < 0)
		goto out_close;

	/* Each per-family dump walks the whole socket hash (and, for BOUND,
	 * the bind hash): when the filter does not depend on the family, one
	 * AF_UNSPEC dump walks them once. A kernel refusing that request gets
	 * the two dumps. */
	if (len4 == len6 && memcmp(bc4, bc6, len4) == 0) {
		struct ts_snapshot_stats saved_stats = snap->stats;

		r = dump_family(fd, snap, netns_index, f, AF_UNSPEC, kstates, want_info, bc4, len4);
		if (r != -EINVAL && r != -ENOENT && r != -EOPNOTSUPP && r != -EPROTONOSUPPORT)
			goto out_close;
		/* Refused: as if never asked. */
		snap->n_sockets = first;
		snap->stats = saved_stats;
	}
	r = dump_family(fd, snap, netns_index, f, AF_INET, kstates, want_info, bc4, len4);
	if (r == 0)
		r = dump_family(fd, snap, netns_index, f, AF_INET6, kstates, want_info, bc6, len6);
out_close:
	close(fd);
	return r;
}

/* The BPF socket source: an iterator made in the namespace, read there. */
static int collect_iter(struct ts_snapshot *snap, const struct netns_target *t,
			uint32_t netns_index, const struct ts_filter *f, bool want_info,
			struct bpf_sockets *sockets, struct ts_snapshot_status *status)
{
	struct sock_iter_ctx ctx = {
		.snap = snap,
		.filter = f,
		.netns_index = netns_index,
		.want_info = want_info,
	};
	uint32_t kstates = ts_state_mask_to_kernel(ts_filter_states(f));
	int saved, left, r;

	if (kstates == 0)
		return 0; /* only fd-found states asked for */
	status->failed_stage = TS_SNAPSHOT_STAGE_NETNS;
	r = netns_enter(t, &saved);
	if (r < 0)
		return r;
	if (netns_without_tcp(snap))
		return netns_leave(saved);
	status->failed_stage = TS_SNAPSHOT_STAGE_DUMP;
	r = bpf_sockets_read(sockets, kstates, sock_iter_append, &ctx, &status->socket_bpf);
	left = netns_leave(saved);
	if (r == 0)
		r = left;
	snap->stats.malformed_messages += ctx.malformed;
	return r;
}

static int collect_target(struct ts_snapshot *snap, const struct netns_target *t,
			  const struct ts_snapshot_opts *o, const struct ts_filter *f,
			  struct bpf_sockets *sockets, struct ts_snapshot_status *status)
{
	enum ts_snapshot_stage *stage = &status->failed_stage;
	struct ts_netns ns = { .inode = t->inode, .pid = t->pid, .kind = t->kind };
	size_t first = snap->n_sockets;
	uint32_t idx;
	int r;

	snprintf(ns.name, sizeof(ns.name), "%s", t->name);
	r = snapshot_netns_append(snap, &ns, &idx);
	if (r < 0)
		return r;

	if (sockets)
		return collect_iter(snap, t, idx, f, o->want_info, sockets, status);
	if (o->backend != TS_BACKEND_PROCFS) {
		r = collect_netlink(snap, t, idx, f, o->want_info, stage);
		if (r == 0 || o->backend == TS_BACKEND_NETLINK)
			return r;
		/* No sock_diag (module missing or not built): use /proc/net/tcp. */
		if (r != -ENOENT && r != -EPROTONOSUPPORT && r != -EAFNOSUPPORT &&
		    r != -EOPNOTSUPP)
			return r;
		snap->stats.sock_diag_errno = -r;
		snap->n_sockets = first;
	}
	snap->stats.backend = TS_BACKEND_PROCFS;
	return collect_procfs(snap, t, idx, f, stage);
}

static bool need_candidates(const struct ts_filter *f, bool bound_dump)
{
	ts_state_mask_t m = ts_filter_states(f);
	ts_state_mask_t fd_only = TS_STATE_BIT(TS_STATE_IDLE) | TS_STATE_BIT(TS_STATE_CLOSED) |
				  TS_STATE_BIT(TS_STATE_UNKNOWN);

	if (!bound_dump)
		fd_only |= TS_STATE_BIT(TS_STATE_BOUND);
	return (m & fd_only) != 0;
}

/* With --pid/--comm only sockets held by a matching process stay. Failing
 * here must fail the snapshot: a caller like close acts on what is left. */
static int keep_owned(struct ts_snapshot *snap)
{
	size_t n = 0, cap = snap->n_sockets ? snap->n_sockets : 1;
	uint32_t *map = malloc(cap * sizeof(*map));

	if (!map)
		return -ENOMEM;
	memset(map, 0xff, cap * sizeof(*map));
	for (size_t i = 0; i < snap->n_owners; i++)
		map[snap->owners[i].socket_index] = 0;
	for (size_t i = 0; i < snap->n_sockets; i++) {
		if (map[i] == UINT32_MAX)
			continue;
		map[i] = (uint32_t)n;
		snap->sockets[n++] = snap->sockets[i];
	}
	for (size_t i = 0; i < snap->n_owners; i++)
		snap->owners[i].socket_index = map[snap->owners[i].socket_index];
	snap->n_sockets = n;
	free(map);
	return 0;
}

bool ts_owner_source_bpf_built(void)
{
	return bpf_owners_built() != 0;
}

int ts_owner_source_bpf_probe(struct ts_bpf_status *ret_status)
{
	return bpf_owners_probe(ret_status);
}

int ts_socket_source_bpf_probe(struct ts_bpf_status *ret_status)
{
	struct bpf_sockets *h = NULL;
	int r = bpf_sockets_open(&h, ret_status);

	bpf_sockets_close(h);
	return r;
}

int ts_snapshot_collect(const struct ts_snapshot_opts *o, struct ts_snapshot **ret)
{
	return ts_snapshot_collect_ex(o, ret, NULL);
}

/* A forced BPF source that could not run fails the collection: say why. */
static void bpf_failure_out(const struct ts_snapshot_opts *o, const struct ts_bpf_status *st,
			    struct ts_bpf_status *ret_bpf)
{
	if (ret_bpf && o->owner_source == TS_OWNER_SOURCE_BPF && st->failure != TS_BPF_FAILURE_NONE)
		*ret_bpf = *st;
}

/* Counts a namespace not entered and keeps the first names. */
static void note_netns_denied(struct ts_snapshot_stats *st, const char *name)
{
	if (st->netns_denied < TS_NETNS_DENIED_NAMES)
		snprintf(st->netns_denied_names[st->netns_denied], sizeof(st->netns_denied_names[0]),
			 "%s", name);
	st->netns_denied++;
}

/* The namespaces to read: every one (--all-netns), or the one asked for. */
static int collect_targets(const struct ts_snapshot_opts *o, struct ts_snapshot *snap,
			   struct netns_target **ret, size_t *ret_n)
{
	struct netns_target *targets;
	int r;

	if (o->all_netns) {
		struct netns_denials den = { 0 };

		r = netns_enumerate(o->proc_root, ret, ret_n, &den);
		if (r < 0)
			return r;
		for (size_t k = 0; k < den.n; k++)
			note_netns_denied(&snap->stats, den.names[k]);
		snap->stats.netns_unidentified_processes = den.processes;
		netns_denials_clear(&den);
		return 0;
	}
	targets = calloc(1, sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	r = netns_resolve(o->netns, o->proc_root, &targets[0]);
	if (r < 0) {
		free(targets);
		return r;
	}
	*ret = targets;
	*ret_n = 1;
	return 0;
}

/* Starts the owner scan; the /proc walk runs on other threads while this one dumps. */
static int owners_start(const struct ts_snapshot_opts *o, const struct ts_filter *f,
			const struct snapshot_kept *kept, struct owner_scan **ret)
{
	struct owner_scan_opts so = {
		.proc_root = o->proc_root,
		.filter = f,
		/* A fallback to procfs (no BOUND dump) is only known later:
		 * then BOUND sockets are found as fds like IDLE ones. */
		.want_candidates = need_candidates(f, false),
		.source = o->owner_source,
		.bpf = kept ? kept->owners : NULL,
		.index = kept && kept->scratch ? &kept->scratch->index : NULL,
	};

	/* The BPF source skips sockets no dump can return: fd-only
	 * states (and BOUND, see above) need TCP_CLOSE ones. It reads
	 * sk_state at another moment than the dump: a socket that moved
	 * in between is looked for again, with the states next to the
	 * asked ones (owner_scan.c, bpf_second_pass()). */
	so.kernel_states = ts_state_mask_to_kernel(ts_filter_states(f));
	if (so.want_candidates)
		so.kernel_states |= 1u << TS_TCP_CLOSE;
	so.kernel_states_retry = ts_kernel_states_around(so.kernel_states);
	so.test_second_pass_only = o->test_bpf_second_pass_only;
	return owner_scan_start(&so, ret);
}

/* The sockets only fds hold (no dump shows them), from the scan's candidates. */
static int add_fd_only_sockets(struct ts_snapshot *snap, const struct ts_filter *f,
			       const struct ts_snapshot_opts *o, struct fd_candidate *cand,
			       size_t n_cand)
{
	uint64_t *inodes = malloc((snap->n_netns ? snap->n_netns : 1) * sizeof(*inodes));
	struct fdsock_opts fo = {
		.filter = f,
		.netns_inodes = inodes,
		.n_netns = snap->n_netns,
		.proc_root = o->proc_root,
	};
	int r;

	if (!inodes)
		return -ENOMEM;
	for (size_t i = 0; i < snap->n_netns; i++)
		inodes[i] = snap->netns[i].inode;
	r = fdsock_classify(snap, cand, n_cand, &fo);
	free(inodes);
	return r;
}

/* Joins the owner scan with the dumped sockets; frees scan. */
static int owners_finish(struct owner_scan *scan, struct ts_snapshot *snap,
			 const struct ts_filter *f, const struct ts_snapshot_opts *o,
			 struct ts_bpf_status *ret_bpf)
{
	struct ts_bpf_status bpf_status = { 0 };
	struct owner_scan_result res = { 0 };
	int r = owner_scan_finish(scan, snap, &res, &bpf_status);

	if (r < 0) {
		/* Only a forced BPF source fails here for BPF's sake. */
		bpf_failure_out(o, &bpf_status, ret_bpf);
		return r;
	}
	snap->stats.owners_scanned = true;
	snap->stats.owner_source = res.source;
	snap->stats.bpf = bpf_status;
	snap->stats.processes_denied = res.processes_denied;
	snap->stats.fd_exhausted = res.processes_fd_exhausted;
	snap->stats.fd_exhausted_errno = res.fd_exhausted_errno;
	if (res.n_candidates)
		r = add_fd_only_sockets(snap, f, o, res.candidates, res.n_candidates);
	free(res.candidates);
	if (r == 0 && ts_filter_needs_owners(f))
		r = keep_owned(snap);
	if (r == 0)
		r = snapshot_owners_finalize(snap);
	return r;
}

/* The scratch arrays become snap's (empty; their capacity stays). */
static void scratch_lend(struct snapshot_scratch *s, struct ts_snapshot *snap)
{
	snap->sockets = s->sockets;
	snap->cap_sockets = s->cap_sockets;
	snap->owners = s->owners;
	snap->cap_owners = s->cap_owners;
	s->sockets = NULL;
	s->owners = NULL;
	s->cap_sockets = s->cap_owners = 0;
}

void snapshot_scratch_keep(struct snapshot_scratch *s, struct ts_snapshot *snap)
{
	if (!snap)
		return;
	if (snap->cap_sockets > s->cap_sockets) {
		free(s->sockets);
		s->sockets = snap->sockets;
		s->cap_sockets = snap->cap_sockets;
		snap->sockets = NULL;
	}
	if (snap->cap_owners > s->cap_owners) {
		free(s->owners);
		s->owners = snap->owners;
		s->cap_owners = snap->cap_owners;
		snap->owners = NULL;
	}
	ts_snapshot_free(snap);
}

void snapshot_scratch_clear(struct snapshot_scratch *s)
{
	free(s->sockets);
	free(s->owners);
	sock_index_free(&s->index);
	*s = (struct snapshot_scratch){ 0 };
}

int ts_snapshot_collect_ex(const struct ts_snapshot_opts *o, struct ts_snapshot **ret,
			   struct ts_bpf_status *ret_bpf)
{
	struct ts_snapshot_status st;
	int r = ts_snapshot_collect_status(o, ret, &st);

	if (ret_bpf)
		*ret_bpf = st.bpf;
	return r;
}

int ts_snapshot_collect_status(const struct ts_snapshot_opts *o, struct ts_snapshot **ret,
			       struct ts_snapshot_status *ret_status)
{
	return snapshot_collect(o, NULL, NULL, ret, ret_status);
}

int snapshot_collect(const struct ts_snapshot_opts *o, const struct snapshot_kept *kept,
		     const struct snapshot_sizes *expect, struct ts_snapshot **ret,
		     struct ts_snapshot_status *ret_status)
{
	struct bpf_sockets *sockets = kept ? kept->sockets : NULL, *own_sockets = NULL;
	static const struct ts_filter all = { 0 };
	const struct ts_filter *f = o->filter ? o->filter : &all;
	struct netns_target *targets = NULL;
	struct owner_scan *scan = NULL;
	size_t n_targets = 0;
	struct ts_snapshot *snap;
	int r;

	struct ts_snapshot_status unused;
	struct ts_bpf_status *ret_bpf;
	enum ts_snapshot_stage *stage;

	if (!ret_status)
		ret_status = &unused;
	memset(ret_status, 0, sizeof(*ret_status));
	ret_bpf = &ret_status->bpf;
	stage = &ret_status->failed_stage;
	*stage = TS_SNAPSHOT_STAGE_OPTIONS;
	if (o->owners == TS_OWNERS_NONE && ts_filter_needs_owners(f))
		return -EINVAL;
	*stage = TS_SNAPSHOT_STAGE_NETNS;

	snap = snapshot_new();
	if (snap && kept && kept->scratch)
		scratch_lend(kept->scratch, snap);
	if (!snap || (expect && snapshot_reserve(snap, expect->sockets, expect->owners) < 0)) {
		ts_snapshot_free(snap);
		return -ENOMEM;
	}
	/* The BPF socket source: backend BPF, or AUTO with a program kept loaded. */
	if (o->backend == TS_BACKEND_BPF && !sockets) {
		*stage = TS_SNAPSHOT_STAGE_DUMP;
		r = bpf_sockets_open(&own_sockets, &ret_status->socket_bpf);
		if (r < 0)
			goto out_free;
		sockets = own_sockets;
	} else if (o->backend != TS_BACKEND_AUTO && o->backend != TS_BACKEND_BPF) {
		sockets = NULL;
	}
	*stage = TS_SNAPSHOT_STAGE_NETNS;
	if (sockets)
		snap->stats.backend = TS_BACKEND_BPF;
	else
		snap->stats.backend = o->backend == TS_BACKEND_PROCFS ? TS_BACKEND_PROCFS
								     : TS_BACKEND_NETLINK;
	/* The iterator walks the socket hashes: BOUND sockets are in none. */
	snap->stats.bound_dump = snap->stats.backend == TS_BACKEND_NETLINK && kernel_dumps_bound();

	r = collect_targets(o, snap, &targets, &n_targets);
	if (r < 0)
		goto out_free;
	*stage = TS_SNAPSHOT_STAGE_OWNERS;
	if (o->owners != TS_OWNERS_NONE) {
		r = owners_start(o, f, kept, &scan);
		if (r < 0)
			goto out_targets;
	}
	for (size_t i = 0; i < n_targets; i++) {
		r = collect_target(snap, &targets[i], o, f, sockets, ret_status);
		if (r == -EPERM && o->all_netns &&
		    ret_status->socket_bpf.failure == TS_BPF_FAILURE_NONE) {
			note_netns_denied(&snap->stats, targets[i].name); /* others may still be readable */
			continue;
		}
		if (r < 0)
			goto out_scan;
	}
	if (snap->stats.backend == TS_BACKEND_PROCFS)
		snap->stats.bound_dump = false;
	*stage = TS_SNAPSHOT_STAGE_OWNERS;
	if (scan) {
		r = owners_finish(scan, snap, f, o, ret_bpf);
		scan = NULL;
		if (r < 0)
			goto out_targets;
	}

	netns_targets_free(targets, n_targets);
	bpf_sockets_close(own_sockets);
	*stage = TS_SNAPSHOT_STAGE_NONE;
	*ret = snap;
	return 0;

out_scan:
	owner_scan_free(scan);
out_targets:
	netns_targets_free(targets, n_targets);
out_free:
	bpf_sockets_close(own_sockets);
	ts_snapshot_free(snap);
	return r;
}
