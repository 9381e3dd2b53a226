/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of lib/lab/; not public. */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tcpstate/lab.h"

/* Sent by a child when it has finished building; never returned to callers. */
#define TS_LAB_EVENT_CHILD_READY_ ((enum ts_lab_event_type)100)

#define TS_LAB_NFT_TABLE "tcpstate_lab"
#define TS_LAB_NETNS_DIR "/run/netns"
/* A lab is alive while its supervisor holds an flock on LOCK_DIR/NAME.lock;
 * the kernel drops it when the supervisor dies, however it dies. */
#define TS_LAB_LOCK_DIR "/run/tcpstate"
#define TS_LAB_NAME_PREFIX "tslab-"
#define TS_LAB_LEAK_PORT 9000
/* net.ipv4.tcp_synack_retries in the lab, so SYN_RECEIVED lasts hours. */
#define TS_LAB_SYNACK_RETRIES_STR "255"

/* Writes one event on the pipe (atomic: smaller than PIPE_BUF). */
int lab_event_send(int fd, const struct ts_lab_event *ev);

/* Children: they never return. */
_Noreturn void lab_holder_main(const struct ts_lab_opts *opts, int event_fd);
_Noreturn void lab_leak_server_main(uint32_t rate, int event_fd);
_Noreturn void lab_leak_client_main(uint32_t rate);

/*
 * The holder's scenarios (lab_holder.c) and the recipes that build them
 * (lab_recipes.c). A scenario is one recipe instance: the sockets built
 * for one requested state, on ports sport/cport of 127.0.0.1.
 */
#define TS_LAB_SCENARIO_FDS 3

struct ts_lab_scenario {
	uint32_t id;
	enum ts_state state;
	uint16_t sport;    /* the listening / server port */
	uint16_t cport;    /* the client port (a recipe may set 0: kernel's choice) */
	int fds[TS_LAB_SCENARIO_FDS]; /* -1 when unused; the holder closes them */
	int target;        /* index into fds, or -1 for sockets without a descriptor */
	unsigned kstate;   /* kernel state (TS_TCP_*) the target should be in */
	struct timespec built;
	bool ok;
};

/* Where a socket of a scenario sits and what to say about it. */
struct ts_lab_role {
	int fd_index;      /* into fds; -1: no descriptor */
	bool client_side;  /* local port is cport */
	bool has_remote;
	enum ts_state state;
	const char *how;   /* NULL: no such role */
	const char *lasts;
};

struct ts_lab_nft;

struct ts_lab_recipe {
	/*
	 * Fills s->fds (all -1 on entry), s->target and s->kstate, and may set
	 * nftables rules for s->id. Returns 0 or a negative errno (-EIO: see
	 * lab_nft_error()); on failure the caller closes what is in s->fds.
	 */
	int (*build)(struct ts_lab_nft *nft, struct ts_lab_scenario *s);
	struct ts_lab_role target;
	struct ts_lab_role side[2];
};

/* The recipe of a state; NULL when out of range. */
const struct ts_lab_recipe *lab_recipe_get(enum ts_state state);

/* Is the target still where its recipe put it? *ret_now: what it is now (UNKNOWN: gone). */
bool lab_scenario_check(const struct ts_lab_scenario *s, enum ts_state *ret_now);

/* A listening socket on 127.0.0.1:port; rcvbuf > 0 is inherited by accepted sockets. */
int lab_listener(uint16_t port, int rcvbuf);

/* nftables in the current namespace: table inet tcpstate_lab, chain input. */
int lab_nft_new(struct ts_lab_nft **ret);
struct ts_lab_nft *lab_nft_free(struct ts_lab_nft *nft);
/* Returns 0 or -EIO (message in lab_nft_error()). */
int lab_nft_create_table(struct ts_lab_nft *nft);
/*
 * Replaces the rules of one scenario (its own chain, jumped to from input)
 * with `rules`: newline-separated rule bodies, e.g. "tcp dport 80 drop".
 * NULL or "" flushes them. Returns 0 or -EIO (message in lab_nft_error()).
 */
int lab_nft_set_rules(struct ts_lab_nft *nft, uint32_t scenario, const char *rules);
const char *lab_nft_error(const struct ts_lab_nft *nft);
