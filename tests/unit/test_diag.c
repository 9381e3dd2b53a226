/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <cmocka.h>

#include "snapshot/sock_diag.h"
#include "tcpstate/filter.h"
#include "tcpstate/socket.h"
#include "tcpstate/state.h"

#define DUMP_FILE TEST_DATA_DIR "/diag_tcp_dump.bin"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the recorded dump (tests/unit/data/diag_tcp_dump.txt) ---- */

enum addr_kind { A_LO, A_ANY, A_MAPPED_LO };

static const struct expect {
	uint8_t family;
	uint8_t state;
	uint16_t lport, rport;
	enum addr_kind local;
	uint32_t backlog; /* LISTEN */
} EXPECTED[] = {
	{ AF_INET, TS_STATE_LISTEN, 40001, 0, A_LO, 7 },
	{ AF_INET, TS_STATE_ESTABLISHED, 40101, 40001, A_LO, 0 },
	{ AF_INET, TS_STATE_ESTABLISHED, 40001, 40101, A_LO, 0 },
	{ AF_INET, TS_STATE_FIN_WAIT_2, 40102, 40001, A_LO, 0 },
	{ AF_INET, TS_STATE_CLOSE_WAIT, 40001, 40102, A_LO, 0 },
	{ AF_INET, TS_STATE_TIME_WAIT, 40103, 40001, A_LO, 0 },
	{ AF_INET, TS_STATE_ESTABLISHED, 40104, 41002, A_LO, 0 },
	{ AF_INET, TS_STATE_BOUND, 40201, 0, A_LO, 0 },
	{ AF_INET, TS_STATE_BOUND, 40202, 0, A_ANY, 0 },
	{ AF_INET6, TS_STATE_LISTEN, 41001, 0, A_LO, 128 },
	{ AF_INET6, TS_STATE_LISTEN, 41002, 0, A_ANY, 5 },
	{ AF_INET6, TS_STATE_ESTABLISHED, 41101, 41001, A_LO, 0 },
	{ AF_INET6, TS_STATE_ESTABLISHED, 41001, 41101, A_LO, 0 },
	{ AF_INET6, TS_STATE_FIN_WAIT_2, 41102, 41001, A_LO, 0 },
	{ AF_INET6, TS_STATE_CLOSE_WAIT, 41001, 41102, A_LO, 0 },
	{ AF_INET6, TS_STATE_TIME_WAIT, 41103, 41001, A_LO, 0 },
	{ AF_INET6, TS_STATE_ESTABLISHED, 41002, 40104, A_MAPPED_LO, 0 },
	{ AF_INET6, TS_STATE_BOUND, 41201, 0, A_LO, 0 },
	{ AF_INET6, TS_STATE_BOUND, 41202, 0, A_ANY, 0 },
};

/* One recorded recv() buffer, in an allocation of exactly its size so that
 * ASan catches any read past it. */
struct rec_buf {
	void *data;
	size_t len;
};

struct dump {
	struct rec_buf bufs[64];
	size_t n;
};

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->bufs[i].data);
	free(d);
}

static struct dump *dump_load(void)
{
	struct dump *d = calloc(1, sizeof(*d));
	FILE *f = fopen(DUMP_FILE, "rbe");
	uint32_t len;

	assert_non_null(d);
	assert_non_null(f);
	while (fread(&len, sizeof(len), 1, f) == 1) {
		assert_true(d->n < ARRAY_SIZE(d->bufs));
		assert_true(len > 0 && len <= 1024 * 1024);
		d->bufs[d->n].data = malloc(len);
		assert_non_null(d->bufs[d->n].data);
		assert_int_equal(fread(d->bufs[d->n].data, 1, len, f), len);
		d->bufs[d->n++].len = len;
	}
	assert_true(feof(f));
	fclose(f);
	return d;
}

/* Replays every buffer; returns how many dumps ended (one per family). */
static unsigned replay(const struct dump *d, struct ts_snapshot *snap,
		       const struct ts_filter *filter)
{
	struct sock_diag_parse_ctx ctx = { .snap = snap, .filter = filter, .netns_index = 3 };
	unsigned done = 0;

	for (size_t i = 0; i < d->n; i++) {
		int r = sock_diag_parse_buffer(d->bufs[i].data, d->bufs[i].len, &ctx);

		assert_true(r == 0 || r == 1);
		if (r == 1) {
			assert_int_equal(ctx.kernel_error, 0);
			assert_false(ctx.interrupted);
			done++;
		}
	}
	assert_int_equal(ctx.malformed, 0);
	return done;
}

