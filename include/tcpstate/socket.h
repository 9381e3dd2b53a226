/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#include "tcpstate/state.h"

#define TS_COMM_LEN 16 /* TASK_COMM_LEN */

enum ts_timer {
	TS_TIMER_NONE = 0,
	TS_TIMER_RETRANS = 1,
	TS_TIMER_KEEPALIVE = 2,
	TS_TIMER_TIME_WAIT = 3,
	TS_TIMER_PROBE = 4, /* zero window probe */
	_TS_TIMER_MAX,
};

/* "on", "keepalive", "timewait", "persist"; NULL for none. ss(8) spelling. */
const char *ts_timer_name(enum ts_timer timer);

/* The useful part of struct tcp_info (times in ms, rtt in us). */
struct ts_tcp_info {
	uint32_t rtt_us;
	uint32_t rttvar_us;
	uint32_t last_data_sent_ms;
	uint32_t last_data_recv_ms;
	uint32_t last_ack_recv_ms;
	uint32_t total_retrans;
	uint32_t unacked;
	uint32_t lost;
	uint32_t snd_cwnd;
	uint32_t data_segs_in;   /* segments carrying data, received (TS_SOCK_HAS_DATA_SEGS) */
	uint32_t data_segs_out;  /* ... and sent; a bare FIN or ACK is not data */
	uint8_t retransmits;
	uint8_t probes;
	uint8_t backoff;
	uint8_t ca_state;
};

enum {
	TS_SOCK_HAS_INFO = 1u << 0,       /* info is valid */
	TS_SOCK_FROM_FD = 1u << 1,        /* found through a process fd, in no dump */
	TS_SOCK_REMOTE_VALID = 1u << 2,   /* remote address/port mean something */
	TS_SOCK_HAS_DATA_SEGS = 1u << 3,  /* info.data_segs_in/out are valid (Linux 4.6+) */
	TS_SOCK_V6ONLY = 1u << 4,         /* AF_INET6 with IPV6_V6ONLY set (the kernel said so:
					   * INET_DIAG_SKV6ONLY, or getsockopt on the fd) */
};

/* One TCP socket. Addresses are in network order, ports in host order. */
struct ts_socket {
	struct in6_addr local_addr; /* IPv4: first 4 bytes */
	struct in6_addr remote_addr;
	uint64_t cookie;
	uint64_t inode; /* 0 for TIME_WAIT and request sockets */
	uint32_t uid;
	uint32_t recv_q; /* LISTEN: current accept queue */
	uint32_t send_q; /* LISTEN: backlog (max accept queue) */
	uint32_t netns_index;  /* index into the snapshot's namespaces */
	uint32_t owner_first;  /* index into the snapshot's owners */
	uint32_t timer_expires_ms;
	uint32_t ifindex;      /* bound device (SO_BINDTODEVICE, link-local), 0: none */
	struct ts_tcp_info info;
	uint16_t owner_count;
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t state;  /* enum ts_state */
	uint8_t timer;  /* enum ts_timer */
	uint8_t timer_retrans;
	uint8_t flags;  /* TS_SOCK_* */
	uint8_t pending_error; /* CLOSED fds (BPF owner source): the socket's sk_err, the error
				* the program has not been told yet (ECONNRESET: the peer reset
				* it, ECONNREFUSED, ETIMEDOUT); 0: none or not known */
};

/* A (pid, fd) that holds a socket. */
struct ts_owner {
	pid_t pid;
	int fd;
	uint32_t process_index; /* index into the snapshot's processes */
	uint32_t socket_index;
};

struct ts_process {
	pid_t pid;
	uid_t uid;
	char comm[TS_COMM_LEN];
};

/* What a network namespace's name is. */
enum ts_netns_kind {
	TS_NETNS_UNNAMED, /* no /run/netns name: shown as "net:[INODE]" */
	TS_NETNS_INIT,    /* the initial namespace: shown as "init" */
	TS_NETNS_NAMED,   /* bound in /run/netns (ip netns add): shown by that name */
};

struct ts_netns {
	uint64_t inode;  /* of the net namespace (stat(2) of /proc/PID/ns/net) */
	char name[64];   /* /run/netns name, "init", or "net:[INODE]" (see kind) */
	pid_t pid;       /* a process seen in it, to reopen it by (0: none known) */
	enum ts_netns_kind kind;
};

/*
 * The --netns argument that opens ns again, into buf: the /run/netns name,
 * /proc/1/ns/net for the initial namespace, /proc/PID/ns/net through a
 * process seen in it (paths, not pids: a /run/netns name made of the same
 * digits would win over a pid). proc_root: NULL for "/proc". Returns 0,
 * -ENOENT (no name and no process known in it) or -ENAMETOOLONG.
 */
int ts_netns_reopen_spec(const struct ts_netns *ns, const char *proc_root, char *buf, size_t size);
