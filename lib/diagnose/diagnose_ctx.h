/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/diagnose*.c: the rule context, and the helpers the rules share. */

#include "snapshot/sock_index.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/socket.h"

/* Sockets per pid, sorted by pid. */
struct diagnose_pid_count {
	pid_t pid;
	uint64_t count;
};

/* Open addressing over (netns, local end, remote end) of CLOSE_WAIT sockets: who is the peer. */
struct diagnose_tuple_index {
	uint32_t *slots; /* socket index + 1; 0: empty */
	size_t mask;
};

/* Where a finding's groups are (MAX_GROUPS of them at most): one finding at a time, while
 * its groups are appended (diagnose_finish_lists() sorts them and lets go). */
#define DIAGNOSE_GROUP_SLOTS 512
struct diagnose_group_index {
	const struct ts_finding *f;
	size_t n;                               /* f's groups indexed */
	uint16_t slots[DIAGNOSE_GROUP_SLOTS];   /* group + 1; 0: free */
};

struct diagnose_ctx {
	const struct ts_diagnose_input *in;
	const struct ts_snapshot *snap;
	struct ts_diagnose_thresholds th;
	struct ts_diagnosis *d;
	size_t cap;
	struct ts_diagnose_sysctls none; /* every setting unavailable */
	/* (netns << 16 | port) of every listener, sorted: a socket on such a port was accepted */
	uint32_t *listen_keys;
	size_t n_listen;
	/* With a second look: the sockets of each look by inode and cookie. */
	struct sock_index idx_first, idx_later;
	bool has_idx;
	/* Per pid: CLOSE_WAIT (old enough) + CLOSED sockets held, the severity rule's count. */
	struct diagnose_pid_count *stale;
	size_t n_stale;
	struct diagnose_tuple_index cw_peers; /* CLOSE_WAIT sockets of the first look */
	struct diagnose_group_index groups;
	/* Each look's socket states, a byte per socket: the rules' passes over every socket
	 * read these, not the sockets (a socket's state sits past its ~300 bytes of facts). */
	uint8_t *states, *states_later;
};

/* Builds what the rules share (listeners, look indexes, per-pid held counts, peers). 0 or -ENOMEM. */
int diagnose_ctx_prepare(struct diagnose_ctx *c);
void diagnose_ctx_release(struct diagnose_ctx *c);

/* Whether s (of snap: the first or the later look) counts as old enough: its
 * peer has been silent for min_age_s (tcp_info), or, without tcp_info and with
 * a second look, it is in CLOSE_WAIT in both. *unknown (may be NULL) is set when
 * its age is unknown (no tcp_info, no second look): it counts then. */
bool diagnose_cw_settled(const struct diagnose_ctx *c, const struct ts_snapshot *snap, const struct ts_socket *s,
		     bool *unknown);
/*
 * The one --min-age test of the rules: s's age is its peer's silence (tcp_info,
 * ts_socket_peer_silence_ms(): a lower bound of the time since the peer's FIN in
 * CLOSE_WAIT, since it ACKed ours in FIN_WAIT_2). Returns 1 (min_age_s old or
 * more), 0 (younger), -ENODATA (no tcp_info: age unknown).
 */
int diagnose_age_check(const struct diagnose_ctx *c, const struct ts_socket *s);
/* CLOSED fds and FIN_WAIT_2 count after --min-age (a program closes its fd, a peer sends its
 * FIN, a moment after, under churn all the time); unknown age counts. */
bool diagnose_old_enough(const struct diagnose_ctx *c, const struct ts_socket *s);
/* The local CLOSE_WAIT socket at the other end of s (IPv4-mapped IPv6 is IPv4), or NULL. */
const struct ts_socket *diagnose_cw_peer(const struct diagnose_ctx *c, const struct ts_socket *s);
/* Whether a listener of s's namespace is on s's local port (s was accepted, not connected). */
bool diagnose_is_accepted(const struct diagnose_ctx *c, const struct ts_socket *s);
/* Sets f's severity to critical when a holder of pids reaches the held or fd limit (the reason goes on f). */
void diagnose_holders_severity(const struct diagnose_ctx *c, struct ts_finding *f);

/* Appends a finding with the static texts of kind and the settings of netns_index; NULL on ENOMEM. */
struct ts_finding *diagnose_add(struct diagnose_ctx *c, enum ts_finding_kind kind, enum ts_severity sev,
			    uint32_t netns_index);

/* The settings of a namespace (all unavailable when the caller gave none). */
const struct ts_diagnose_sysctls *diagnose_sysctls(const struct diagnose_ctx *c, uint32_t netns_index);

/* Cites the namespace's counters (bits 1u << enum ts_netstat_counter) that the kernel reported. */
void diagnose_cite(const struct diagnose_ctx *c, struct ts_finding *f, uint32_t counters);

/* ---- lib/diagnose/diagnose_ctx.c: helpers shared by the rules ---- */