static bool addr_is(const struct ts_socket *s, enum addr_kind k)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t mapped_lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	static const uint8_t any[16] = { 0 };
	static const uint8_t lo4[16] = { 127, 0, 0, 1 };
	const uint8_t *want;

	switch (k) {
	case A_LO:
		want = s->family == AF_INET ? lo4 : lo6;
		break;
	case A_MAPPED_LO:
		want = mapped_lo;
		break;
	default:
		want = any;
		break;
	}
	return memcmp(&s->local_addr, want, 16) == 0;
}

static void check_socket(const struct ts_socket *s, const struct expect *e)
{
	assert_true(addr_is(s, e->local));
	assert_int_equal(s->netns_index, 3);
	assert_int_equal(s->owner_count, 0);
	assert_int_equal(s->owner_first, UINT32_MAX);
	assert_int_not_equal(s->cookie, 0);
	assert_false(s->flags & TS_SOCK_FROM_FD);

	switch (s->state) {
	case TS_STATE_TIME_WAIT:
		assert_int_equal(s->inode, 0);
		assert_int_equal(s->timer, TS_TIMER_TIME_WAIT);
		assert_true(s->timer_expires_ms > 0 && s->timer_expires_ms <= 60000);
		assert_false(s->flags & TS_SOCK_HAS_INFO); /* the kernel sends none */
		assert_true(s->flags & TS_SOCK_REMOTE_VALID);
		break;
	case TS_STATE_LISTEN:
		assert_int_not_equal(s->inode, 0);
		assert_int_equal(s->send_q, e->backlog);
		assert_int_equal(s->recv_q, 0);
		assert_true(s->flags & TS_SOCK_HAS_INFO);
		assert_false(s->flags & TS_SOCK_REMOTE_VALID);
		break;
	case TS_STATE_BOUND:
		assert_int_not_equal(s->inode, 0);
		assert_int_equal(s->remote_port, 0);
		assert_false(s->flags & TS_SOCK_REMOTE_VALID);
		assert_int_equal(s->timer, TS_TIMER_NONE);
		assert_false(s->flags & TS_SOCK_HAS_INFO); /* the kernel sends none */
		break;
	default: /* full, connected sockets */
		assert_int_not_equal(s->inode, 0);
		assert_true(s->flags & TS_SOCK_HAS_INFO);
		assert_true(s->flags & TS_SOCK_REMOTE_VALID);
		assert_true(s->info.snd_cwnd >= 10); /* TCP_INIT_CWND, or a FIN acked */
		assert_int_equal(s->info.total_retrans, 0);
		assert_true(s->remote_addr.s6_addr[0] != 0 || s->remote_addr.s6_addr[15] != 0 ||
			    s->remote_addr.s6_addr[10] == 0xff);
		break;
	}
}

static void test_replay(void **state)
{
	struct dump *d = dump_load();
	struct ts_snapshot *snap = snapshot_new();
	bool seen[ARRAY_SIZE(EXPECTED)] = { false };

	(void)state;
	assert_non_null(snap);
	assert_int_equal(replay(d, snap, NULL), 2);
	assert_int_equal(snap->n_sockets, ARRAY_SIZE(EXPECTED));

	for (size_t i = 0; i < snap->n_sockets; i++) {
		const struct ts_socket *s = &snap->sockets[i];
		size_t j;

		for (j = 0; j < ARRAY_SIZE(EXPECTED); j++) {
			const struct expect *e = &EXPECTED[j];

			if (!seen[j] && e->family == s->family && e->state == s->state &&
			    e->lport == s->local_port && e->rport == s->remote_port)
				break;
		}
		if (j == ARRAY_SIZE(EXPECTED))
			fail_msg("unexpected socket %u %s %u -> %u", s->family,
				 ts_state_name(s->state), s->local_port, s->remote_port);
		seen[j] = true;
		check_socket(s, &EXPECTED[j]);
		/* cookies and inodes are unique */
		for (size_t k = 0; k < i; k++) {
			assert_int_not_equal(snap->sockets[k].cookie, s->cookie);
			if (s->inode)
				assert_int_not_equal(snap->sockets[k].inode, s->inode);
		}
	}
	ts_snapshot_free(snap);
	dump_free(d);
}

static void test_replay_filter(void **state)
{
	struct ts_filter f = { .states = TS_STATE_BIT(TS_STATE_LISTEN) | TS_STATE_BIT(TS_STATE_BOUND) };
	struct dump *d = dump_load();
	struct ts_snapshot *snap = snapshot_new();
	unsigned listen = 0, bound = 0;

	(void)state;
	assert_non_null(snap);
	assert_int_equal(replay(d, snap, &f), 2);
	for (size_t i = 0; i < snap->n_sockets; i++) {
		listen += snap->sockets[i].state == TS_STATE_LISTEN;
		bound += snap->sockets[i].state == TS_STATE_BOUND;
	}
	assert_int_equal(listen, 3);
	assert_int_equal(bound, 4);
	assert_int_equal(snap->n_sockets, 7);
	ts_snapshot_free(snap);
	dump_free(d);
}

