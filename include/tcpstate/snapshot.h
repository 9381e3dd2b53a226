/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "tcpstate/filter.h"
#include "tcpstate/socket.h"

struct ts_snapshot;

enum ts_backend {
	TS_BACKEND_AUTO,    /* netlink, /proc/net/tcp when sock_diag is missing */
	TS_BACKEND_NETLINK,
	TS_BACKEND_PROCFS,  /* /proc/net/tcp{,6}: no cookies, no tcp_info */
};

enum ts_owners_mode {
	TS_OWNERS_AUTO, /* scan /proc unless nothing needs it */
	TS_OWNERS_NONE, /* never scan; IDLE/CLOSED cannot be found */
	TS_OWNERS_PROC,
};

/* Where owners come from (when owners are scanned at all). */
enum ts_owner_source {
	TS_OWNER_SOURCE_AUTO, /* the BPF iterator, the /proc walk when it cannot run */
	TS_OWNER_SOURCE_PROC, /* /proc/PID/fd */
	TS_OWNER_SOURCE_BPF,  /* iter/task_file; failing is an error */
};

struct ts_snapshot_opts {
	const struct ts_filter *filter; /* NULL: everything */
	enum ts_backend backend;
	enum ts_owners_mode owners;
	enum ts_owner_source owner_source; /* AUTO with a proc_root means PROC */
	const char *netns;  /* NULL: the caller's; else as ts_netns_lookup() reads it */
	bool all_netns;     /* every namespace on the host */
	bool want_info;     /* tcp_info (netlink backend only) */
	const char *proc_root; /* NULL: "/proc" (tests use fake trees) */
};

/* What happened while collecting: the CLI reports these once, on stderr. */
struct ts_snapshot_stats {
	enum ts_backend backend;      /* the one that ran */
	bool owners_scanned;
	bool bound_dump;              /* kernel dumped BOUND (TCP_BOUND_INACTIVE) sockets */
	unsigned dump_retries;        /* dumps restarted after NLM_F_DUMP_INTR / ENOBUFS */
	unsigned malformed_messages;  /* skipped netlink messages */
	unsigned processes_denied;    /* /proc/PID/fd we could not read */
	unsigned fds_unclassified;    /* held sockets whose state we could not tell (UNKNOWN) */
	unsigned netns_denied;        /* namespaces we could not enter (--all-netns) */
	int sock_diag_errno;          /* why netlink failed when we fell back, else 0 */
	enum ts_owner_source owner_source; /* the one that ran (PROC or BPF), when owners_scanned */
	int bpf_errno;                /* why the BPF source was not used (AUTO fell back:
				       * EOPNOTSUPP also when not built), else 0 */
};

/*
 * Takes a snapshot of every TCP socket matching opts.
 * Returns 0, an error of ts_netns_lookup() (tcpstate/netns.h) for opts.netns,
 * -EPERM/-EACCES (cannot enter it), -ENOMEM, -EAGAIN (dump kept being
 * interrupted), or another negative errno.
 * *ret is set only on success; free it with ts_snapshot_free().
 */
int ts_snapshot_collect(const struct ts_snapshot_opts *opts, struct ts_snapshot **ret);

/*
 * With owner_source TS_OWNER_SOURCE_BPF, ts_snapshot_collect() fails with
 * the BPF source's own error when it cannot run: -EOPNOTSUPP (not built,
 * or the kernel lacks BTF / bpf_sock_from_file), -EPERM (no CAP_BPF +
 * CAP_PERFMON or CAP_SYS_ADMIN), or what the kernel answered. This is the
 * same collection; it always sets *bpf_failed: true when it failed because
 * of the BPF source, so that callers can tell that from a namespace error.
 */
int ts_snapshot_collect_ex(const struct ts_snapshot_opts *opts, struct ts_snapshot **ret,
			   bool *bpf_failed);

/* Whether this build has the BPF owner source (not whether it will load). */
bool ts_owner_source_bpf_built(void);

/* Accepts NULL; returns NULL. */
struct ts_snapshot *ts_snapshot_free(struct ts_snapshot *snap);

size_t ts_snapshot_socket_count(const struct ts_snapshot *snap);
const struct ts_socket *ts_snapshot_socket(const struct ts_snapshot *snap, size_t i);
/* Owners of a socket: s->owner_count entries. NULL when there are none. */
const struct ts_owner *ts_snapshot_owners(const struct ts_snapshot *snap, const struct ts_socket *s);
/* Processes holding the snapshot's sockets (those of owners; a pid may be
 * listed once per owner source worker, so not always distinct). */
size_t ts_snapshot_process_count(const struct ts_snapshot *snap);
const struct ts_process *ts_snapshot_process(const struct ts_snapshot *snap, uint32_t index);
size_t ts_snapshot_netns_count(const struct ts_snapshot *snap);
const struct ts_netns *ts_snapshot_netns(const struct ts_snapshot *snap, uint32_t index);
const struct ts_snapshot_stats *ts_snapshot_stats(const struct ts_snapshot *snap);