/* One (socket, owner) with the key it is grouped by; unused key fields stay zero. */
struct diagnose_ent {
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

struct diagnose_ents {
	struct diagnose_ent *v;
	size_t n, cap;
};

int diagnose_ents_push(struct diagnose_ents *e, const struct diagnose_ent *x); /* 0 or -ENOMEM */
/* By key, then socket, then fd. */
void diagnose_ents_sort(struct diagnose_ents *e);
/* End of the run of entries sharing v[i]'s key. */
size_t diagnose_run_end(const struct diagnose_ents *e, size_t i);

/*
 * Sockets keyed by the set of processes holding them (distinct pids, sorted;
 * empty for sockets without an owner): a socket inherited by forked children
 * is one entry, not one per child.
 */
struct diagnose_hent {
	uint64_t hash;
	uint32_t netns;
	uint32_t sock;
	uint32_t off, n; /* pids in the pool */
};

struct diagnose_holders {
	struct diagnose_hent *v;
	size_t n, cap;
	pid_t *pool;
	size_t n_pool, cap_pool;
};

/* One entry per socket in m (owned, or also unowned), sorted by (netns, holder set, socket). */
int diagnose_gather_by_holders(const struct diagnose_ctx *c, ts_state_mask_t m, bool with_unowned,
			   struct diagnose_holders *h);
/* End of the run of entries sharing v[i]'s namespace and holder set. */
size_t diagnose_holders_run_end(const struct diagnose_holders *h, size_t i);
void diagnose_holders_free(struct diagnose_holders *h);
/* Sets f's pids to pids (n, any order; ordered parent first, bounded, the rest counted),
 * and the culprit: the first (oldest) with its facts. */
int diagnose_set_holders(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		     const struct ts_diagnose_procs *procs, const struct ts_socket *s, const pid_t *pids,
		     size_t n);

/* Per owner (pid 0 / fd -1 for sockets without one), keyed by pid, sorted. 0 or -ENOMEM. */
int diagnose_gather_by_pid(const struct diagnose_ctx *c, const struct ts_snapshot *snap, ts_state_mask_t m,
		       bool with_unowned, struct diagnose_ents *e);
/*
 * One entry per socket in m that want (if not NULL) accepts, keyed by
 * (netns, family, remote address[, remote port]), sorted. 0 or -ENOMEM.
 */
int diagnose_gather_by_remote(const struct diagnose_ctx *c, ts_state_mask_t m, bool with_port,
			  bool (*want)(const struct diagnose_ctx *c, const struct ts_socket *s),
			  struct diagnose_ents *e);

const struct ts_socket *diagnose_sock_at(const struct diagnose_ctx *c, uint32_t i);
/* Whether socket i of snap (the first look or the later one) is in a state of m. */
static inline bool diagnose_state_in(const struct diagnose_ctx *c, const struct ts_snapshot *snap, size_t i,
				     ts_state_mask_t m)
{
	uint8_t st = (snap == c->snap ? c->states : c->states_later)[i];

	return st < _TS_STATE_MAX && (m & TS_STATE_BIT(st));
}
/* Owner i of a socket, or NULL. */
const struct ts_owner *diagnose_owner_of(const struct diagnose_ctx *c, const struct ts_socket *s, unsigned i);

/* Filling in a finding; the adders return 0 or -ENOMEM and keep each list bounded. */
/* Raises the finding's age to the time since s's peer last sent anything (tcp_info). */
void diagnose_note_age(struct ts_finding *f, const struct ts_socket *s);
int diagnose_add_fd(struct ts_finding *f, int fd);
/* Adds one socket to the group (family, lport, addr, rport) of f. */
int diagnose_add_group(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s,
		       bool with_lport, bool with_rport, uint64_t unread);
/* Adds s to the group of its stable end: local port (and remote address) when accepted
 * from a listener, remote address and port when it is a client's. */
int diagnose_add_stable_group(struct diagnose_ctx *c, struct ts_finding *f, const struct ts_socket *s,
			  uint64_t unread);
/* Sorts the groups (largest first) and the fds; a single group's local port goes on f. */
void diagnose_finish_lists(struct diagnose_ctx *c, struct ts_finding *f);
/* The culprit process: comm from the snapshot, facts from procs. */
void diagnose_set_culprit(const struct diagnose_ctx *c, struct ts_finding *f, const struct ts_snapshot *snap,
		      const struct ts_diagnose_procs *procs, pid_t pid, uint32_t process_index);
/* Pids (and, when a single process holds them all, its fds and facts) of e->v[i..end). */
int diagnose_add_owners(struct diagnose_ctx *c, struct ts_finding *f, const struct diagnose_ents *e, size_t i,
		    size_t end);
/* The remote end of f, from an entry's key. */
void diagnose_set_remote(struct ts_finding *f, const struct diagnose_ent *x, bool with_port);

/* The rules; each returns 0 or -ENOMEM. */
int diagnose_rule_close_wait(struct diagnose_ctx *c);
int diagnose_rule_leak(struct diagnose_ctx *c);
int diagnose_rule_dead_held(struct diagnose_ctx *c);
int diagnose_rule_fin_wait_2(struct diagnose_ctx *c);
int diagnose_rule_unacked_close(struct diagnose_ctx *c);
int diagnose_rule_time_wait(struct diagnose_ctx *c);
int diagnose_rule_listen(struct diagnose_ctx *c);
int diagnose_rule_syn_sent(struct diagnose_ctx *c);
