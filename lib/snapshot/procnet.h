/* SPDX-License-Identifier: MIT */
#pragma once

/* /proc/net/tcp{,6}: the fallback when the kernel has no sock_diag. */

#include <stdint.h>
#include <stdio.h>

#include "snapshot/snapshot.h"
#include "tcpstate/filter.h"

/*
 * Parses one socket line of /proc/net/tcp (family AF_INET) or tcp6
 * (AF_INET6); not the header line. Fills state, addresses, ports, queues,
 * timer, retransmits, uid and inode; no cookie, no tcp_info.
 * Returns 0 or -EINVAL when the line is malformed (*ret untouched).
 */
int procnet_parse_line(const char *line, int family, struct ts_socket *ret);

/*
 * Reads a whole /proc/net/tcp{,6} stream, appending each socket that
 * passes ts_filter_match_socket(filter) (filter may be NULL) with the
 * given netns_index. Malformed lines are skipped and counted in
 * *ret_malformed. Returns 0, -ENOMEM, or -EIO on a read error.
 */
int procnet_read(FILE *f, int family, const struct ts_filter *filter,
		 uint32_t netns_index, struct ts_snapshot *snap, unsigned *ret_malformed);
