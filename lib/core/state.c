/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "tcpstate/socket.h"
#include "tcpstate/state.h"

static const char *const state_names[_TS_STATE_MAX] = {
	[TS_STATE_BOUND] = "BOUND",
	[TS_STATE_CLOSED] = "CLOSED",
	[TS_STATE_CLOSING] = "CLOSING",
	[TS_STATE_CLOSE_WAIT] = "CLOSE_WAIT",
	[TS_STATE_ESTABLISHED] = "ESTABLISHED",
	[TS_STATE_FIN_WAIT_1] = "FIN_WAIT_1",
	[TS_STATE_FIN_WAIT_2] = "FIN_WAIT_2",
	[TS_STATE_IDLE] = "IDLE",
	[TS_STATE_LAST_ACK] = "LAST_ACK",
	[TS_STATE_LISTEN] = "LISTEN",
	[TS_STATE_SYN_RECEIVED] = "SYN_RECEIVED",
	[TS_STATE_SYN_SENT] = "SYN_SENT",
	[TS_STATE_TIME_WAIT] = "TIME_WAIT",
	[TS_STATE_UNKNOWN] = "UNKNOWN",
};

const char *ts_state_name(enum ts_state state)
{
	if ((unsigned)state >= _TS_STATE_MAX)
		return NULL;
	return state_names[state];
}

static const enum ts_state kernel_to_state[] = {
	[TS_TCP_ESTABLISHED] = TS_STATE_ESTABLISHED,
	[TS_TCP_SYN_SENT] = TS_STATE_SYN_SENT,
	[TS_TCP_SYN_RECV] = TS_STATE_SYN_RECEIVED,
	[TS_TCP_FIN_WAIT1] = TS_STATE_FIN_WAIT_1,
	[TS_TCP_FIN_WAIT2] = TS_STATE_FIN_WAIT_2,
	[TS_TCP_TIME_WAIT] = TS_STATE_TIME_WAIT,
	[TS_TCP_CLOSE] = TS_STATE_CLOSED,
	[TS_TCP_CLOSE_WAIT] = TS_STATE_CLOSE_WAIT,
	[TS_TCP_LAST_ACK] = TS_STATE_LAST_ACK,
	[TS_TCP_LISTEN] = TS_STATE_LISTEN,
	[TS_TCP_CLOSING] = TS_STATE_CLOSING,
	[TS_TCP_NEW_SYN_RECV] = TS_STATE_SYN_RECEIVED,
	[TS_TCP_BOUND_INACTIVE] = TS_STATE_BOUND,
};

int ts_state_from_kernel(unsigned kernel_state, enum ts_state *ret_state)
{
	if (kernel_state == 0 || kernel_state > TS_TCP_BOUND_INACTIVE)
		return -EINVAL;
	*ret_state = kernel_to_state[kernel_state];
	return 0;
}

uint32_t ts_state_mask_to_kernel(ts_state_mask_t mask)
{
	uint32_t k = 0;

	for (unsigned ks = TS_TCP_ESTABLISHED; ks <= TS_TCP_BOUND_INACTIVE; ks++) {
		/* TCP_CLOSE sockets are unhashed: no dump ever returns them. */
		if (ks == TS_TCP_CLOSE)
			continue;
		if (mask & TS_STATE_BIT(kernel_to_state[ks]))
			k |= 1u << ks;
	}
	return k;
}

