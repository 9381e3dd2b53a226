/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The kernel's own TCP counters of a network namespace (the TcpExt: lines
 * of /proc/net/netstat, which nstat shows as TcpExtNAME): evidence that a
 * finding can cite. They count since the namespace was created (for the
 * host's, since boot).
 */

#include <stdbool.h>
#include <stdint.h>

enum ts_netstat_counter {
	TS_NSTAT_LISTEN_OVERFLOWS,      /* ListenOverflows: accept queue full, handshake dropped */
	TS_NSTAT_LISTEN_DROPS,          /* ListenDrops: SYNs and ACKs a listener dropped, any reason */
	TS_NSTAT_DEFER_ACCEPT_DROP,     /* TCPDeferAcceptDrop: bare ACKs held back by TCP_DEFER_ACCEPT */
	TS_NSTAT_SYNCOOKIES_SENT,       /* SyncookiesSent */
	TS_NSTAT_SYNCOOKIES_FAILED,     /* SyncookiesFailed */
	TS_NSTAT_REQQ_FULL_DO_COOKIES,  /* TCPReqQFullDoCookies: SYN queue full, answered with a cookie */
	TS_NSTAT_REQQ_FULL_DROP,        /* TCPReqQFullDrop: SYN queue full, SYN dropped */
	TS_NSTAT_TIMEWAIT_OVERFLOW,     /* TCPTimeWaitOverflow: no TIME_WAIT (tcp_max_tw_buckets) */
	TS_NSTAT_ABORT_ON_MEMORY,       /* TCPAbortOnMemory: orphans reset (tcp_max_orphans, memory) */
	TS_NSTAT_ABORT_ON_TIMEOUT,      /* TCPAbortOnTimeout: retries ran out */
	_TS_NSTAT_MAX,
};

/* The counters of one namespace. */
struct ts_netstat {
	uint64_t value[_TS_NSTAT_MAX];
	uint32_t have;                   /* bit (1u << counter): this kernel reports it */
};

/* nstat's name ("TcpExtListenOverflows"); NULL out of range. */
const char *ts_netstat_name(enum ts_netstat_counter c);

/* Whether the kernel reported c (its value is then in value[c]). */
static inline bool ts_netstat_has(const struct ts_netstat *n, enum ts_netstat_counter c)
{
	return n && (unsigned)c < _TS_NSTAT_MAX && (n->have & (1u << c));
}

/*
 * Parses the text of /proc/net/netstat: pairs of lines "TcpExt: NAME..."
 * and "TcpExt: VALUE..."; other groups and unknown names are skipped.
 * Returns 0, -EBADMSG (a header without its values line, counts that
 * differ, a value that is not a decimal number) or -ENODATA (no TcpExt
 * group). *ret is set only on success.
 */
int ts_netstat_parse(const char *text, struct ts_netstat *ret);

/*
 * Reads the counters of a network namespace: netns is what --netns takes (a
 * /run/netns name, a path, a pid) or NULL for the caller's own. Returns 0,
 * the errors of ts_netstat_parse(), -ENOENT (no such namespace), -EPERM /
 * -EACCES (not allowed to enter it), -EFBIG (the file is implausibly large)
 * or another -errno. *ret is set only on success.
 */
int ts_netstat_read(const char *netns, struct ts_netstat *ret);
