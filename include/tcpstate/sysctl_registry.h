/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The registry of the kernel settings tcpstate knows: one row per setting,
 * keyed by enum ts_sysctl_id, with its dotted name, its /proc/sys path, its
 * scope, its kernel default, the states it governs and the values the kernel
 * accepts. tune, doctor, explain and the lint all read names, paths and
 * defaults from here (libts_core: it needs no handle; reading and writing a
 * setting is tcpstate/sysctl.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/state.h"

/*
 * Every setting, in the registry's order. The settings `tune` audits come
 * first, in the order of its rows (ts_sysctl_known()).
 */
enum ts_sysctl_id {
	TS_SYSCTL_TCP_FIN_TIMEOUT,
	TS_SYSCTL_TCP_KEEPALIVE_TIME,
	TS_SYSCTL_TCP_KEEPALIVE_INTVL,
	TS_SYSCTL_TCP_KEEPALIVE_PROBES,
	TS_SYSCTL_TCP_RETRIES1,
	TS_SYSCTL_TCP_RETRIES2,
	TS_SYSCTL_TCP_ORPHAN_RETRIES,
	TS_SYSCTL_TCP_MAX_ORPHANS,
	TS_SYSCTL_TCP_MAX_TW_BUCKETS,
	TS_SYSCTL_TCP_TW_REUSE,
	TS_SYSCTL_IP_LOCAL_PORT_RANGE,
	TS_SYSCTL_TCP_SYN_RETRIES,
	TS_SYSCTL_TCP_SYNACK_RETRIES,
	TS_SYSCTL_TCP_MAX_SYN_BACKLOG,
	TS_SYSCTL_TCP_SYNCOOKIES,
	TS_SYSCTL_SOMAXCONN,
	TS_SYSCTL_TCP_ABORT_ON_OVERFLOW,
	TS_SYSCTL_NR_OPEN,
	TS_SYSCTL_FILE_MAX,
	/* Named by the lint, the value checks and the state pages; not audited by tune. */
	TS_SYSCTL_TCP_TW_RECYCLE,
	TS_SYSCTL_NF_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
	TS_SYSCTL_IP_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
	TS_SYSCTL_IP_UNPRIVILEGED_PORT_START,
	TS_SYSCTL_TCP_RFC1337,
	_TS_SYSCTL_ID_MAX,
};

/*
 * The dotted names, as constants for static tables (a list of names in a
 * static initializer cannot call ts_sysctl_info()): TS_SYSCTL_NAME(TCP_RETRIES2).
 * The registry's rows are built from these; nothing else spells a name.
 */
#define TS_SYSCTL_NAME(id) TS_SYSCTL_NAME_##id
#define TS_SYSCTL_NAME_TCP_FIN_TIMEOUT "net.ipv4.tcp_fin_timeout"
#define TS_SYSCTL_NAME_TCP_KEEPALIVE_TIME "net.ipv4.tcp_keepalive_time"
#define TS_SYSCTL_NAME_TCP_KEEPALIVE_INTVL "net.ipv4.tcp_keepalive_intvl"
#define TS_SYSCTL_NAME_TCP_KEEPALIVE_PROBES "net.ipv4.tcp_keepalive_probes"
#define TS_SYSCTL_NAME_TCP_RETRIES1 "net.ipv4.tcp_retries1"
#define TS_SYSCTL_NAME_TCP_RETRIES2 "net.ipv4.tcp_retries2"
#define TS_SYSCTL_NAME_TCP_ORPHAN_RETRIES "net.ipv4.tcp_orphan_retries"
#define TS_SYSCTL_NAME_TCP_MAX_ORPHANS "net.ipv4.tcp_max_orphans"
#define TS_SYSCTL_NAME_TCP_MAX_TW_BUCKETS "net.ipv4.tcp_max_tw_buckets"
#define TS_SYSCTL_NAME_TCP_TW_REUSE "net.ipv4.tcp_tw_reuse"
#define TS_SYSCTL_NAME_IP_LOCAL_PORT_RANGE "net.ipv4.ip_local_port_range"
#define TS_SYSCTL_NAME_TCP_SYN_RETRIES "net.ipv4.tcp_syn_retries"
#define TS_SYSCTL_NAME_TCP_SYNACK_RETRIES "net.ipv4.tcp_synack_retries"
#define TS_SYSCTL_NAME_TCP_MAX_SYN_BACKLOG "net.ipv4.tcp_max_syn_backlog"
#define TS_SYSCTL_NAME_TCP_SYNCOOKIES "net.ipv4.tcp_syncookies"
#define TS_SYSCTL_NAME_SOMAXCONN "net.core.somaxconn"
#define TS_SYSCTL_NAME_TCP_ABORT_ON_OVERFLOW "net.ipv4.tcp_abort_on_overflow"
#define TS_SYSCTL_NAME_NR_OPEN "fs.nr_open"
#define TS_SYSCTL_NAME_FILE_MAX "fs.file-max"
#define TS_SYSCTL_NAME_TCP_TW_RECYCLE "net.ipv4.tcp_tw_recycle"
#define TS_SYSCTL_NAME_NF_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT "net.netfilter.nf_conntrack_tcp_timeout_close_wait"
#define TS_SYSCTL_NAME_IP_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT "net.ipv4.netfilter.ip_conntrack_tcp_timeout_close_wait"
#define TS_SYSCTL_NAME_IP_UNPRIVILEGED_PORT_START "net.ipv4.ip_unprivileged_port_start"
#define TS_SYSCTL_NAME_TCP_RFC1337 "net.ipv4.tcp_rfc1337"

/* The shape of a value, for the check of what the kernel accepts. */
enum ts_sysctl_shape {
	TS_SYSCTL_SHAPE_UNCHECKED,  /* values not checked */
	TS_SYSCTL_SHAPE_INT,        /* one integer in [min, max] */
	TS_SYSCTL_SHAPE_RANGE,      /* two integers LOW HIGH, min <= LOW <= HIGH <= max */
};

/* One row of the registry. */
struct ts_sysctl_info {
	const char *name;           /* dotted */
	const char *kernel_default; /* text as the kernel prints it; NULL when it depends on memory */
	ts_state_mask_t governs;    /* states whose lifetime or number it bounds */
	bool per_netns;             /* false: host-wide (fs.*, tcp_max_orphans) */
	const char *what;           /* one line: what it does */
	enum ts_sysctl_id id;
	const char *path;           /* "/proc/sys/net/ipv4/tcp_fin_timeout" */
	bool tuned;                 /* one of the settings `tune` audits and manages */
	const char *removed_in;     /* the Linux version that removed it; NULL: still there */
	enum ts_sysctl_shape shape; /* what the kernel accepts: */
	int64_t min, max;
	const char *range_text;     /* ... said in a sentence; NULL when unchecked */
};

/* The row of id; NULL out of range. */
const struct ts_sysctl_info *ts_sysctl_info(enum ts_sysctl_id id);

/* The row of a dotted name, any setting of the registry; NULL when it has none. */
const struct ts_sysctl_info *ts_sysctl_find(const char *name);

/* The settings tcpstate tune audits, in a stable order (the registry's first rows); *ret_n entries. */
const struct ts_sysctl_info *ts_sysctl_known(size_t *ret_n);

/* The row of one name among ts_sysctl_known() (a setting tune manages), or NULL. */
const struct ts_sysctl_info *ts_sysctl_lookup(const char *name);
