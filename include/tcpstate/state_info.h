/* SPDX-License-Identifier: MIT */
#pragma once

/* What each of the 13 states means, who must act, and what ends it. */

#include "tcpstate/state.h"

enum ts_actor {
	TS_ACTOR_NOBODY,          /* nothing is wrong: the state is a normal resting place */
	TS_ACTOR_THIS_PROGRAM,    /* the local program must call close() (or accept/connect) */
	TS_ACTOR_PEER_PROGRAM,    /* the remote program must close its side */
	TS_ACTOR_KERNEL_TIMER,    /* a kernel timer ends it; sysctls bound it */
	TS_ACTOR_NETWORK,         /* the peer or the path is not answering */
};

struct ts_state_info {
	enum ts_state state;
	const char *meaning;       /* one sentence */
	const char *closed_first;  /* "nobody yet", "this side", "the peer", "both at once", "n/a" */
	enum ts_actor actor;
	const char *who_must_act;  /* one sentence */
	const char *ends_it;       /* which event or timer ends it */
	const char *const *sysctls; /* NULL-terminated dotted names bounding it; NULL: none */
	const char *causes;        /* typical causes, one paragraph */
	const char *how_to_see;    /* a tcpstate command (and the ss/strace equivalent) */
};

/* Never NULL for the 13 states and UNKNOWN; NULL out of range. */
const struct ts_state_info *ts_state_info(enum ts_state state);