/* ---- hand-built messages ---- */

struct fake {
	uint8_t family, state, timer, retrans;
	uint16_t sport, dport;
	uint32_t inode, expires;
	uint32_t cookie[2];
	uint16_t flags;
	uint32_t seq;
};

/* 8 KiB, aligned for nlmsghdr; messages are appended at off. */
union msgbuf {
	struct nlmsghdr align;
	uint8_t b[8192];
};

static struct nlmsghdr *put_sock(union msgbuf *buf, size_t *off, const struct fake *f)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(buf->b + *off);
	struct inet_diag_msg *m;

	assert_true(*off + NLMSG_SPACE(sizeof(*m)) <= sizeof(buf->b));
	memset(nlh, 0, NLMSG_SPACE(sizeof(*m)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*m));
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI | f->flags;
	nlh->nlmsg_seq = f->seq;
	m = NLMSG_DATA(nlh);
	m->idiag_family = f->family ? f->family : AF_INET;
	m->idiag_state = f->state ? f->state : TS_TCP_ESTABLISHED;
	m->idiag_timer = f->timer;
	m->idiag_retrans = f->retrans;
	m->idiag_expires = f->expires;
	m->idiag_inode = f->inode;
	m->id.idiag_sport = htons(f->sport);
	m->id.idiag_dport = htons(f->dport);
	m->id.idiag_cookie[0] = f->cookie[0];
	m->id.idiag_cookie[1] = f->cookie[1];
	*off += NLMSG_ALIGN(nlh->nlmsg_len);
	return nlh;
}

/* Appends an attribute to the last message (which must end at *off). */
static void put_attr(union msgbuf *buf, size_t *off, struct nlmsghdr *nlh, uint16_t type,
		     const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((uint8_t *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));

	assert_true((uint8_t *)a == buf->b + *off);
	assert_true(*off + NLA_HDRLEN + NLA_ALIGN(len) <= sizeof(buf->b));
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	a->nla_type = type;
	memset((uint8_t *)a + NLA_HDRLEN, 0, NLA_ALIGN(len));
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + a->nla_len;
	*off = (size_t)((uint8_t *)nlh - buf->b) + NLMSG_ALIGN(nlh->nlmsg_len);
}

static struct nlmsghdr *put_ctl(union msgbuf *buf, size_t *off, uint16_t type, const void *payload,
				size_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(buf->b + *off);

	memset(nlh, 0, NLMSG_SPACE(len));
	nlh->nlmsg_len = NLMSG_LENGTH(len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_MULTI;
	if (len)
		memcpy(NLMSG_DATA(nlh), payload, len);
	*off += NLMSG_ALIGN(nlh->nlmsg_len);
	return nlh;
}

static void put_done(union msgbuf *buf, size_t *off, int err)
{
	put_ctl(buf, off, NLMSG_DONE, &err, sizeof(err));
}

static void put_error(union msgbuf *buf, size_t *off, int err)
{
	struct nlmsgerr e = { .error = err };

	put_ctl(buf, off, NLMSG_ERROR, &e, sizeof(e));
}

/* Parses buf[0, len) as one recv() buffer, from a copy of exactly len bytes. */
static int parse(const union msgbuf *buf, size_t len, struct sock_diag_parse_ctx *ctx)
{
	void *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, buf->b, len);
	r = sock_diag_parse_buffer(copy, len, ctx);
	free(copy);
	return r;
}

/* The good sockets around the bad message carry these ports. */
#define GOOD_BEFORE 1001
#define GOOD_AFTER 1003

static void assert_ports(const struct ts_snapshot *snap, const uint16_t *ports, size_t n)
{
	assert_int_equal(snap->n_sockets, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(snap->sockets[i].local_port, ports[i]);
}

static void assert_good_around(const struct ts_snapshot *snap)
{
	static const uint16_t ports[] = { GOOD_BEFORE, GOOD_AFTER };

	assert_ports(snap, ports, 2);
}

/*
 * good, bad, good, DONE in one buffer: the bad one is counted, the
 * others kept. bad() appends the bad message.
 */
static void check_skipped(void (*bad)(union msgbuf *, size_t *))
{
	static union msgbuf buf;
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	size_t off = 0;

	assert_non_null(snap);
	memset(&buf, 0, sizeof(buf));
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
	bad(&buf, &off);
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_AFTER, .inode = 3 });
	put_done(&buf, &off, 0);
	assert_int_equal(parse(&buf, off, &ctx), 1);
	assert_int_equal(ctx.malformed, 1);
	assert_int_equal(ctx.kernel_error, 0);
	assert_false(ctx.interrupted);
	assert_good_around(snap);
	ts_snapshot_free(snap);
}

