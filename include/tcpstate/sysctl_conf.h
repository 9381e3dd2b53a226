/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * sysctl configuration files (sysctl.d), their lint, and the tuning advice
 * of `tcpstate tune`: negative errno, ret_ only on success, nothing printed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "tcpstate/snapshot.h"
#include "tcpstate/sysctl.h"

/* Dotted name of [a-z0-9_.-], no empty component, no "..". */
bool ts_sysctl_name_valid(const char *name);
/* Inode of the namespace the handle was opened for; 0 for the caller's. */
uint64_t ts_sysctl_netns_inode(const struct ts_sysctl *s);

/* ---- configuration files ---- */

#define TS_SYSCTL_VALUE_MAX 4096

struct ts_sysctl_conf_entry {
	char *key;          /* dotted ('/' form normalized as systemd/procps do) */
	char *value;        /* whitespace trimmed */
	char *file;         /* path as opened (root prefix included) */
	char *comment;      /* the comment lines just above, joined by '\n'; NULL if none */
	size_t file_idx;    /* index of file in files[] */
	unsigned line;
	bool ignore_errors; /* written with a leading '-' */
};

struct ts_sysctl_conf_bad_line {
	char *file;
	size_t file_idx;    /* index in files[]; SIZE_MAX for a file not read */
	unsigned line;
	char *text;         /* the line, trimmed, at most 200 bytes */
	const char *why;    /* static text */
};

struct ts_sysctl_conf {
	char **files;                             /* in the order they apply */
	size_t n_files;
	struct ts_sysctl_conf_entry *entries;     /* in the order they apply */
	size_t n_entries;
	struct ts_sysctl_conf_bad_line *bad;      /* malformed lines */
	size_t n_bad;
};

/* At most this many sysctl.d files are read: the first ones by name. */
#define TS_SYSCTL_CONF_FILES_MAX 4096

/*
 * Reads the files systemd-sysctl and `sysctl --system` read, under root
 * (NULL: "/"): sysctl.d/ *.conf of /etc, /run, /usr/local/lib, /usr/lib,
 * /lib (a file name in an earlier directory masks the same name in later
 * ones; all sorted by file name), then /etc/sysctl.conf (unless one of
 * them was that very file, e.g. Debian's 99-sysctl.conf symlink).
 *
 * Every path, and every symbolic link met on the way, resolves inside root
 * as if root were "/" (openat2 RESOLVE_IN_ROOT, as systemd-sysctl --root
 * does): nothing outside root is opened. A link to /dev/null or a device
 * masks the name without being read, as for systemd. Missing directories are
 * fine; unreadable and non-regular files (a FIFO, a directory) are reported
 * as bad lines (line 0) and never opened for reading; past
 * TS_SYSCTL_CONF_FILES_MAX files, one bad line says how many were left
 * out. Returns 0, -ENOMEM, -errno when root cannot be opened as a
 * directory, or -EOPNOTSUPP for a root other than "/" on a kernel without
 * openat2 (before 5.6).
 */
int ts_sysctl_conf_load(const char *root, struct ts_sysctl_conf **ret);

/* An empty configuration. */
int ts_sysctl_conf_new(struct ts_sysctl_conf **ret);
/*
 * Opens path (symlinks followed: the caller named it) for reading, if it is
 * a regular file; never blocks on a FIFO. Returns the fd, -EISDIR for a
 * directory, -EBADFD for anything else that is not a regular file, or
 * -errno of open().
 */
int ts_sysctl_conf_open(const char *path);
/* Parses one file (ts_sysctl_conf_open()'s errors), or an fd from it (not closed). */
int ts_sysctl_conf_parse_file(struct ts_sysctl_conf *c, const char *path);
int ts_sysctl_conf_parse_fd(struct ts_sysctl_conf *c, int fd, const char *path);

struct ts_sysctl_conf *ts_sysctl_conf_free(struct ts_sysctl_conf *c);

/* "net/ipv4/tcp_fin_timeout" -> "net.ipv4.tcp_fin_timeout" (in place), as systemd does. */
void ts_sysctl_key_normalize(char *key);

/*
 * Whether the kernel would accept value for name, where we know its range.
 * Returns 0 (acceptable or unknown), -ERANGE / -EINVAL with a static reason in *ret_why.
 */
int ts_sysctl_value_check(const char *name, const char *value, const char **ret_why);

/* Same value, ignoring how whitespace separates the fields. */
bool ts_sysctl_value_equal(const char *a, const char *b);

