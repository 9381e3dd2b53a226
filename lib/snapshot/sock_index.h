/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * inode -> socket index of a snapshot, for joining owners with the dumps:
 * open addressing sized for the input (never a fixed bucket count: that is
 * what makes `ss -p` quadratic). The inode and the cookie's low half sit in
 * the slot, so that a probe touches one cache line, not the socket too.
 * Inode numbers are a 32-bit counter that wraps on hosts with heavy churn:
 * two live sockets may share one, and the cookie, when the owner source
 * knows it, tells them apart.
 */

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/socket.h"

struct sock_index_slot {
	uint64_t inode; /* 0: empty */
	uint32_t socket_index;
	uint32_t cookie_lo;
};

struct sock_index {
	struct sock_index_slot *slots;
	size_t mask;
	size_t cap; /* slots allocated: a rebuild that fits reuses them */
};

/* Indexes the n sockets at s that have an inode; a socket dumped twice
 * (same inode and cookie) keeps its first index. *ret may hold an earlier
 * index (or be zeroed): its slots are reused when they are enough, so a
 * caller that indexes again and again touches the same pages. 0 or -ENOMEM
 * (*ret then empty). */
int sock_index_build(const struct ts_socket *s, size_t n, struct sock_index *ret);

/* The index of the socket with this inode and cookie, UINT32_MAX when none.
 * A cookie not known on either side (0: the /proc walk, the procfs backend)
 * matches the first socket with the inode. */
uint32_t sock_index_find(const struct sock_index *idx, uint64_t inode, uint64_t cookie);

void sock_index_free(struct sock_index *idx);
