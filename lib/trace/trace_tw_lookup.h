/* SPDX-License-Identifier: MIT */
#pragma once

/* Whether a timewait socket is still there, by its 4-tuple (not a dump, which
 * can miss sockets that move while it walks the hash table). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/trace.h"

#define TRACE_TW_LOOKUP_MAX_NETNS 64 /* namespaces with a sock_diag socket open at once */

struct trace_tw_lookup {
	const char *netns_spec; /* the trace's --netns (NULL: the caller's) */
	bool all_netns;
	struct {
		uint64_t inode;
		int fd;
	} ns[TRACE_TW_LOOKUP_MAX_NETNS];
	size_t n;
	uint32_t seq;
};

void trace_tw_lookup_init(struct trace_tw_lookup *l, const char *netns_spec, bool all_netns);

/* Closes the sockets it opened (it can be used again after). */
void trace_tw_lookup_done(struct trace_tw_lookup *l);

/*
 * Asks the kernel, in s's namespace, for the socket of s's 4-tuple. Returns 1
 * when a timewait socket (TIME_WAIT or FIN_WAIT_2, no inode) has it, 0 when
 * none does (or the namespace is gone), or a negative errno (the caller
 * cannot tell: -ENOSPC past TRACE_TW_LOOKUP_MAX_NETNS namespaces).
 */
int trace_tw_lookup(struct trace_tw_lookup *l, const struct ts_trace_socket *s);
