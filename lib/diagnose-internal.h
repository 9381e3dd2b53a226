/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/diagnose*.c: the rule context, and the helpers the rules share. */

#include "tcpstate/diagnose.h"
#include "tcpstate/socket.h"

struct diag_ctx {
	const struct ts_diag_input *in;
	const struct ts_snapshot *snap;
	struct ts_diag_thresholds th;
	struct ts_diagnosis *d;
	size_t cap;
	struct ts_diag_sysctls none; /* every setting unavailable */
};

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
int diag_add_pid(struct ts_finding *f, pid_t pid);
int diag_add_fd(struct ts_finding *f, int fd);
/* Adds one socket to the group (family, lport, addr, rport) of f. */
int diag_add_group(struct ts_finding *f, const struct ts_socket *s, bool with_lport, bool with_rport,
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
