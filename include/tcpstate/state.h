/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * The 13 states users see. The order is alphabetical, as the states are
 * usually listed; use ts_state_lifecycle_order() for a "story" order.
 */
enum ts_state {
	TS_STATE_BOUND,
	TS_STATE_CLOSED,
	TS_STATE_CLOSING,
	TS_STATE_CLOSE_WAIT,
	TS_STATE_ESTABLISHED,
	TS_STATE_FIN_WAIT_1,
	TS_STATE_FIN_WAIT_2,
	TS_STATE_IDLE,
	TS_STATE_LAST_ACK,
	TS_STATE_LISTEN,
	TS_STATE_SYN_RECEIVED,
	TS_STATE_SYN_SENT,
	TS_STATE_TIME_WAIT,
	/* Held by a program, in no dump, and we lacked the privilege to tell
	 * IDLE from CLOSED (or BOUND on old kernels). Never guessed. */
	TS_STATE_UNKNOWN,
	_TS_STATE_MAX,
};

#define TS_STATE_COUNT 13 /* the real states, without UNKNOWN */

/* A set of ts_state values, bit (1u << state). */
typedef uint32_t ts_state_mask_t;

#define TS_STATE_BIT(s) ((ts_state_mask_t)1u << (s))
#define TS_STATE_MASK_ALL ((ts_state_mask_t)((1u << _TS_STATE_MAX) - 1))

/* Kernel states (include/net/tcp_states.h); not all are in old uapi headers. */
enum {
	TS_TCP_ESTABLISHED = 1,
	TS_TCP_SYN_SENT,
	TS_TCP_SYN_RECV,
	TS_TCP_FIN_WAIT1,
	TS_TCP_FIN_WAIT2,
	TS_TCP_TIME_WAIT,
	TS_TCP_CLOSE,
	TS_TCP_CLOSE_WAIT,
	TS_TCP_LAST_ACK,
	TS_TCP_LISTEN,
	TS_TCP_CLOSING,
	TS_TCP_NEW_SYN_RECV,
	TS_TCP_BOUND_INACTIVE, /* Linux >= 6.8 */
};

/* "CLOSE_WAIT" etc.; "UNKNOWN" for TS_STATE_UNKNOWN; NULL when out of range. */
const char *ts_state_name(enum ts_state state);

/*
 * Maps a kernel TCP state (TS_TCP_*) to ours. TCP_CLOSE maps to CLOSED.
 * Returns -EINVAL for values the kernel does not define.
 */
int ts_state_from_kernel(unsigned kernel_state, enum ts_state *ret_state);

/*
 * Kernel state bits (idiag_states) for a mask of our states. IDLE, CLOSED
 * and UNKNOWN have no kernel dump; BOUND maps to TCP_BOUND_INACTIVE.
 */
uint32_t ts_state_mask_to_kernel(ts_state_mask_t mask);

/*
 * The sk_state values (bits 1 << TS_TCP_*) a socket held by an fd may have
 * had just before, or may have just after, being in one of kmask's states:
 * kmask, the states that lead to them and those they lead to, along the
 * transitions a socket with an fd makes (TCP_CLOSE is not walked back
 * from, as every state leads to it, and only one step forward). TIME_WAIT and
 * request sockets never have an fd: they stay, alone; TCP_BOUND_INACTIVE is
 * TCP_CLOSE to an fd. Owner sources that look at sk_state at another
 * moment than the dump use it, so a socket that moved in between keeps its
 * owner. Never 0 for a non-zero kmask.
 */
uint32_t ts_kernel_states_around(uint32_t kmask);

/*
 * Parses one filter token: a state name in any case with '-' or '_'
 * ("close-wait", "CLOSE_WAIT"), an ss(8) name ("syn-recv", "fin-wait-1",
 * "unconnected"...) or a group: "all", "connected", "synchronized",
 * "closing", "bucket", "big". Returns -EINVAL when unknown.
 */
int ts_state_token_parse(const char *token, ts_state_mask_t *ret_mask);

/*
 * The i-th group name ts_state_token_parse() accepts, in lower case ("all",
 * "connected", ..., "closing", ...); NULL past the last. For completion and
 * documentation: the parser's own table, so the two cannot drift.
 */
const char *ts_state_group_name(unsigned i);

/* Lifecycle order for display: i-th state in the life of a connection. */
enum ts_state ts_state_lifecycle_order(unsigned i);

/*
 * The states of a closing connection that a process can hold (no process
 * holds TIME_WAIT), for counts per holder (summary, top, the exporter):
 * CLOSE_WAIT first (the program's bug), FIN_WAIT_1, FIN_WAIT_2, LAST_ACK,
 * CLOSING, CLOSED.
 */
#define TS_HELD_CLOSING_COUNT 6
extern const enum ts_state ts_held_closing_states[TS_HELD_CLOSING_COUNT];

/* The index of s in ts_held_closing_states, -1 when it is not one of them. */
int ts_held_closing_index(enum ts_state s);
