/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the trace knows of each socket between records: its state, since
 * when (exact, or a lower bound for sockets older than the trace), who
 * holds it. Turns records into events (struct ts_trace_event).
 */

#include <stdbool.h>
#include <stdint.h>

#include "tcpstate/snapshot.h"
#include "tcpstate/trace.h"
#include "trace/trace_decode.h"
#include "trace/trace_map.h"

/* Bounds: sockets followed at once, sockets of the start snapshot, holders. */
#define TRACE_TRACK_MAX_SOCKS (1u << 20)

struct trace_holder {
	uint64_t inode; /* 0: free */
	pid_t pid;
	int fd;
	char comm[TS_COMM_LEN];
};

struct trace_sock {
	uint64_t id;    /* kernel address of the sock (or timewait sock); 0: free */
	uint64_t inode;
	struct ts_trace_socket sock;
	enum ts_state state;
	enum ts_trace_age age;
	uint64_t since_ns;
	uint64_t born_ns; /* its birth, when seen (socket() or a listener's child); else 0 */
	bool claimed;   /* seeds: an event took it over */
	bool tw;        /* a timewait socket: id is trace_tuple_key() */
};

struct trace_track {
	struct trace_sock *socks;   /* followed sockets, by id */
	size_t n_socks, cap_socks;
	uint32_t free_sock;         /* head of the free list + 1 (0: none) */
	struct trace_map by_id;
	struct trace_sock *seeds;   /* the start snapshot's sockets */
	size_t n_seeds;
	struct trace_map seed_by_cookie, seed_by_inode, seed_by_tuple;
	struct trace_holder *holders;
	size_t n_holders, cap_holders;
	uint32_t free_holder;
	struct trace_map holder_by_inode;
	uint64_t untracked;         /* records about sockets past the bound */
	bool young;                 /* the last record's socket was born less than
				     * TS_TRACE_RESCAN_MS before it: a holder not known yet is
				     * one whose accept() has not returned, no rescan needed */
	uint64_t unseen;            /* changes never seen, at most: sockets gone before their
				     * end was seen (changes_left_max() of their last state) */
};

void trace_track_init(struct trace_track *tt);
void trace_track_done(struct trace_track *tt);

/*
 * Seeds the sockets and holders of snap, taken at snap_ns (CLOCK_MONOTONIC):
 * each socket's entry time is a lower bound (tcp_info's last send, receive
 * and ACK times for connected states, the TIME_WAIT timer, else snap_ns).
 * 0 or -ENOMEM.
 */
int trace_track_seed(struct trace_track *tt, const struct ts_snapshot *snap, uint64_t snap_ns);

/* The most events one record gives. */
#define TRACE_TRACK_MAX_EVENTS 2

/*
 * One record: the number of events filled in ret[] in order (a state change
 * to report; before it, the end of a timewait socket whose 4-tuple the
 * record's new connection took), 0 (nothing to report: a holder learnt, a
 * hand-over that changes no state), -ENOMEM.
 */
int trace_track_rec(struct trace_track *tt, const struct trace_rec *r,
		    struct ts_trace_event ret[TRACE_TRACK_MAX_EVENTS]);

/* Learns that pid holds the socket of inode through fd. 0 or -ENOMEM. */
int trace_track_holder_put(struct trace_track *tt, uint64_t inode, pid_t pid, int fd,
			   const char *comm);

/* Fills s's holder (PROCESS) when the holder of its inode is known: true then. */
bool trace_track_holder_fill(const struct trace_track *tt, struct ts_trace_socket *s);

/* A timewait socket's identity: its namespace and ends (never 0). */
uint64_t trace_tuple_key(uint32_t netns, uint8_t family, const struct in6_addr *saddr,
			 uint16_t sport, const struct in6_addr *daddr, uint16_t dport);

/* Forgets the sockets followed in a state they can leave (not timewait ones)
 * whose 4-tuple key present() says the kernel has no more, counting their
 * end as unseen. */
void trace_track_forget_gone(struct trace_track *tt, bool (*present)(uint64_t key, void *userdata),
			     void *userdata);

/* Calls cb with the key of each timewait socket followed or seeded. */
void trace_track_each_tw(const struct trace_track *tt,
			 void (*cb)(uint64_t key, const struct trace_sock *s, void *userdata),
			 void *userdata);

/* Calls cb for each socket still open (followed ones and unclaimed seeds),
 * with its age at now_ns. */
void trace_track_each_open(const struct trace_track *tt, uint64_t now_ns,
			   void (*cb)(const struct ts_trace_open_sock *o, void *userdata),
			   void *userdata);