static void bad_truncated_msg(union msgbuf *buf, size_t *off)
{
	struct nlmsghdr *nlh = put_sock(buf, off, &(struct fake){ .sport = 1002 });

	/* a well framed netlink message, too short for inet_diag_msg */
	*off -= NLMSG_ALIGN(nlh->nlmsg_len);
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_msg) - 8);
	*off += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void bad_header_only(union msgbuf *buf, size_t *off)
{
	put_ctl(buf, off, SOCK_DIAG_BY_FAMILY, NULL, 0);
}

static void bad_attr_overrun(union msgbuf *buf, size_t *off)
{
	struct nlmsghdr *nlh = put_sock(buf, off, &(struct fake){ .sport = 1002 });
	uint8_t info[16] = { 0 };

	put_attr(buf, off, nlh, INET_DIAG_INFO, info, sizeof(info));
	/* the attribute claims more than the message holds */
	((struct nlattr *)((uint8_t *)nlh + NLMSG_LENGTH(sizeof(struct inet_diag_msg))))->nla_len = 200;
}

static void bad_attr_too_short(union msgbuf *buf, size_t *off)
{
	struct nlmsghdr *nlh = put_sock(buf, off, &(struct fake){ .sport = 1002 });

	put_attr(buf, off, nlh, INET_DIAG_INFO, NULL, 0);
	((struct nlattr *)((uint8_t *)nlh + NLMSG_LENGTH(sizeof(struct inet_diag_msg))))->nla_len = 2;
}

static void bad_attr_partial_header(union msgbuf *buf, size_t *off)
{
	struct nlmsghdr *nlh = put_sock(buf, off, &(struct fake){ .sport = 1002 });

	/* two stray bytes after the message: less than an attribute header */
	nlh->nlmsg_len += 2;
	*off += 4;
}

static void bad_family(union msgbuf *buf, size_t *off)
{
	put_sock(buf, off, &(struct fake){ .family = AF_UNIX, .sport = 1002 });
}

static void bad_state(union msgbuf *buf, size_t *off)
{
	put_sock(buf, off, &(struct fake){ .state = 99, .sport = 1002 });
}

static void bad_state_zero(union msgbuf *buf, size_t *off)
{
	struct nlmsghdr *nlh = put_sock(buf, off, &(struct fake){ .sport = 1002 });

	((struct inet_diag_msg *)NLMSG_DATA(nlh))->idiag_state = 0;
}

static void test_malformed_messages(void **state)
{
	(void)state;
	check_skipped(bad_truncated_msg);
	check_skipped(bad_header_only);
	check_skipped(bad_attr_overrun);
	check_skipped(bad_attr_too_short);
	check_skipped(bad_attr_partial_header);
	check_skipped(bad_family);
	check_skipped(bad_state);
	check_skipped(bad_state_zero);
}

/* nlmsg_len beyond the buffer: the rest of that buffer is lost, the next
 * buffer is read as usual. */
static void test_len_beyond_buffer(void **state)
{
	static union msgbuf buf;
	static const uint16_t ports[] = { GOOD_BEFORE, GOOD_AFTER };
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	struct nlmsghdr *nlh;
	size_t off = 0;

	(void)state;
	assert_non_null(snap);
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
	nlh = put_sock(&buf, &off, &(struct fake){ .sport = 1002, .inode = 2 });
	nlh->nlmsg_len = 4096;
	assert_int_equal(parse(&buf, off, &ctx), 0);
	assert_int_equal(ctx.malformed, 1);

	off = 0;
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_AFTER, .inode = 3 });
	put_done(&buf, &off, 0);
	assert_int_equal(parse(&buf, off, &ctx), 1);
	assert_int_equal(ctx.malformed, 1);
	assert_int_equal(ctx.kernel_error, 0);
	assert_ports(snap, ports, 2);

	/* nlmsg_len below the header size cannot be stepped over either */
	off = 0;
	nlh = put_sock(&buf, &off, &(struct fake){ .sport = 1004 });
	nlh->nlmsg_len = 8;
	assert_int_equal(parse(&buf, off, &ctx), 0);
	assert_int_equal(ctx.malformed, 2);
	assert_ports(snap, ports, 2);
	ts_snapshot_free(snap);
}

