/* SPDX-License-Identifier: MIT */
#pragma once

/* NETLINK_SOCK_DIAG inet_diag dumps of TCP sockets. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "snapshot/snapshot.h"
#include "tcpstate/filter.h"

/* How one dump is parsed and where its sockets go. */
struct sock_diag_parse_ctx {
	struct ts_snapshot *snap;
	const struct ts_filter *filter; /* checked again in user space; may be NULL */
	uint32_t netns_index;
	uint32_t seq, portid;           /* expected; 0 = accept any (recorded dumps) */
	bool interrupted;               /* a message had NLM_F_DUMP_INTR */
	unsigned malformed;             /* messages skipped */
	int kernel_error;               /* negative errno from NLMSG_ERROR/DONE, else 0 */
};

/*
 * True when a whole message of at least a header starts at nlh within
 * remaining bytes. Unlike mnl_nlmsg_ok() it compares lengths unsigned: a
 * huge nlmsg_len cannot pass and then align to a zero step.
 */
bool sock_diag_message_fits(const struct nlmsghdr *nlh, size_t remaining);

struct inet_diag_msg;

/*
 * The socket an inet_diag_msg describes, before its attributes (tcp_info,
 * v6only): family, state (TCP_CLOSE from the bound-only walk is BOUND), ends,
 * cookie, inode, uid, queues, timer. Returns 0, or -EBADMSG (unknown family
 * or state), leaving *ret untouched.
 */
int sock_diag_socket_from_msg(const struct inet_diag_msg *m, struct ts_socket *ret);

/*
 * Parses one inet_diag_msg. Returns 0, or -EBADMSG when the message is
 * malformed (too short, unknown family or state, bad attributes), leaving
 * *ret untouched.
 */
int sock_diag_parse_message(const struct nlmsghdr *nlh, struct ts_socket *ret);

/*
 * Parses one buffer as returned by recv(2) on the dump socket, appending
 * sockets to ctx->snap. Returns 1 when NLMSG_DONE (or an error message) was
 * seen, 0 when more is to come, -ENOMEM. Malformed messages are counted in
 * ctx->malformed and skipped; a kernel error lands in ctx->kernel_error.
 */
int sock_diag_parse_buffer(const void *buf, size_t len, struct sock_diag_parse_ctx *ctx);

/* Options of one dump. */
struct sock_diag_dump_opts {
	int family;                 /* AF_INET, AF_INET6, or AF_UNSPEC: both in one
	                             * walk (TCPDIAG_GETSOCK request) */
	uint32_t kernel_states;     /* idiag_states */
	const void *bytecode;       /* INET_DIAG_REQ_BYTECODE, or NULL */
	size_t bytecode_len;
	bool want_info;
	int record_fd;              /* >= 0: append each received buffer as [u32 len][bytes] */
};

/*
 * Dumps TCP sockets through an open NETLINK_SOCK_DIAG socket, retrying
 * (up to a few times) when the dump is interrupted (NLM_F_DUMP_INTR) or the
 * socket overflowed (ENOBUFS); sockets of a failed attempt are discarded.
 * Returns 0, -EAGAIN when it kept being interrupted, the kernel's error
 * (e.g. -ENOENT when tcp_diag is missing, -EINVAL when the bytecode was
 * refused), or another negative errno. Counts retries in *ret_retries.
 */
int sock_diag_dump(int nl_fd, const struct sock_diag_dump_opts *o, struct sock_diag_parse_ctx *ctx,
	      unsigned *ret_retries);

/* Opens a NETLINK_SOCK_DIAG socket in the calling thread's namespace. */
int sock_diag_open(void);
