/* SPDX-License-Identifier: MIT */
/*
 * The registry of kernel settings (see tcpstate/sysctl_registry.h).
 *
 * Scope, checked in Linux (net/ipv4/sysctl_net_ipv4.c: ipv4_net_table is per
 * namespace, ipv4_table only in the initial one; net/core/sysctl_net_core.c:
 * somaxconn in netns_core_table) and on a running kernel (6.18) in a fresh
 * namespace: every net.* setting here has its own value per namespace except
 * tcp_max_orphans, which other namespaces do not even show; fs.* is
 * host-wide. Defaults are what a fresh namespace shows; NULL where Linux
 * sizes it from memory (tcp_max_orphans, tcp_max_tw_buckets,
 * tcp_max_syn_backlog from the established hash, file-max).
 */
#include <limits.h>
#include <string.h>

#include "tcpstate/sysctl_registry.h"

#define B(s) TS_STATE_BIT(TS_STATE_##s)
#define ROW(id_, path_, ...) \
	[TS_SYSCTL_##id_] = { .id = TS_SYSCTL_##id_, .name = TS_SYSCTL_NAME(id_), \
			      .path = "/proc/sys/" path_, __VA_ARGS__ }
#define TUNED(dflt, gov, netns, what_) \
	.tuned = true, .kernel_default = (dflt), .governs = (gov), .per_netns = (netns), .what = (what_)
#define CHECK(shape_, min_, max_, text) \
	.shape = TS_SYSCTL_SHAPE_##shape_, .min = (min_), .max = (max_), .range_text = (text)

/* The u8 retry counts and flags: proc_dou8vec_minmax. */
#define U8 CHECK(INT, 0, 255, "a number from 0 to 255")
/* Seconds stored as jiffies in an int: INT_MAX / HZ, HZ up to 1000. */
#define SECONDS CHECK(INT, INT_MIN / 1000, INT_MAX / 1000, "seconds, at most 2147483")
#define ANY_INT CHECK(INT, INT_MIN, INT_MAX, "an int")