static void test_garbage_at_end(void **state)
{
	static const uint16_t ports[] = { GOOD_BEFORE, GOOD_AFTER };
	static const size_t garbage_len[] = { 1, 3, 7, 15, 16, 20, 64 };
	/* 0x00: nlmsg_len 0; 0x41: nlmsg_len 0x41414141, beyond the buffer */
	static const uint8_t fills[] = { 0x00, 0x41 };
	static union msgbuf buf;

	(void)state;
	for (size_t g = 0; g < ARRAY_SIZE(garbage_len); g++) {
		for (size_t fill = 0; fill < ARRAY_SIZE(fills); fill++) {
			struct ts_snapshot *snap = snapshot_new();
			struct sock_diag_parse_ctx ctx = { .snap = snap };
			size_t off = 0;

			assert_non_null(snap);
			put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
			put_sock(&buf, &off, &(struct fake){ .sport = GOOD_AFTER, .inode = 3 });
			memset(buf.b + off, fills[fill], garbage_len[g]);
			assert_int_equal(parse(&buf, off + garbage_len[g], &ctx), 0);
			assert_int_equal(ctx.malformed, 1);
			assert_int_equal(ctx.kernel_error, 0);
			assert_ports(snap, ports, 2);
			ts_snapshot_free(snap);
		}
	}
}

/*
 * nlmsg_len >= 2^31 (e.g. garbage of 0xff bytes). It must be rejected like
 * any length beyond the buffer; a parser that compares it as an int takes it
 * (and loops forever when the aligned length wraps to 0, or reads far past
 * the buffer). Runs in a child with a deadline so that a regression fails
 * instead of hanging the suite.
 */
static bool huge_len_child(uint32_t nlmsg_len, uint16_t type)
{
	static union msgbuf buf;
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	struct nlmsghdr *nlh;
	size_t off = 0;
	bool ok;
	int r;

	if (!snap)
		return false;
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
	nlh = put_sock(&buf, &off, &(struct fake){ .sport = 1002, .inode = 2 });
	nlh->nlmsg_len = nlmsg_len;
	nlh->nlmsg_type = type;
	r = parse(&buf, off, &ctx);
	ok = r == 0 && ctx.malformed == 1 && ctx.kernel_error == 0 && snap->n_sockets == 1 &&
	     snap->sockets[0].local_port == GOOD_BEFORE;
	ts_snapshot_free(snap);
	return ok;
}

static void test_huge_nlmsg_len(void **state)
{
	static const uint32_t lens[] = { 0x80000000u, 0xfffffff0u, 0xfffffffdu, 0xffffffffu };
	static const uint16_t types[] = { SOCK_DIAG_BY_FAMILY, NLMSG_DONE, NLMSG_ERROR, 0xffff };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
			int status;
			pid_t pid = fork();

			assert_true(pid >= 0);
			if (pid == 0) {
				alarm(5);
				_exit(huge_len_child(lens[i], types[t]) ? 0 : 1);
			}
			assert_int_equal(waitpid(pid, &status, 0), pid);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg("nlmsg_len 0x%x type %u: %s %d", lens[i], types[t],
					 WIFSIGNALED(status) ? "killed by signal" : "exit",
					 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
}

static void test_zero_length(void **state)
{
	static union msgbuf buf;
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };

	(void)state;
	assert_non_null(snap);
	assert_int_equal(parse(&buf, 0, &ctx), 0);
	assert_int_equal(sock_diag_parse_buffer(buf.b, 0, &ctx), 0);
	assert_int_equal(ctx.malformed, 0);
	assert_int_equal(ctx.kernel_error, 0);
	assert_int_equal(snap->n_sockets, 0);
	ts_snapshot_free(snap);
}

/* An error ends the dump: what came before stays, kernel_error is set. */
static void check_ends_with(void (*end)(union msgbuf *, size_t *), int want_error)
{
	static union msgbuf buf;
	static const uint16_t before[] = { GOOD_BEFORE };
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	size_t off = 0;

	assert_non_null(snap);
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
	end(&buf, &off);
	put_sock(&buf, &off, &(struct fake){ .sport = 1009, .inode = 9 }); /* after the end */
	assert_int_equal(parse(&buf, off, &ctx), 1);
	assert_int_equal(ctx.kernel_error, want_error);
	assert_int_equal(ctx.malformed, 0);
	assert_ports(snap, before, 1);
	ts_snapshot_free(snap);
}

static void end_error_einval(union msgbuf *buf, size_t *off)
{
	put_error(buf, off, -EINVAL);
}

static void end_error_ack(union msgbuf *buf, size_t *off)
{
	put_error(buf, off, 0);
}

static void end_error_positive(union msgbuf *buf, size_t *off)
{
	put_error(buf, off, 5);
}

static void end_error_truncated(union msgbuf *buf, size_t *off)
{
	int err = -EINVAL;

	put_ctl(buf, off, NLMSG_ERROR, &err, sizeof(err));
}

static void end_done_error(union msgbuf *buf, size_t *off)
{
	put_done(buf, off, -ENOMEM);
}

static void end_done_ok(union msgbuf *buf, size_t *off)
{
	put_done(buf, off, 0);
}

static void end_done_empty(union msgbuf *buf, size_t *off)
{
	put_ctl(buf, off, NLMSG_DONE, NULL, 0);
}