/* Where a socket with an fd goes from each kernel state (bits). */
#define K(s) (1u << TS_TCP_##s)
static const uint32_t kernel_next[TS_TCP_BOUND_INACTIVE + 1] = {
	[TS_TCP_CLOSE] = K(SYN_SENT) | K(LISTEN),
	[TS_TCP_LISTEN] = K(CLOSE),
	[TS_TCP_SYN_SENT] = K(ESTABLISHED) | K(SYN_RECV) | K(CLOSE), /* SYN_RECV: simultaneous open */
	[TS_TCP_SYN_RECV] = K(ESTABLISHED) | K(FIN_WAIT1) | K(CLOSE), /* fast open child */
	[TS_TCP_ESTABLISHED] = K(FIN_WAIT1) | K(CLOSE_WAIT) | K(CLOSE),
	[TS_TCP_FIN_WAIT1] = K(FIN_WAIT2) | K(CLOSING) | K(CLOSE),
	[TS_TCP_FIN_WAIT2] = K(CLOSE), /* TIME_WAIT is a new socket: ours is closed */
	[TS_TCP_CLOSING] = K(CLOSE),
	[TS_TCP_CLOSE_WAIT] = K(LAST_ACK) | K(CLOSE),
	[TS_TCP_LAST_ACK] = K(CLOSE),
};

uint32_t ts_kernel_states_around(uint32_t kmask)
{
	uint32_t fwd, back, prev;

	if (kmask & K(BOUND_INACTIVE))
		kmask = (kmask & ~K(BOUND_INACTIVE)) | K(CLOSE);
	/* TIME_WAIT and NEW_SYN_RECV stay as they are: no fd, no neighbours
	 * (and a mask of only them must not become 0, "all"). */
	fwd = back = kmask;
	do {
		prev = fwd | back;
		for (unsigned ks = 0; ks <= TS_TCP_BOUND_INACTIVE; ks++) {
			if ((fwd & (1u << ks)) && ks != TS_TCP_CLOSE)
				fwd |= kernel_next[ks];
			if (ks != TS_TCP_CLOSE && (kernel_next[ks] & back & ~K(CLOSE)))
				back |= 1u << ks;
		}
	} while ((fwd | back) != prev);
	/* A closed (bound, or never bound) socket asked for: one step on. */
	if (kmask & K(CLOSE))
		fwd |= kernel_next[TS_TCP_CLOSE];
	return fwd | back;
}
#undef K

#define B(s) TS_STATE_BIT(TS_STATE_##s)

#define CLOSING_GROUP (B(CLOSE_WAIT) | B(FIN_WAIT_1) | B(FIN_WAIT_2) | B(LAST_ACK) | \
		       B(CLOSING) | B(TIME_WAIT))

static const struct {
	const char *name;
	ts_state_mask_t mask;
	const char *group; /* its lower-case name when it is a group: ts_state_group_name() */
} state_aliases[] = {
	/* ss(8) spellings, after '-'/'_' folding */
	{ "SYN_RECV", B(SYN_RECEIVED), NULL },
	{ "SYN_RCVD", B(SYN_RECEIVED), NULL },
	{ "FIN_WAIT1", B(FIN_WAIT_1), NULL },
	{ "FIN_WAIT2", B(FIN_WAIT_2), NULL },
	{ "CLOSE", B(CLOSED), NULL },
	{ "UNCONN", B(CLOSED) | B(IDLE) | B(BOUND), NULL },
	{ "UNCONNECTED", B(CLOSED) | B(IDLE) | B(BOUND), "unconnected" },
	{ "ESTAB", B(ESTABLISHED), NULL },
	{ "LISTENING", B(LISTEN), NULL },
	{ "TIMEWAIT", B(TIME_WAIT), NULL },
	{ "CLOSEWAIT", B(CLOSE_WAIT), NULL },
	{ "LASTACK", B(LAST_ACK), NULL },
	{ "BOUND_INACTIVE", B(BOUND), NULL },
	/* groups */
	{ "ALL", TS_STATE_MASK_ALL, "all" },
	{ "CONNECTED", B(ESTABLISHED) | B(SYN_SENT) | B(SYN_RECEIVED) | B(FIN_WAIT_1) |
		       B(FIN_WAIT_2) | B(CLOSE_WAIT) | B(LAST_ACK) | B(CLOSING), "connected" },
	{ "SYNCHRONIZED", B(ESTABLISHED) | B(FIN_WAIT_1) | B(FIN_WAIT_2) | B(CLOSE_WAIT) |
			  B(LAST_ACK) | B(CLOSING), "synchronized" },
	{ "BUCKET", B(SYN_RECEIVED) | B(TIME_WAIT), "bucket" },
	{ "BIG", TS_STATE_MASK_ALL & ~(B(SYN_RECEIVED) | B(TIME_WAIT)), "big" },
};

