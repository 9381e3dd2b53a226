/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/diagnose*.c: the rule context, and the helpers the rules share. */

#include "sock_index.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/socket.h"

/* Sockets per pid, sorted by pid. */
struct diag_pid_count {
	pid_t pid;
	uint64_t count;
};

/* Open addressing over (netns, local end, remote end) of CLOSE_WAIT sockets: who is the peer. */
struct diag_tuple_index {
	uint32_t *slots; /* socket index + 1; 0: empty */
	size_t mask;
};

struct diag_ctx {
	const struct ts_diag_input *in;
	const struct ts_snapshot *snap;
	struct ts_diag_thresholds th;
	struct ts_diagnosis *d;
	size_t cap;
	struct ts_diag_sysctls none; /* every setting unavailable */
	/* (netns << 16 | port) of every listener, sorted: a socket on such a port was accepted */
	uint32_t *listen_keys;
	size_t n_listen;
	/* With a second look: the sockets of each look by inode and cookie. */
	struct sock_index idx_first, idx_later;
	bool has_idx;
	/* Per pid: CLOSE_WAIT (old enough) + CLOSED sockets held, the severity rule's count. */
	struct diag_pid_count *stale;
	size_t n_stale;
	struct diag_tuple_index cw_peers; /* CLOSE_WAIT sockets of the first look */
};

/* Builds what the rules share (listeners, look indexes, per-pid held counts, peers). 0 or -ENOMEM. */
int diag_ctx_prepare(struct diag_ctx *c);
void diag_ctx_release(struct diag_ctx *c);

/* Whether s (of snap: the first or the later look) counts as old enough: its
 * peer has been silent for min_age_s (tcp_info), or, without tcp_info and with
 * a second look, it is in CLOSE_WAIT in both. *unknown (may be NULL) is set when
 * its age is unknown (no tcp_info, no second look): it counts then. */
bool diag_cw_settled(const struct diag_ctx *c, const struct ts_snapshot *snap, const struct ts_socket *s,
		     bool *unknown);
/* A CLOSED fd counts after --min-age: its peer silent that long (a program closes its fd a
 * moment after the connection ended, under churn all the time); unknown age counts. */
bool diag_closed_old(const struct diag_ctx *c, const struct ts_socket *s);
/* The local CLOSE_WAIT socket at the other end of s (IPv4-mapped IPv6 is IPv4), or NULL. */
const struct ts_socket *diag_cw_peer(const struct diag_ctx *c, const struct ts_socket *s);
/* Whether a listener of s's namespace is on s's local port (s was accepted, not connected). */
bool diag_is_accepted(const struct diag_ctx *c, const struct ts_socket *s);
/* Sets f's severity to critical when a holder of pids reaches the held or fd limit (the reason goes on f). */
void diag_holders_severity(const struct diag_ctx *c, struct ts_finding *f);

/* Appends a finding with the static texts of kind and the settings of netns_index; NULL on ENOMEM. */
struct ts_finding *diag_add(struct diag_ctx *c, enum ts_finding_kind kind, enum ts_severity sev,
			    uint32_t netns_index);

/* The settings of a namespace (all unavailable when the caller gave none). */
const struct ts_diag_sysctls *diag_sysctls(const struct diag_ctx *c, uint32_t netns_index);

/* Cites the namespace's counters (bits 1u << enum ts_netstat_counter) that the kernel reported. */
void diag_cite(const struct diag_ctx *c, struct ts_finding *f, uint32_t counters);

/* ---- lib/diagnose_util.c: helpers shared by the rules ---- */

/* One (socket, owner) with the key it is grouped by; unused key fields stay zero. */
struct diag_ent {
	uint32_t k_netns;
	uint8_t k_family;
	struct in6_addr k_addr;
	uint16_t k_port;
	uint16_t k_lport;
	pid_t k_pid;
	uint32_t sock;
	pid_t pid;
	int fd;
};

struct diag_ents {
	struct diag_ent *v;
	size_t n, cap;
};

int diag_ents_push(struct diag_ents *e, const struct diag_ent *x); /* 0 or -ENOMEM */
/* By key, then socket, then fd. */
void diag_ents_sort(struct diag_ents *e);
/* End of the run of entries sharing v[i]'s key. */
size_t diag_run_end(const struct diag_ents *e, size_t i);