static void test_errors(void **state)
{
	(void)state;
	check_ends_with(end_error_einval, -EINVAL);
	check_ends_with(end_error_ack, 0);
	check_ends_with(end_error_positive, -EPROTO);
	check_ends_with(end_error_truncated, -EBADMSG);
	check_ends_with(end_done_error, -ENOMEM);
	check_ends_with(end_done_ok, 0);
	check_ends_with(end_done_empty, 0);
}

static void test_dump_interrupted(void **state)
{
	static union msgbuf buf;
	static const uint16_t ports[] = { GOOD_BEFORE, 1002, GOOD_AFTER };
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	size_t off = 0;

	(void)state;
	assert_non_null(snap);
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1 });
	put_sock(&buf, &off, &(struct fake){ .sport = 1002, .inode = 2, .flags = NLM_F_DUMP_INTR });
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_AFTER, .inode = 3 });
	assert_int_equal(parse(&buf, off, &ctx), 0);
	assert_true(ctx.interrupted);
	assert_int_equal(ctx.malformed, 0);
	/* parsing goes on; sock_diag_dump() drops the attempt and retries */
	assert_ports(snap, ports, 3);

	/* DONE itself may carry the flag */
	off = 0;
	ctx.interrupted = false;
	put_ctl(&buf, &off, NLMSG_DONE, &(int){ 0 }, sizeof(int))->nlmsg_flags |= NLM_F_DUMP_INTR;
	assert_int_equal(parse(&buf, off, &ctx), 1);
	assert_true(ctx.interrupted);
	assert_int_equal(ctx.kernel_error, 0);
	ts_snapshot_free(snap);
}

/* Replies of another sequence (an abandoned attempt) and other types are ignored. */
static void test_seq_and_types(void **state)
{
	static union msgbuf buf;
	static const uint16_t ports[] = { GOOD_BEFORE, GOOD_AFTER };
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap, .seq = 77 };
	size_t off = 0;

	(void)state;
	assert_non_null(snap);
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_BEFORE, .inode = 1, .seq = 77 });
	put_sock(&buf, &off, &(struct fake){ .sport = 1002, .inode = 2, .seq = 76,
					     .flags = NLM_F_DUMP_INTR });
	put_done(&buf, &off, -EBUSY);
	((struct nlmsghdr *)(buf.b + off - NLMSG_SPACE(sizeof(int))))->nlmsg_seq = 76;
	put_ctl(&buf, &off, NLMSG_NOOP, NULL, 0)->nlmsg_seq = 77;
	put_ctl(&buf, &off, 0x99, &(int){ 1 }, sizeof(int))->nlmsg_seq = 77;
	put_sock(&buf, &off, &(struct fake){ .sport = GOOD_AFTER, .inode = 3, .seq = 77 });
	assert_int_equal(parse(&buf, off, &ctx), 0);
	assert_false(ctx.interrupted);
	assert_int_equal(ctx.kernel_error, 0);
	assert_int_equal(ctx.malformed, 0);
	assert_ports(snap, ports, 2);
	ts_snapshot_free(snap);
}

/* ---- sock_diag_parse_message() ---- */

/* A message with room for attributes, aligned. */
static struct nlmsghdr *one_msg(union msgbuf *buf, size_t *off, const struct fake *f)
{
	*off = 0;
	memset(buf, 0, sizeof(*buf));
	return put_sock(buf, off, f);
}

static void test_parse_v4(void **state)
{
	static union msgbuf buf;
	struct ts_socket s;
	struct inet_diag_msg *m;
	struct nlmsghdr *nlh;
	size_t off;
	struct in_addr a;

	(void)state;
	nlh = one_msg(&buf, &off, &(struct fake){
		.family = AF_INET, .state = TS_TCP_ESTABLISHED, .sport = 443, .dport = 51234,
		.inode = 4242, .timer = 1, .retrans = 2, .expires = 300,
		.cookie = { 0x89abcdef, 0x01234567 },
	});
	m = NLMSG_DATA(nlh);
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", &m->id.idiag_src[0]), 1);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.7", &m->id.idiag_dst[0]), 1);
	m->idiag_uid = 1000;
	m->idiag_rqueue = 11;
	m->idiag_wqueue = 22;

	memset(&s, 0xaa, sizeof(s));
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.state, TS_STATE_ESTABLISHED);
	assert_int_equal(s.local_port, 443);
	assert_int_equal(s.remote_port, 51234);
	memcpy(&a, &s.local_addr, 4);
	assert_int_equal(ntohl(a.s_addr), 0x0a010203);
	memcpy(&a, &s.remote_addr, 4);
	assert_int_equal(ntohl(a.s_addr), 0xc0000207);
	for (int i = 4; i < 16; i++) { /* the rest is zeroed, not left over */
		assert_int_equal(s.local_addr.s6_addr[i], 0);
		assert_int_equal(s.remote_addr.s6_addr[i], 0);
	}
	assert_true(s.cookie == 0x0123456789abcdefULL);
	assert_int_equal(s.inode, 4242);
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.recv_q, 11);
	assert_int_equal(s.send_q, 22);
	assert_int_equal(s.timer, TS_TIMER_RETRANS);
	assert_int_equal(s.timer_retrans, 2);
	assert_int_equal(s.timer_expires_ms, 300);
	assert_int_equal(s.flags, TS_SOCK_REMOTE_VALID);
	assert_int_equal(s.owner_count, 0);
	assert_int_equal(s.owner_first, UINT32_MAX);
	assert_int_equal(s.netns_index, 0);
}

