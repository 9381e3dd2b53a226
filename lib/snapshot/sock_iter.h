/* SPDX-License-Identifier: MIT */
#pragma once

/* The BPF socket source's records (bpf/sockets_event.h) into the snapshot. */

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "snapshot/bpf/sockets_event.h"
#include "snapshot/snapshot.h"
#include "tcpstate/filter.h"

/*
 * One record into *ret, as sock_diag_parse_message() makes a socket of the
 * same socket's message (tcp_info only when want_info). Returns 0, or
 * -EBADMSG (unknown family or state), leaving *ret untouched.
 */
int sock_iter_parse(const struct sockets_event *e, bool want_info, struct ts_socket *ret);

/* Where one namespace's records go. */
struct sock_iter_ctx {
	struct ts_snapshot *snap;
	const struct ts_filter *filter; /* NULL: all */
	uint32_t netns_index;
	bool want_info;
	unsigned malformed;             /* records skipped */
};

/* bpf_sockets_read()'s callback: parses, filters and appends (-ENOMEM). */
int sock_iter_append(const struct sockets_event *e, void *ctx);
