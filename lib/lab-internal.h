/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by lib/lab.c, lib/lab_states.c and lib/lab_nft.c; not public. */

#include <stdint.h>

#include "tcpstate/lab.h"

/* Sent by a child when it has finished building; never returned to callers. */
#define TS_LAB_EVENT_CHILD_READY_ ((enum ts_lab_event_type)100)

#define TS_LAB_NFT_TABLE "tcpstate_lab"
#define TS_LAB_LEAK_PORT 9000
#define TS_LAB_SYNACK_RETRIES 255

/* Writes one event on the pipe (atomic: smaller than PIPE_BUF). */
int ts_lab_send(int fd, const struct ts_lab_event *ev);

/* Child side: die with the supervisor, ignore the terminal's Ctrl-C. */
int ts_lab_child_setup(pid_t supervisor, int netns_fd);

/* Children: they never return. */
_Noreturn void ts_lab_holder_main(const struct ts_lab_opts *opts, int event_fd);
_Noreturn void ts_lab_leak_server_main(uint32_t rate, int event_fd);
_Noreturn void ts_lab_leak_client_main(uint32_t rate);

/* nftables in the current namespace: table inet tcpstate_lab, chain input. */
struct ts_lab_nft;
int ts_lab_nft_new(struct ts_lab_nft **ret);
struct ts_lab_nft *ts_lab_nft_free(struct ts_lab_nft *nft);
/* Returns 0 or -EIO (message in ts_lab_nft_error()). */
int ts_lab_nft_create_table(struct ts_lab_nft *nft);
/*
 * Replaces the rules of one scenario (its own chain, jumped to from input)
 * with `rules`: newline-separated rule bodies, e.g. "tcp dport 80 drop".
 * NULL or "" flushes them. Returns 0 or -EIO (message in ts_lab_nft_error()).
 */
int ts_lab_nft_set_rules(struct ts_lab_nft *nft, uint32_t scenario, const char *rules);
const char *ts_lab_nft_error(const struct ts_lab_nft *nft);