static void test_parse_v6(void **state)
{
	static union msgbuf buf;
	uint8_t want_src[16], want_dst[16];
	struct ts_socket s;
	struct inet_diag_msg *m;
	struct nlmsghdr *nlh;
	size_t off;

	(void)state;
	nlh = one_msg(&buf, &off, &(struct fake){
		.family = AF_INET6, .state = TS_TCP_LISTEN, .sport = 8080, .dport = 0,
		.inode = 7, .cookie = { 0, 0xffffffff },
	});
	m = NLMSG_DATA(nlh);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", want_src), 1);
	assert_int_equal(inet_pton(AF_INET6, "fe80::2:3", want_dst), 1);
	memcpy(m->id.idiag_src, want_src, 16);
	memcpy(m->id.idiag_dst, want_dst, 16);

	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.state, TS_STATE_LISTEN);
	assert_int_equal(s.local_port, 8080);
	assert_int_equal(s.remote_port, 0);
	assert_memory_equal(&s.local_addr, want_src, 16);
	assert_memory_equal(&s.remote_addr, want_dst, 16);
	assert_true(s.cookie == 0xffffffff00000000ULL);
	assert_false(s.flags & TS_SOCK_REMOTE_VALID);

	/* the low half alone, ports at the top of the range */
	nlh = one_msg(&buf, &off, &(struct fake){
		.family = AF_INET6, .sport = 65535, .dport = 1, .cookie = { 0xffffffff, 0 },
	});
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_true(s.cookie == 0x00000000ffffffffULL);
	assert_int_equal(s.local_port, 65535);
	assert_int_equal(s.remote_port, 1);
}

