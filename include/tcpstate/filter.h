/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "tcpstate/socket.h"
#include "tcpstate/state.h"

/* Bounds on what users can grow (and on the kernel bytecode, whose jumps are 8 bit). */
#define TS_FILTER_MAX_PORTS 8
#define TS_FILTER_MAX_ADDRS 4
#define TS_FILTER_MAX_PIDS 64
#define TS_FILTER_MAX_COMMS 16

struct ts_addr_match {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix_len;
	struct in6_addr addr; /* IPv4: first 4 bytes, as in ts_socket */
};

/*
 * What to list. Values of one kind are ORed, kinds are ANDed:
 * --port 80 --port 443 --state close-wait = (port 80 or 443) and CLOSE_WAIT.
 * A zero-filled filter matches everything.
 */
struct ts_filter {
	ts_state_mask_t states; /* 0: all */
	uint16_t ports[TS_FILTER_MAX_PORTS];  /* either end */
	uint16_t sports[TS_FILTER_MAX_PORTS]; /* local */
	uint16_t dports[TS_FILTER_MAX_PORTS]; /* remote */
	struct ts_addr_match addrs[TS_FILTER_MAX_ADDRS]; /* either end */
	pid_t pids[TS_FILTER_MAX_PIDS];
	char comms[TS_FILTER_MAX_COMMS][TS_COMM_LEN];
	uint8_t n_ports, n_sports, n_dports, n_addrs, n_pids, n_comms;
};

/* The states the filter selects (all when none were named). */
ts_state_mask_t ts_filter_states(const struct ts_filter *f);

/* True when the filter needs the owners of sockets (--pid, --comm). */
bool ts_filter_needs_owners(const struct ts_filter *f);

/*
 * Parses "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6, brackets allowed).
 * Returns -EINVAL on malformed input.
 * An IPv4 match (or an IPv6 one within ::ffff:0:0/96) also selects IPv6
 * sockets with v4-mapped addresses; other IPv6 matches never select IPv4 sockets.
 */
int ts_addr_match_parse(const char *s, struct ts_addr_match *ret);

/*
 * Builds INET_DIAG_REQ_BYTECODE for the port and address parts of the filter,
 * for sockets of the given family. Writes nothing and returns 0 with
 * *ret_len = 0 when no bytecode is needed. When no address of the filter can
 * match that family, the bytecode rejects every socket. Returns -ENOSPC
 * when buf is too small (1024 bytes always suffice), -EINVAL when the
 * filter cannot be expressed.
 */
int ts_filter_bytecode_build(const struct ts_filter *f, int family,
			     void *buf, size_t buf_size, size_t *ret_len);

/* Socket part (state, ports, addresses): what the kernel bytecode checks. */
bool ts_filter_match_socket(const struct ts_filter *f, const struct ts_socket *s);

/* Owner part (--pid, --comm). */
bool ts_filter_match_process(const struct ts_filter *f, pid_t pid, const char *comm);