/*
 * Sockets keyed by the set of processes holding them (distinct pids, sorted;
 * empty for sockets without an owner): a socket inherited by forked children
 * is one entry, not one per child.
 */
struct diag_hent {
	uint64_t hash;
	uint32_t netns;
	uint32_t sock;
	uint32_t off, n; /* pids in the pool */
};

struct diag_holders {
	struct diag_hent *v;
	size_t n, cap;
	pid_t *pool;
	size_t n_pool, cap_pool;
};

/* One entry per socket in m (owned, or also unowned), sorted by (netns, holder set, socket). */
int diag_gather_by_holders(const struct diag_ctx *c, ts_state_mask_t m, bool with_unowned,
			   struct diag_holders *h);
/* End of the run of entries sharing v[i]'s namespace and holder set. */
size_t diag_holders_run_end(const struct diag_holders *h, size_t i);
void diag_holders_free(struct diag_holders *h);
/* Sets f's pids to pids (n, any order; ordered parent first, bounded, the rest counted),
 * and the culprit: the first (oldest) with its facts. */
int diag_set_holders(struct diag_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		     const struct ts_diag_procs *procs, const struct ts_socket *s, const pid_t *pids,
		     size_t n);

/* Per owner (pid 0 / fd -1 for sockets without one), keyed by pid, sorted. 0 or -ENOMEM. */
int diag_gather_by_pid(const struct diag_ctx *c, const struct ts_snapshot *snap, ts_state_mask_t m,
		       bool with_unowned, struct diag_ents *e);
/*
 * One entry per socket in m that want (if not NULL) accepts, keyed by
 * (netns, family, remote address[, remote port]), sorted. 0 or -ENOMEM.
 */
int diag_gather_by_remote(const struct diag_ctx *c, ts_state_mask_t m, bool with_port,
			  bool (*want)(const struct diag_ctx *c, const struct ts_socket *s),
			  struct diag_ents *e);

const struct ts_socket *diag_sock_at(const struct diag_ctx *c, uint32_t i);
/* Owner i of a socket, or NULL. */
const struct ts_owner *diag_owner_of(const struct diag_ctx *c, const struct ts_socket *s, unsigned i);

/* Filling in a finding; the adders return 0 or -ENOMEM and keep each list bounded. */
/* Raises the finding's age to the time since s's peer last sent anything (tcp_info). */
void diag_note_age(struct ts_finding *f, const struct ts_socket *s);
int diag_add_fd(struct ts_finding *f, int fd);
/* Adds one socket to the group (family, lport, addr, rport) of f. */
int diag_add_group(struct ts_finding *f, const struct ts_socket *s, bool with_lport, bool with_rport,
		   uint64_t unread);
/* Adds s to the group of its stable end: local port (and remote address) when accepted
 * from a listener, remote address and port when it is a client's. */
int diag_add_stable_group(const struct diag_ctx *c, struct ts_finding *f, const struct ts_socket *s,
			  uint64_t unread);
/* Sorts the groups (largest first) and the fds; a single group's local port goes on f. */
void diag_finish_lists(struct ts_finding *f);
/* The culprit process: comm from the snapshot, facts from procs. */
void diag_set_culprit(const struct diag_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		      const struct ts_diag_procs *procs, pid_t pid, uint32_t process_index);
/* Pids (and, when a single process holds them all, its fds and facts) of e->v[i..end). */
int diag_add_owners(struct diag_ctx *c, struct ts_finding *f, const struct diag_ents *e, size_t i,
		    size_t end);
/* The remote end of f, from an entry's key. */
void diag_set_remote(struct ts_finding *f, const struct diag_ent *x, bool with_port);

/* The rules; each returns 0 or -ENOMEM. */
int diag_rule_close_wait(struct diag_ctx *c);
int diag_rule_leak(struct diag_ctx *c);
int diag_rule_dead_held(struct diag_ctx *c);
int diag_rule_fin_wait_2(struct diag_ctx *c);
int diag_rule_unacked_close(struct diag_ctx *c);
int diag_rule_time_wait(struct diag_ctx *c);
int diag_rule_listen(struct diag_ctx *c);
int diag_rule_syn_sent(struct diag_ctx *c);