int ts_state_token_parse(const char *token, ts_state_mask_t *ret_mask)
{
	char buf[32];
	size_t n = 0;

	if (!token)
		return -EINVAL;
	for (const char *p = token; *p; p++) {
		if (n + 1 >= sizeof(buf))
			return -EINVAL;
		buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	}
	buf[n] = '\0';
	if (n == 0)
		return -EINVAL;

	/* "closing" in any case but all capitals names the group of closing
	 * states; "CLOSING", as the state is printed, names the state alone. */
	if (strcmp(buf, "CLOSING") == 0 && strcmp(token, "CLOSING") != 0) {
		*ret_mask = CLOSING_GROUP;
		return 0;
	}
	for (unsigned s = 0; s < TS_STATE_COUNT; s++)
		if (strcmp(buf, state_names[s]) == 0) {
			*ret_mask = TS_STATE_BIT(s);
			return 0;
		}
	for (size_t i = 0; i < sizeof(state_aliases) / sizeof(state_aliases[0]); i++)
		if (strcmp(buf, state_aliases[i].name) == 0) {
			*ret_mask = state_aliases[i].mask;
			return 0;
		}
	return -EINVAL;
}

const char *ts_state_group_name(unsigned i)
{
	/* "closing" is parsed before the table (CLOSING in capitals is the state). */
	if (i == 0)
		return "closing";
	i--;
	for (size_t a = 0; a < sizeof(state_aliases) / sizeof(state_aliases[0]); a++)
		if (state_aliases[a].group && i-- == 0)
			return state_aliases[a].group;
	return NULL;
}

static const enum ts_state lifecycle[TS_STATE_COUNT] = {
	TS_STATE_IDLE,       TS_STATE_BOUND,      TS_STATE_LISTEN,     TS_STATE_SYN_SENT,
	TS_STATE_SYN_RECEIVED, TS_STATE_ESTABLISHED, TS_STATE_FIN_WAIT_1, TS_STATE_FIN_WAIT_2,
	TS_STATE_CLOSE_WAIT, TS_STATE_LAST_ACK,   TS_STATE_CLOSING,    TS_STATE_TIME_WAIT,
	TS_STATE_CLOSED,
};

enum ts_state ts_state_lifecycle_order(unsigned i)
{
	return i < TS_STATE_COUNT ? lifecycle[i] : TS_STATE_UNKNOWN;
}

const char *ts_timer_name(enum ts_timer timer)
{
	static const char *const names[_TS_TIMER_MAX] = {
		[TS_TIMER_RETRANS] = "on",
		[TS_TIMER_KEEPALIVE] = "keepalive",
		[TS_TIMER_TIME_WAIT] = "timewait",
		[TS_TIMER_PROBE] = "persist",
	};

	if ((unsigned)timer >= _TS_TIMER_MAX)
		return NULL;
	return names[timer];
}

const enum ts_state ts_held_closing_states[TS_HELD_CLOSING_COUNT] = {
	TS_STATE_CLOSE_WAIT, TS_STATE_FIN_WAIT_1, TS_STATE_FIN_WAIT_2,
	TS_STATE_LAST_ACK,   TS_STATE_CLOSING,    TS_STATE_CLOSED,
};

int ts_held_closing_index(enum ts_state s)
{
	for (int i = 0; i < TS_HELD_CLOSING_COUNT; i++)
		if (ts_held_closing_states[i] == s)
			return i;
	return -1;
}
