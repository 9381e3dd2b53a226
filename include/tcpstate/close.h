/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Ending TCP sockets, three ways:
 *   rst  SOCK_DESTROY through sock_diag: the kernel aborts the socket; in
 *        ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1/2 and SYN_RECEIVED the peer gets
 *        a RST; a holder's next call fails with ECONNABORTED, its fd stays
 *        open. A TIME_WAIT entry or a connection not yet accepted is just
 *        dropped, without a packet.
 *   fin  shutdown(SHUT_WR) on a copy of the owner's fd (pidfd_getfd): an
 *        orderly FIN; the fd stays open in the owner.
 *   fd   close(fd) run inside the owner (ptrace_close_fd()).
 * Every call checks the socket's identity right before it acts. The library
 * prints nothing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpstate/activity.h"
#include "tcpstate/socket.h"

enum ts_close_how {
	TS_CLOSE_RST,
	TS_CLOSE_FIN,
	TS_CLOSE_FD,
	_TS_CLOSE_HOW_MAX,
};

/* "rst", "fin", "fd"; NULL when out of range. */
const char *ts_close_how_name(enum ts_close_how how);

/* Parses "rst", "fin" or "fd" (lower case). Returns 0 or -EINVAL. */
int ts_close_how_parse(const char *s, enum ts_close_how *ret);

/* Why a socket is left alone without trying (decided from the snapshot). */
enum ts_close_verdict {
	TS_CLOSE_ACT,
	TS_CLOSE_SKIP_LISTEN,       /* a listener, and LISTEN was not named */
	TS_CLOSE_SKIP_NO_FD,        /* TIME_WAIT or request socket: no fd, rst only */
	TS_CLOSE_SKIP_NOT_HASHED,   /* rst: IDLE/BOUND/CLOSED/UNKNOWN are in no lookup table */
	TS_CLOSE_SKIP_NO_OWNER,     /* fin/fd: no holder (pid, fd) is known */
	TS_CLOSE_SKIP_NO_COOKIE,    /* rst: no cookie, so the identity cannot be checked */
	TS_CLOSE_SKIP_FIN_SENT,     /* fin: this end already sent its FIN */
	TS_CLOSE_SKIP_NOT_CONNECTED,/* fin: LISTEN, SYN_SENT, IDLE, BOUND, CLOSED, UNKNOWN */
	TS_CLOSE_SKIP_IN_USE,       /* idle less than min_idle_s, data queued, or idle time unknown */
	_TS_CLOSE_VERDICT_MAX,
};

/*
 * Decides whether a socket can be acted on with how. n_owners is the number
 * of holders known; listen_named is true when the user named LISTEN itself.
 */
enum ts_close_verdict ts_close_verdict(const struct ts_socket *s, size_t n_owners,
				       enum ts_close_how how, bool listen_named);

/* One line saying why (static). */
const char *ts_close_verdict_reason(enum ts_close_verdict v);

/*
 * Builds the SOCK_DESTROY request for s (family, state bit, the 4-tuple and
 * the cookie; NLM_F_REQUEST|NLM_F_ACK) in buf. Returns the message length,
 * -ENOSPC when buf is too small (128 bytes always suffice), -EINVAL for a
 * socket that is not AF_INET/AF_INET6.
 */
int ts_close_destroy_request(const struct ts_socket *s, uint32_t seq, void *buf, size_t size);

/*
 * Parses the kernel's answer to the request with this seq. Returns 0 (the
 * socket was destroyed), the kernel's negative errno, -EBADMSG (malformed),
 * or -EAGAIN (no answer to seq in buf).
 */
int ts_close_destroy_ack(const void *buf, size_t len, uint32_t seq);

/*
 * SOCK_DESTROY through nl_fd, a NETLINK_SOCK_DIAG socket opened in the
 * socket's namespace. The kernel looks the 4-tuple up and compares the cookie.
 * Returns 0, -ENOENT (no socket with that 4-tuple any more), -ESTALE (another
 * socket has it now), -EPERM (no CAP_NET_ADMIN over the namespace),
 * -EOPNOTSUPP (kernel without CONFIG_INET_DIAG_DESTROY), or another errno.
 */
int ts_close_destroy(int nl_fd, const struct ts_socket *s);

/*
 * Takes a copy of fd from pid (pidfd_getfd), checks that it is still the
 * socket with this inode (fstat) and cookie (SO_COOKIE; not checked when 0),
 * and calls shutdown(SHUT_WR) on it. The owner's fd stays open.
 * Returns 0, -ESRCH (pid gone), -EBADF (fd closed), -ESTALE (the fd is
 * something else now), -EPERM (not allowed to copy it), -ENOTCONN, or -errno.
 */
