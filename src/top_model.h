/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to `tcpstate top`: what one refresh shows, made from two
 * snapshots (this one and the previous, interval_s apart) and the doctor's
 * diagnosis over them. No terminal here: top_render.c draws it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcpstate/diagnose.h"
#include "tcpstate/snapshot.h"

/* The closing states, in the columns' order: CLOSE_WAIT first (the program's bug). */
#define TOP_N_CLOSING TS_HELD_CLOSING_COUNT /* in ts_held_closing_states order */

/* What the middle table groups closing sockets by. */
enum top_view {
	TOP_VIEW_PROCESSES, /* the holding process */
	TOP_VIEW_PORTS,     /* the service port: local when listened on here, else remote */
	TOP_VIEW_NETNS,     /* the network namespace */
	_TOP_VIEW_MAX,
};

enum top_sort {
	TOP_SORT_CLOSE_WAIT, /* CLOSE_WAIT, then every closing state */
	TOP_SORT_TOTAL,      /* every closing state */
	TOP_SORT_GROWTH,     /* closing sockets gained per second */
	_TOP_SORT_MAX,
};

/* "processes", "ports", "netns"; "close-wait", "total", "growth". */
const char *top_view_name(enum top_view v);
const char *top_sort_name(enum top_sort s);
int top_view_parse(const char *s, enum top_view *ret);
int top_sort_parse(const char *s, enum top_sort *ret);

/* Rows kept per table (what a terminal or a batch block shows at most). */
#define TOP_ROWS_MAX 20
#define TOP_STUCK_MAX 10

struct top_row {
	pid_t pid;                 /* PROCESSES */
	char comm[TS_COMM_LEN];    /* PROCESSES, sanitized */
	uint16_t port;             /* PORTS */
	bool remote;               /* PORTS: port is the remote end's */
	uint32_t netns_index;      /* NETNS */
	uint64_t key;              /* what matches a row with the previous refresh's */
	uint32_t count[TOP_N_CLOSING];
	uint32_t total;
	bool has_growth;
	double growth_per_s;       /* total gained per second since the previous refresh */
	bool has_fds;              /* PROCESSES: fds and fd_limit mean something */
	uint32_t fds;
	uint64_t fd_limit;         /* RLIMIT_NOFILE (soft), TS_PROCINFO_UNLIMITED */
	bool has_eta;
	double seconds_to_limit;   /* PROCESSES: the doctor's leak finding (RLIMIT_NOFILE) */
};

struct top_stuck {
	const struct ts_socket *s; /* in the frame's snapshot */
	uint64_t idle_ms;          /* ts_socket_activity() */
	pid_t pid;                 /* first holder, 0: none (orphan) */
	char comm[TS_COMM_LEN];
};

struct top_frame {
	const struct ts_snapshot *snap;
	const struct ts_diagnosis *d;
	double interval_s;                    /* 0: the first refresh (no rates) */
	uint32_t counts[_TS_STATE_MAX];
	double rate_per_s[_TS_STATE_MAX];     /* when interval_s > 0 */
	enum top_view view;
	enum top_sort sort;
	struct top_row rows[TOP_ROWS_MAX];
	size_t n_rows;
	size_t rows_more;                     /* rows beyond TOP_ROWS_MAX, counted */
	struct top_stuck stuck[TOP_STUCK_MAX];
	size_t n_stuck;
	size_t stuck_total;                   /* closing sockets with an idle time */
};

/*
 * What one frame leaves for the next (optional): its snapshot's state counts
 * and rows, which are the next frame's "before", so that the previous
 * snapshot is not read again. Opaque; top_memo_free() accepts NULL.
 */
struct top_memo;
struct top_memo *top_memo_new(void);
struct top_memo *top_memo_free(struct top_memo *m);

struct top_input {
	const struct ts_snapshot *snap;
	const struct ts_snapshot *prev;       /* NULL: first refresh */
	/* With a memo: snap's and prev's numbers in the caller's sequence (the memo
	 * matches a snapshot by it, not by its address, which a new one may reuse). */
	struct top_memo *memo;
	uint64_t snap_id, prev_id;
	double interval_s;                    /* since prev */
	const struct ts_diagnose_procs *procs; /* of snap; NULL: none */
	const struct ts_diagnosis *d;         /* NULL: none */
	enum top_view view;
	enum top_sort sort;
};

/* Fills *ret (which points into in->snap and in->d). 0 or -ENOMEM. */
int top_frame_build(const struct top_input *in, struct top_frame *ret);