static const struct ts_sysctl_info registry[_TS_SYSCTL_ID_MAX] = {
	ROW(TCP_FIN_TIMEOUT, "net/ipv4/tcp_fin_timeout",
	    TUNED("60", B(FIN_WAIT_2), true,
		  "seconds an orphaned socket (closed by its program) stays in FIN_WAIT_2; never CLOSE_WAIT"),
	    SECONDS),
	ROW(TCP_KEEPALIVE_TIME, "net/ipv4/tcp_keepalive_time",
	    TUNED("7200", B(ESTABLISHED), true,
		  "seconds of idleness before the first keepalive probe (sockets with SO_KEEPALIVE only)"),
	    SECONDS),
	ROW(TCP_KEEPALIVE_INTVL, "net/ipv4/tcp_keepalive_intvl",
	    TUNED("75", B(ESTABLISHED), true, "seconds between keepalive probes"),
	    SECONDS),
	ROW(TCP_KEEPALIVE_PROBES, "net/ipv4/tcp_keepalive_probes",
	    TUNED("9", B(ESTABLISHED), true, "unanswered keepalive probes before the connection is dropped"),
	    U8),
	ROW(TCP_RETRIES1, "net/ipv4/tcp_retries1",
	    TUNED("3", 0, true, "retransmissions before the kernel asks the network layer for a new route"),
	    U8),
	ROW(TCP_RETRIES2, "net/ipv4/tcp_retries2",
	    TUNED("15", B(ESTABLISHED) | B(FIN_WAIT_1) | B(LAST_ACK) | B(CLOSING), true,
		  "retransmissions of unacknowledged data before a held connection is dropped (15: ~15 min)"),
	    U8),
	ROW(TCP_ORPHAN_RETRIES, "net/ipv4/tcp_orphan_retries",
	    TUNED("0", B(FIN_WAIT_1) | B(LAST_ACK) | B(CLOSING), true,
		  "retransmissions before an orphaned socket is dropped (0 means 8)"),
	    U8),
	ROW(TCP_MAX_ORPHANS, "net/ipv4/tcp_max_orphans",
	    TUNED(NULL, B(FIN_WAIT_1) | B(FIN_WAIT_2) | B(LAST_ACK) | B(CLOSING), false,
		  "orphaned sockets host-wide; beyond it orphans are reset at once"),
	    ANY_INT),
	ROW(TCP_MAX_TW_BUCKETS, "net/ipv4/tcp_max_tw_buckets",
	    TUNED(NULL, B(TIME_WAIT) | B(FIN_WAIT_2), true,
		  "TIME_WAIT sockets kept; beyond it new ones are destroyed at once"),
	    ANY_INT),
	ROW(TCP_TW_REUSE, "net/ipv4/tcp_tw_reuse",
	    TUNED("2", B(TIME_WAIT), true,
		  "outgoing connect() may reuse a TIME_WAIT port (1: always, 2: loopback only)"),
	    CHECK(INT, 0, 2, "tcp_tw_reuse is 0, 1 or 2")),
	ROW(IP_LOCAL_PORT_RANGE, "net/ipv4/ip_local_port_range",
	    TUNED("32768\t60999", B(TIME_WAIT) | B(SYN_SENT), true,
		  "ephemeral ports for outgoing connections"),
	    CHECK(RANGE, 1024, 65535,
		  "two ports LOW HIGH, 1024 <= LOW <= HIGH <= 65535 (LOW may be lower only when "
		  TS_SYSCTL_NAME(IP_UNPRIVILEGED_PORT_START) " is)")),
	ROW(TCP_SYN_RETRIES, "net/ipv4/tcp_syn_retries",
	    TUNED("6", B(SYN_SENT), true, "SYN retransmissions of connect() before it fails (6: ~127 s)"),
	    CHECK(INT, 1, 127, "tcp_syn_retries is 1 to 127")),
	ROW(TCP_SYNACK_RETRIES, "net/ipv4/tcp_synack_retries",
	    TUNED("5", B(SYN_RECEIVED), true,
		  "SYN-ACK retransmissions before a half-open connection is dropped (5: ~63 s)"),
	    U8),
	ROW(TCP_MAX_SYN_BACKLOG, "net/ipv4/tcp_max_syn_backlog",
	    TUNED(NULL, B(SYN_RECEIVED), true,
		  "half-open connections kept per listener before SYNs are dropped (without syncookies)"),
	    ANY_INT),
	ROW(TCP_SYNCOOKIES, "net/ipv4/tcp_syncookies",
	    TUNED("1", B(SYN_RECEIVED), true,
		  "answer SYNs with cookies when the SYN queue overflows (1: only then)"),
	    CHECK(INT, 0, 255, "a number from 0 to 255 (meaningful: 0, 1, 2)")),
	ROW(SOMAXCONN, "net/core/somaxconn",
	    TUNED("4096", B(LISTEN), true, "upper limit of a listen() backlog (the accept queue)"),
	    CHECK(INT, 0, INT_MAX, "a number from 0 to 2147483647")),
	ROW(TCP_ABORT_ON_OVERFLOW, "net/ipv4/tcp_abort_on_overflow",
	    TUNED("0", B(LISTEN), true,
		  "1: reset connections when the accept queue is full instead of dropping the ACK"),
	    CHECK(INT, 0, 255, "a number from 0 to 255 (meaningful: 0, 1)")),
	ROW(NR_OPEN, "fs/nr_open",
	    TUNED("1048576", 0, false, "highest RLIMIT_NOFILE a process may set (host-wide)"),
	    CHECK(INT, 64, 2147483584, "a number from 64 to 2147483584")),
	ROW(FILE_MAX, "fs/file-max",
	    TUNED(NULL, 0, false, "open files host-wide"),
	    CHECK(INT, 0, INT64_MAX, "a number from 0 up")),

	ROW(TCP_TW_RECYCLE, "net/ipv4/tcp_tw_recycle",
	    .kernel_default = "0", .governs = B(TIME_WAIT), .per_netns = true, .removed_in = "4.12",
	    .what = "dropped SYNs with older timestamps from a peer that had TIME_WAIT here (broke "
		    "clients behind NAT)"),
	ROW(NF_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT, "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	    .kernel_default = "60", .governs = 0, .per_netns = true,
	    .what = "seconds connection tracking remembers a flow it saw in CLOSE_WAIT; not the socket"),
	ROW(IP_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT, "net/ipv4/netfilter/ip_conntrack_tcp_timeout_close_wait",
	    .kernel_default = "60", .governs = 0, .per_netns = true,
	    .what = "the old ip_conntrack name of nf_conntrack_tcp_timeout_close_wait"),
	ROW(IP_UNPRIVILEGED_PORT_START, "net/ipv4/ip_unprivileged_port_start",
	    .kernel_default = "1024", .governs = 0, .per_netns = true,
	    .what = "the first port a process may bind without CAP_NET_BIND_SERVICE"),
	ROW(TCP_RFC1337, "net/ipv4/tcp_rfc1337",
	    .kernel_default = "0", .governs = B(TIME_WAIT), .per_netns = true,
	    .what = "1: a RST does not end TIME_WAIT early (RFC 1337's TIME-WAIT assassination)"),
};

#undef B

const struct ts_sysctl_info *ts_sysctl_info(enum ts_sysctl_id id)
{
	return (unsigned)id < _TS_SYSCTL_ID_MAX ? &registry[id] : NULL;
}

const struct ts_sysctl_info *ts_sysctl_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < _TS_SYSCTL_ID_MAX; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

const struct ts_sysctl_info *ts_sysctl_known(size_t *ret_n)
{
	size_t n = 0;

	while (n < _TS_SYSCTL_ID_MAX && registry[n].tuned)
		n++;
	*ret_n = n;
	return registry;
}

const struct ts_sysctl_info *ts_sysctl_lookup(const char *name)
{
	const struct ts_sysctl_info *info = ts_sysctl_find(name);

	return info && info->tuned ? info : NULL;
}