int ts_close_shutdown(pid_t pid, int fd, uint64_t inode, uint64_t cookie);

/*
 * close(fd) inside pid, after the identity and SO_LINGER checks of
 * ptrace_close_fd() (lib/close/ptrace_close.h), whose return values it passes on:
 * 0 when the fd was released, -EAGAIN when close() would block on SO_LINGER
 * (not touched), -EINTR when SIGINT/SIGTERM/SIGHUP/SIGQUIT was pending before
 * it ran (not touched). *ret_detail (may be NULL) gets a short static
 * sentence; on success "closed", or "closed: " and how, when close() was
 * interrupted or returned an error.
 */
int ts_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail);

/* ---- a plan: what to do to each socket of a snapshot, and what happened ---- */

struct ts_snapshot;
struct ts_netns;

enum ts_close_outcome {
	TS_CLOSE_PLANNED, /* to be acted on (a holder: not tried) */
	TS_CLOSE_DONE,
	TS_CLOSE_SKIPPED, /* left alone: refused by the rules, or its identity changed */
	TS_CLOSE_FAILED,  /* tried, and the kernel or the process said no */
	_TS_CLOSE_OUTCOME_MAX,
};

/* "planned", "done", "skipped", "failed". */
const char *ts_close_outcome_name(enum ts_close_outcome o);

/* One (pid, fd) holding a socket. */
struct ts_close_holder {
	pid_t pid;
	int fd;
	const char *comm;             /* points into the snapshot */
	enum ts_close_outcome outcome;
	int err;                      /* negative errno when not done */
	const char *detail;           /* static; NULL when not tried */
};

struct ts_close_item {
	const struct ts_socket *s;    /* points into the snapshot */
	const struct ts_netns *ns;
	enum ts_close_verdict verdict;
	enum ts_idle_verdict idle;    /* judged when min_idle_s > 0 and verdict allowed acting */
	bool has_activity;            /* act is known */
	struct ts_activity act;
	enum ts_close_outcome outcome;
	int err;                      /* negative errno behind a skip or failure after trying */
	char reason[256];             /* why skipped or failed, or what was done */
	struct ts_close_holder *holders;
	size_t n_holders;
};

struct ts_close_opts {
	enum ts_close_how how;
	bool listen_named;   /* LISTEN itself was named in --state */
	const char *netns;   /* as given to the snapshot (NULL: the caller's) */
	bool all_netns;      /* the snapshot covered every namespace */
	/*
	 * Act only on sockets abandoned this long (ts_socket_idle_verdict()):
	 * no data either way and no ACK for min_idle_s seconds, nothing unread,
	 * nothing unacknowledged. 0: no such test (sockets in use are hit too).
	 * Needs a snapshot taken with tcp_info.
	 */
	uint32_t min_idle_s;
};

struct ts_close_plan;

/*
 * Decides, for each socket of snap, whether it can be acted on (see
 * ts_close_verdict()), then, with o->min_idle_s, whether it was abandoned
 * (TS_CLOSE_SKIP_IN_USE otherwise, the reason saying what moved and when).
 * The plan points into snap: free it first.
 * Returns 0 or -ENOMEM; *ret set only on success.
 */
int ts_close_plan_build(const struct ts_snapshot *snap, const struct ts_close_opts *o,
			struct ts_close_plan **ret);

/*
 * Acts on every planned item, re-checking each identity right before:
 * each item ends done, skipped (gone, identity changed, traced) or failed
 * (errno). rst opens one NETLINK_SOCK_DIAG socket per namespace, inside it.
 */
void ts_close_plan_execute(struct ts_close_plan *p);

/*
 * The same, asking stop(data) before each socket and each further holder of
 * one: once it returns true, the rest is skipped untried (-EINTR). A holder
 * being closed is finished first (ts_close_fd() itself cuts a blocked close()
 * short for SIGINT, SIGTERM, SIGHUP and SIGQUIT, and restores the process).
 */
void ts_close_plan_execute_until(struct ts_close_plan *p, bool (*stop)(void *data), void *data);

size_t ts_close_plan_size(const struct ts_close_plan *p);
const struct ts_close_item *ts_close_plan_item(const struct ts_close_plan *p, size_t i);
size_t ts_close_plan_count(const struct ts_close_plan *p, enum ts_close_outcome o);

/* Accepts NULL; returns NULL. */
struct ts_close_plan *ts_close_plan_free(struct ts_close_plan *p);
