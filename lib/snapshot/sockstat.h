/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * How many TCP sockets a namespace's hashes hold, as /proc/net/sockstat and
 * sockstat6 count them per namespace: "inuse" (hashed full sockets:
 * listening, connecting, established and closing, IPv4 and IPv6 apart) and
 * "tw" (timewait sockets, both families). Request sockets need a listener.
 * A namespace where all three are 0 has nothing a walk of the socket hash
 * can find, and a walk covers the whole host's table (iter/tcp and
 * sock_diag alike), whatever the namespace holds.
 */

#include <stdbool.h>

struct sockstat_tcp {
	long inuse;  /* TCP: inuse */
	long tw;     /* TCP: tw */
	long inuse6; /* TCP6: inuse; 0 without IPv6 */
};

/*
 * Parses sockstat's text (and sockstat6's; NULL: no IPv6). Returns 0,
 * or -EBADMSG when sockstat has no well-formed "TCP:" line with inuse and
 * tw, or sockstat6 (when given) no "TCP6:" line with inuse.
 */
int sockstat_tcp_parse(const char *sockstat, const char *sockstat6, struct sockstat_tcp *ret);

/* The counts of the calling thread's namespace (/proc/thread-self/net). 0 or -errno. */
int sockstat_tcp_read(struct sockstat_tcp *ret);

/* Whether the counts say the namespace's hashes hold no TCP socket. */
bool sockstat_tcp_none(const struct sockstat_tcp *s);