enum ts_lint_kind {
	TS_LINT_MALFORMED,            /* not "key = value" */
	TS_LINT_REMOVED,              /* tcp_tw_recycle */
	TS_LINT_FIN_TIMEOUT,          /* fin_timeout does not end CLOSE_WAIT */
	TS_LINT_CONNTRACK_CLOSE_WAIT, /* a conntrack timer, not the socket */
	TS_LINT_UNKNOWN_KEY,          /* no such file under /proc/sys */
	TS_LINT_BAD_VALUE,            /* the kernel would refuse it */
	TS_LINT_NOT_IN_EFFECT,        /* the running value differs */
	TS_LINT_OVERRIDDEN,           /* a later line sets it again */
};

enum ts_lint_severity {
	TS_LINT_INFO,
	TS_LINT_WARNING,
	TS_LINT_ERROR,
};

struct ts_lint_finding {
	enum ts_lint_kind kind;
	enum ts_lint_severity severity;
	char *file;
	unsigned line;
	char *key;      /* NULL for malformed lines */
	char *value;    /* as written; NULL for malformed lines */
	char *current;  /* value in effect now, when read; else NULL */
	char *message;  /* one or two sentences */
};

/* "malformed", "removed", ... / "info", "warning", "error". */
const char *ts_lint_kind_name(enum ts_lint_kind k);
const char *ts_lint_severity_name(enum ts_lint_severity s);

/*
 * Lints a configuration. live (may be NULL: no checks against the running
 * kernel) is where the values are compared: the namespace systemd-sysctl
 * applies them to. Findings are in file order. Returns 0 or -ENOMEM.
 */
int ts_sysctl_conf_lint(const struct ts_sysctl_conf *c, struct ts_sysctl *live,
			struct ts_lint_finding **ret, size_t *ret_n);
void ts_lint_findings_free(struct ts_lint_finding *f, size_t n);

/* ---- tuning advice ---- */

/* What a snapshot of one namespace shows, for the advice. */
struct ts_tune_observed {
	unsigned count[_TS_STATE_MAX];
	unsigned fin_wait_2_orphans;    /* FIN_WAIT_2 no program holds (ts_socket_is_orphan()) */
	unsigned fin_wait_2_in_tw;      /* ... of them kept as TIME_WAIT records (ts_socket_in_tw_bucket()) */
	unsigned closing_orphans;       /* FIN_WAIT_1, LAST_ACK, CLOSING no fd holds */
	unsigned closing_held;          /* the same states, still held by a program */
	unsigned tw_outgoing;           /* TIME_WAIT of outgoing connections */
	unsigned tw_top_count;          /* most outgoing TIME_WAIT to one (address, port) */
	struct in6_addr tw_top_addr;
	uint16_t tw_top_port;
	uint8_t tw_top_family;
	unsigned listen_full;           /* listeners whose accept queue is full */
	unsigned listen_at_somaxconn;   /* of those, backlog capped by somaxconn */
	uint16_t listen_full_port;      /* one of them */
	unsigned syn_recv_top;          /* most SYN_RECEIVED on one local port */
	uint16_t syn_recv_top_port;
};

/*
 * Counts what the advice needs. port_lo/port_hi: the ephemeral range (a
 * TIME_WAIT socket whose local port is in it and is no listener's port
 * counts as outgoing); somaxconn: current value (0: unknown).
 * Returns 0 or -ENOMEM.
 */
int ts_tune_observe(const struct ts_snapshot *snap, uint32_t port_lo, uint32_t port_hi,
		    int64_t somaxconn, struct ts_tune_observed *ret);

enum ts_tune_action {
	TS_TUNE_KEEP,        /* nothing observed that this setting would help */
	TS_TUNE_CHANGE,      /* set recommended (what --write and --apply do) */
	TS_TUNE_CONSIDER,    /* worth a thought, with care; never applied by tcpstate */
	TS_TUNE_UNAVAILABLE, /* not readable here (missing in this kernel or namespace) */
};

const char *ts_tune_action_name(enum ts_tune_action a); /* "keep", "change", ... */

struct ts_tune_row {
	const struct ts_sysctl_info *info;
	char current[128];         /* "" when unavailable */
	int read_errno;            /* why unavailable (positive), else 0 */
	enum ts_tune_action action;
	char recommended[128];     /* for CHANGE/CONSIDER, else "" */
	char reason[512];          /* why, from what was observed */
};

/* Thresholds: how many sockets are "many". */
#define TS_TUNE_MANY_ORPHANS 200
#define TS_TUNE_MANY_HELD_CLOSING 200

/*
 * One row per ts_sysctl_known() setting, in that order, from the values of
 * s and what obs shows. Returns 0 or -ENOMEM; free() the rows.
 */
int ts_tune_advise(struct ts_sysctl *s, const struct ts_tune_observed *obs,
		   struct ts_tune_row **ret, size_t *ret_n);
