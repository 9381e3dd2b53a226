/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "tcpstate/filter.h"
#include "tcpstate/socket.h"

struct ts_snapshot;

enum ts_backend {
	TS_BACKEND_AUTO,    /* netlink, /proc/net/tcp when sock_diag is missing; a
			     * ts_collector with owners: bpf when it loads */
	TS_BACKEND_NETLINK,
	TS_BACKEND_PROCFS,  /* /proc/net/tcp{,6}: no cookies, no tcp_info */
	TS_BACKEND_BPF,     /* a BPF iter/tcp program (Linux >= 5.9, BTF): what netlink
			     * says, read without building netlink messages; BOUND
			     * sockets are found through their fds (with owners only);
			     * failing to load it is an error */
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
	/* Testing aid: the BPF source's first pass reports nothing, so that
	 * every owner comes from its second pass (the one for sockets that
	 * changed state between the iterator and the dump). */
	bool test_bpf_second_pass_only;
};

/* Why the BPF owner source did not run. */
enum ts_bpf_failure {
	TS_BPF_FAILURE_NONE,        /* it ran, or nobody asked for it */
	TS_BPF_FAILURE_NOT_BUILT,   /* this build has no BPF (meson -Dbpf) */
	TS_BPF_FAILURE_KERNEL,      /* kernel older than 5.11 or without BTF: detail says which */
	TS_BPF_FAILURE_PRIVILEGE,   /* EPERM: no CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) */
	TS_BPF_FAILURE_VERIFIER,    /* the kernel's verifier refused the program: detail is
				     * the end of its log */
	TS_BPF_FAILURE_OTHER,       /* err says why (ENOMEM, ...) */
};

#define TS_BPF_DETAIL_LEN 2048

struct ts_bpf_status {
	enum ts_bpf_failure failure;
	int err;                       /* positive errno when failure != NONE */
	char detail[TS_BPF_DETAIL_LEN]; /* KERNEL: the reason; VERIFIER: the last lines of
					 * the verifier's log; else "" */
};

#define TS_NETNS_DENIED_NAMES 4

/* What happened while collecting: the CLI reports these once, on stderr. */
struct ts_snapshot_stats {
	enum ts_backend backend;      /* the one that ran */
	bool owners_scanned;
	bool bound_dump;              /* kernel dumped BOUND (TCP_BOUND_INACTIVE) sockets */
	unsigned dump_retries;        /* dumps restarted after NLM_F_DUMP_INTR / ENOBUFS */
	unsigned malformed_messages;  /* skipped netlink messages */
	unsigned processes_denied;    /* /proc/PID/fd we could not read */
	unsigned fds_unclassified;    /* held sockets whose state we could not tell (UNKNOWN) */
	/* --all-netns: namespaces found but not entered (no right to open or setns() them),
	 * the first TS_NETNS_DENIED_NAMES of them by name ("init", a /run/netns name,
	 * "net:[INODE]"); and processes whose namespace could not even be identified
	 * (/proc/PID/ns/net not readable), so how many namespaces they are in is unknown. */
	unsigned netns_denied;
	char netns_denied_names[TS_NETNS_DENIED_NAMES][64];
	unsigned netns_unidentified_processes;
	/* Namespaces whose socket hashes held no TCP socket by their counts
	 * (/proc/net/sockstat{,6}: inuse and tw 0): not walked, as a walk costs
	 * the whole host's table. Their sockets held by fds still appear. */
	unsigned netns_without_tcp;
	unsigned fd_exhausted;        /* processes and held sockets not inspected because we ran
				       * out of file descriptors: owners or states are missing */
	int fd_exhausted_errno;       /* EMFILE (our RLIMIT_NOFILE) or ENFILE (the system's
				       * file table, fs.file-max), when fd_exhausted */
	int sock_diag_errno;          /* why netlink failed when we fell back, else 0 */
	enum ts_owner_source owner_source; /* the one that ran (PROC or BPF), when owners_scanned */
	struct ts_bpf_status bpf;     /* why the BPF source was not used (AUTO fell back),
				       * failure NONE when it ran or was not tried */
	struct ts_bpf_status socket_bpf; /* why a ts_collector's AUTO backend did not use
					  * the BPF socket source (NONE: it did, or it was
					  * not tried) */
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
 * same collection; it always fills *ret_bpf: failure is not NONE when the
 * collection failed because of the BPF source, so that callers can tell
 * that from a namespace error and say why.
 */
int ts_snapshot_collect_ex(const struct ts_snapshot_opts *opts, struct ts_snapshot **ret,
			   struct ts_bpf_status *ret_bpf);

/* Where a collection failed, so that the caller need not guess from the errno. */
enum ts_snapshot_stage {
	TS_SNAPSHOT_STAGE_NONE,    /* it did not fail */
	TS_SNAPSHOT_STAGE_OPTIONS, /* opts contradict each other (-EINVAL) */
	TS_SNAPSHOT_STAGE_NETNS,   /* resolving, opening or entering a namespace: the errors of
				    * ts_netns_lookup(), -EPERM/-EACCES to enter it */
	TS_SNAPSHOT_STAGE_DUMP,    /* reading the sockets (sock_diag or /proc/net): -EAGAIN when
				    * the dump kept being interrupted */
	TS_SNAPSHOT_STAGE_OWNERS,  /* the owner scan; bpf says why when the BPF source failed */
};

struct ts_snapshot_status {
	enum ts_snapshot_stage failed_stage;
	struct ts_bpf_status bpf; /* as ts_snapshot_collect_ex() fills it */
	struct ts_bpf_status socket_bpf; /* backend BPF: why its program could not run
					  * (stage DUMP), failure NONE otherwise */
};

/*
 * ts_snapshot_collect_ex() that also says at which stage it failed.
 * *ret_status (may be NULL) is always filled.
 */
int ts_snapshot_collect_status(const struct ts_snapshot_opts *opts, struct ts_snapshot **ret,
			       struct ts_snapshot_status *ret_status);

/*
 * Loads the BPF owner program into the running kernel and unloads it,
 * without reading anything: whether this machine can use the BPF owner
 * source, and if not why. Returns 0 (it loads) or the negative errno, with
 * *ret_status saying why (always filled).
 */
int ts_owner_source_bpf_probe(struct ts_bpf_status *ret_status);

/* Whether this build has the BPF owner source (not whether it will load). */
bool ts_owner_source_bpf_built(void);

/* The same for the BPF socket source (backend BPF, iter/tcp): loads its
 * program and unloads it. Built together with the owner source. */
int ts_socket_source_bpf_probe(struct ts_bpf_status *ret_status);

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