static void test_parse_states_and_timers(void **state)
{
	static const struct {
		uint8_t kernel;
		uint8_t ours;
	} map[] = {
		{ TS_TCP_CLOSE, TS_STATE_BOUND }, /* how 6.8+ dumps bound-only sockets */
		{ TS_TCP_BOUND_INACTIVE, TS_STATE_BOUND },
		{ TS_TCP_NEW_SYN_RECV, TS_STATE_SYN_RECEIVED },
		{ TS_TCP_SYN_SENT, TS_STATE_SYN_SENT },
		{ TS_TCP_LAST_ACK, TS_STATE_LAST_ACK },
		{ TS_TCP_CLOSING, TS_STATE_CLOSING },
		{ TS_TCP_FIN_WAIT1, TS_STATE_FIN_WAIT_1 },
	};
	static union msgbuf buf;
	struct nlmsghdr *nlh;
	struct ts_socket s;
	size_t off;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		nlh = one_msg(&buf, &off, &(struct fake){ .state = map[i].kernel, .sport = 1, .dport = 2 });
		assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
		assert_int_equal(s.state, map[i].ours);
		assert_int_equal(!!(s.flags & TS_SOCK_REMOTE_VALID), map[i].ours != TS_STATE_BOUND);
	}

	nlh = one_msg(&buf, &off, &(struct fake){ .timer = 4, .expires = 99 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.timer, TS_TIMER_PROBE);
	assert_int_equal(s.timer_expires_ms, 99);
	nlh = one_msg(&buf, &off, &(struct fake){ .timer = 9, .expires = 99 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.timer, TS_TIMER_NONE);
	assert_int_equal(s.timer_expires_ms, 0);
	nlh = one_msg(&buf, &off, &(struct fake){ .timer = 0, .expires = 1234 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.timer_expires_ms, 0);
}

static void test_parse_info(void **state)
{
	static union msgbuf buf;
	uint8_t big[sizeof(struct tcp_info) + 24];
	struct tcp_info ti;
	struct nlmsghdr *nlh;
	struct ts_socket s;
	uint32_t mark = 5;
	size_t off;

	(void)state;
	memset(&ti, 0, sizeof(ti));
	ti.tcpi_ca_state = 4;
	ti.tcpi_retransmits = 3;
	ti.tcpi_probes = 2;
	ti.tcpi_backoff = 1;
	ti.tcpi_unacked = 17;
	ti.tcpi_lost = 4;
	ti.tcpi_last_data_sent = 100;
	ti.tcpi_last_data_recv = 200;
	ti.tcpi_last_ack_recv = 300;
	ti.tcpi_rtt = 1234;
	ti.tcpi_rttvar = 567;
	ti.tcpi_snd_cwnd = 10;
	ti.tcpi_total_retrans = 8;

	/* other attributes around it are skipped */
	nlh = one_msg(&buf, &off, &(struct fake){ .sport = 1 });
	put_attr(&buf, &off, nlh, INET_DIAG_MARK, &mark, sizeof(mark));
	put_attr(&buf, &off, nlh, INET_DIAG_INFO, &ti, sizeof(ti));
	put_attr(&buf, &off, nlh, INET_DIAG_SHUTDOWN, &(uint8_t){ 1 }, 1); /* unpadded, last */
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_true(s.flags & TS_SOCK_HAS_INFO);
	assert_int_equal(s.info.ca_state, 4);
	assert_int_equal(s.info.retransmits, 3);
	assert_int_equal(s.info.probes, 2);
	assert_int_equal(s.info.backoff, 1);
	assert_int_equal(s.info.unacked, 17);
	assert_int_equal(s.info.lost, 4);
	assert_int_equal(s.info.last_data_sent_ms, 100);
	assert_int_equal(s.info.last_data_recv_ms, 200);
	assert_int_equal(s.info.last_ack_recv_ms, 300);
	assert_int_equal(s.info.rtt_us, 1234);
	assert_int_equal(s.info.rttvar_us, 567);
	assert_int_equal(s.info.snd_cwnd, 10);
	assert_int_equal(s.info.total_retrans, 8);

	/* an older kernel's shorter tcp_info: what is there is taken, the rest is 0 */
	nlh = one_msg(&buf, &off, &(struct fake){ .sport = 1 });
	put_attr(&buf, &off, nlh, INET_DIAG_INFO, &ti, offsetof(struct tcp_info, tcpi_rtt));
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_true(s.flags & TS_SOCK_HAS_INFO);
	assert_int_equal(s.info.retransmits, 3);
	assert_int_equal(s.info.last_ack_recv_ms, 300);
	assert_int_equal(s.info.rtt_us, 0);
	assert_int_equal(s.info.snd_cwnd, 0);

	/* a newer kernel's longer one */
	memset(big, 0xee, sizeof(big));
	memcpy(big, &ti, sizeof(ti));
	nlh = one_msg(&buf, &off, &(struct fake){ .sport = 1 });
	put_attr(&buf, &off, nlh, INET_DIAG_INFO, big, sizeof(big));
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_int_equal(s.info.rtt_us, 1234);
	assert_int_equal(s.info.total_retrans, 8);

	/* an empty one */
	nlh = one_msg(&buf, &off, &(struct fake){ .sport = 1 });
	put_attr(&buf, &off, nlh, INET_DIAG_INFO, NULL, 0);
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_true(s.flags & TS_SOCK_HAS_INFO);
	assert_int_equal(s.info.rtt_us, 0);

	/* none */
	nlh = one_msg(&buf, &off, &(struct fake){ .sport = 1 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), 0);
	assert_false(s.flags & TS_SOCK_HAS_INFO);
}

static void test_parse_rejects(void **state)
{
	static union msgbuf buf;
	struct ts_socket s, before;
	struct nlmsghdr *nlh;
	size_t off;

	(void)state;
	memset(&before, 0x5a, sizeof(before));

	nlh = one_msg(&buf, &off, &(struct fake){ .family = AF_UNIX });
	s = before;
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);
	assert_memory_equal(&s, &before, sizeof(s)); /* untouched */

	nlh = one_msg(&buf, &off, &(struct fake){ .state = 99 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);
	nlh = one_msg(&buf, &off, &(struct fake){ .state = TS_TCP_BOUND_INACTIVE + 1 });
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);

	nlh = one_msg(&buf, &off, &(struct fake){ 0 });
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_msg) - 1);
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);
	nlh->nlmsg_len = NLMSG_HDRLEN;
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);

	nlh = one_msg(&buf, &off, &(struct fake){ 0 });
	put_attr(&buf, &off, nlh, INET_DIAG_INFO, &(uint32_t){ 0 }, 4);
	nlh->nlmsg_len -= 1; /* the attribute now ends past the message */
	assert_int_equal(sock_diag_parse_message(nlh, &s), -EBADMSG);
	assert_memory_equal(&s, &before, sizeof(s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_filter),
		cmocka_unit_test(test_malformed_messages),
		cmocka_unit_test(test_len_beyond_buffer),
		cmocka_unit_test(test_garbage_at_end),
		cmocka_unit_test(test_huge_nlmsg_len),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_dump_interrupted),
		cmocka_unit_test(test_seq_and_types),
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_states_and_timers),
		cmocka_unit_test(test_parse_info),
		cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
