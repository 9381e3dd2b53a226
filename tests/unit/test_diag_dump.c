/* SPDX-License-Identifier: MIT */
/* sock_diag_dump() against a stand-in kernel on a socketpair: interrupted dumps
 * are retried and never returned short; kernel errors come back. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <cmocka.h>

#include "snapshot/sock_diag.h"

enum reply { REPLY_OK, REPLY_INTR, REPLY_ENOENT };

/* recv() is wrapped at link time (-Wl,--wrap=recv): on the dump's side,
 * after enobufs_pass blocking calls went through, the next enobufs_left
 * fail with ENOBUFS, as when the kernel could not queue a dump message
 * because the socket's receive buffer was full. Set while no fake kernel
 * runs; only the dumping thread touches the counters. */
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
static int enobufs_fd = -1;
static unsigned enobufs_pass, enobufs_left;

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
	if (fd == enobufs_fd && !(flags & MSG_DONTWAIT)) {
		if (enobufs_pass) {
			enobufs_pass--;
		} else if (enobufs_left) {
			enobufs_left--;
			errno = ENOBUFS;
			return -1;
		}
	}
	return __real_recv(fd, buf, len, flags);
}

struct fake_kernel {
	int fd;
	enum reply script[8]; /* one per request */
	unsigned n_script;
	unsigned requests;
	uint32_t last_states;
	uint16_t last_type;      /* of the request; replies use the same */
	uint8_t last_ext;
	unsigned last_len;
};

static size_t put_socket_as(char *buf, uint16_t type, uint8_t family, uint32_t seq,
			    uint16_t flags, uint16_t sport, uint32_t inode)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct inet_diag_msg *m = NLMSG_DATA(nlh);

	memset(buf, 0, NLMSG_SPACE(sizeof(*m)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*m));
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_MULTI | flags;
	nlh->nlmsg_seq = seq;
	m->idiag_family = family;
	m->idiag_state = 1; /* ESTABLISHED */
	m->id.idiag_sport = htons(sport);
	m->id.idiag_dport = htons(80);
	m->idiag_inode = inode;
	return NLMSG_SPACE(sizeof(*m));
}

static size_t put_socket(char *buf, uint32_t seq, uint16_t flags, uint16_t sport, uint32_t inode)
{
	return put_socket_as(buf, SOCK_DIAG_BY_FAMILY, AF_INET, seq, flags, sport, inode);
}

static size_t put_done(char *buf, uint32_t seq, uint16_t flags)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	memset(buf, 0, NLMSG_SPACE(sizeof(int)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(int));
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI | flags;
	nlh->nlmsg_seq = seq;
	return NLMSG_SPACE(sizeof(int));
}

static size_t put_error(char *buf, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nlmsgerr *e = NLMSG_DATA(nlh);

	memset(buf, 0, NLMSG_SPACE(sizeof(*e)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e->error = error;
	return NLMSG_SPACE(sizeof(*e));
}

static void *fake_kernel_run(void *arg)
{
	struct fake_kernel *k = arg;
	char req[4096], out[4096];

	for (;;) {
		ssize_t n = recv(k->fd, req, sizeof(req), 0);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)req;
		const struct inet_diag_req_v2 *r = NLMSG_DATA(nlh);
		enum reply what;
		size_t len = 0;

		if (n <= 0)
			return NULL;
		k->last_type = nlh->nlmsg_type;
		k->last_len = nlh->nlmsg_len;
		if (nlh->nlmsg_type == TCPDIAG_GETSOCK) {
			const struct inet_diag_req *c = NLMSG_DATA(nlh);

			k->last_states = c->idiag_states;
			k->last_ext = c->idiag_ext;
		} else {
			k->last_states = r->idiag_states;
			k->last_ext = r->idiag_ext;
		}
		what = k->requests < k->n_script ? k->script[k->requests] : REPLY_OK;
		k->requests++;
		if (what == REPLY_OK && nlh->nlmsg_type == TCPDIAG_GETSOCK) {
			/* Both families come back, typed as the request was. */
			len += put_socket_as(out + len, TCPDIAG_GETSOCK, AF_INET, nlh->nlmsg_seq, 0,
					     3000, 31);
			len += put_socket_as(out + len, TCPDIAG_GETSOCK, AF_INET6, nlh->nlmsg_seq, 0,
					     3001, 32);
			len += put_done(out + len, nlh->nlmsg_seq, 0);
			(void)send(k->fd, out, len, 0);
			continue;
		}
		switch (what) {
		case REPLY_INTR:
			/* One socket, then the kernel notices the table changed. */
			len += put_socket(out + len, nlh->nlmsg_seq, 0, 1000, 11);
			len += put_done(out + len, nlh->nlmsg_seq, NLM_F_DUMP_INTR);
			break;
		case REPLY_OK:
			len += put_socket(out + len, nlh->nlmsg_seq, 0, 2000, 21);
			len += put_socket(out + len, nlh->nlmsg_seq, 0, 2001, 22);
			(void)send(k->fd, out, len, 0); /* a dump spans several reads */
			len = put_done(out, nlh->nlmsg_seq, 0);
			break;
		case REPLY_ENOENT:
			len += put_error(out + len, nlh->nlmsg_seq, -ENOENT);
			break;
		}
		(void)send(k->fd, out, len, 0);
	}
}

struct fixture {
	int sv[2];
	pthread_t tid;
	struct fake_kernel k;
	struct ts_snapshot *snap;
};

static int run_dump_family(struct fixture *fx, int family, const enum reply *script, unsigned n,
			   unsigned *retries)
{
	struct sock_diag_parse_ctx ctx = { 0 };
	struct sock_diag_dump_opts o = {
		.family = family, .kernel_states = 1u << 8, .want_info = true, .record_fd = -1,
	};
	int r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fx->sv), 0);
	memset(&fx->k, 0, sizeof(fx->k));
	fx->k.fd = fx->sv[1];
	memcpy(fx->k.script, script, n * sizeof(*script));
	fx->k.n_script = n;
	enobufs_fd = fx->sv[0];
	assert_int_equal(pthread_create(&fx->tid, NULL, fake_kernel_run, &fx->k), 0);

	fx->snap = snapshot_new();
	assert_non_null(fx->snap);
	ctx.snap = fx->snap;
	*retries = 0;
	r = sock_diag_dump(fx->sv[0], &o, &ctx, retries);

	shutdown(fx->sv[0], SHUT_RDWR);
	pthread_join(fx->tid, NULL);
	enobufs_fd = -1;
	enobufs_pass = enobufs_left = 0;
	close(fx->sv[0]);
	close(fx->sv[1]);
	return r;
}

static int run_dump(struct fixture *fx, const enum reply *script, unsigned n, unsigned *retries)
{
	return run_dump_family(fx, AF_INET, script, n, retries);
}

static void test_clean_dump(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_OK };

	(void)state;
	assert_int_equal(run_dump(&fx, script, 1, &retries), 0);
	assert_int_equal(retries, 0);
	assert_int_equal(fx.k.requests, 1);
	assert_int_equal(fx.k.last_states, 1u << 8);
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 2);
	assert_int_equal(ts_snapshot_socket(fx.snap, 0)->local_port, 2000);
	assert_int_equal(ts_snapshot_socket(fx.snap, 1)->inode, 22);
	assert_int_equal(fx.k.last_type, SOCK_DIAG_BY_FAMILY);
	assert_int_equal(fx.k.last_len, NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)));
	assert_int_equal(fx.k.last_ext, 1 << (INET_DIAG_INFO - 1));
	ts_snapshot_free(fx.snap);
}

/* AF_UNSPEC: one TCPDIAG_GETSOCK request (struct inet_diag_req) for both
 * families; its replies carry that type and both families are kept. */
static void test_unspec_dump(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_OK };

	(void)state;
	assert_int_equal(run_dump_family(&fx, AF_UNSPEC, script, 1, &retries), 0);
	assert_int_equal(fx.k.requests, 1);
	assert_int_equal(fx.k.last_type, TCPDIAG_GETSOCK);
	assert_int_equal(fx.k.last_len, NLMSG_LENGTH(sizeof(struct inet_diag_req)));
	assert_int_equal(fx.k.last_states, 1u << 8);
	assert_int_equal(fx.k.last_ext, 1 << (INET_DIAG_INFO - 1));
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 2);
	assert_int_equal(ts_snapshot_socket(fx.snap, 0)->family, AF_INET);
	assert_int_equal(ts_snapshot_socket(fx.snap, 0)->local_port, 3000);
	assert_int_equal(ts_snapshot_socket(fx.snap, 1)->family, AF_INET6);
	assert_int_equal(ts_snapshot_socket(fx.snap, 1)->inode, 32);
	ts_snapshot_free(fx.snap);
}

/* ENOBUFS mid-dump, after the first read brought two sockets: that
 * attempt's sockets are dropped, what it left queued is drained or ignored
 * by sequence number, and the retry is whole (two sockets, not four). */
static void test_enobufs_then_clean(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_OK, REPLY_OK };

	(void)state;
	enobufs_pass = 1;
	enobufs_left = 1;
	assert_int_equal(run_dump(&fx, script, 2, &retries), 0);
	assert_int_equal(retries, 1);
	assert_int_equal(fx.k.requests, 2);
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 2);
	assert_int_equal(ts_snapshot_socket(fx.snap, 0)->local_port, 2000);
	assert_int_equal(ts_snapshot_socket(fx.snap, 1)->local_port, 2001);
	ts_snapshot_free(fx.snap);
}

/* ENOBUFS on every attempt: -EAGAIN after the last one, never a short answer. */
static void test_enobufs_always(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_OK };

	(void)state;
	enobufs_left = 100;
	assert_int_equal(run_dump(&fx, script, 1, &retries), -EAGAIN);
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 0);
	assert_true(retries >= 2);
	assert_int_equal(fx.k.requests, retries); /* each attempt asked again */
	ts_snapshot_free(fx.snap);
}

static void test_interrupted_then_clean(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_INTR, REPLY_INTR, REPLY_OK };

	(void)state;
	assert_int_equal(run_dump(&fx, script, 3, &retries), 0);
	assert_int_equal(retries, 2);
	assert_int_equal(fx.k.requests, 3);
	/* The interrupted attempts' socket (port 1000) is gone: no mixing. */
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 2);
	for (size_t i = 0; i < 2; i++)
		assert_int_not_equal(ts_snapshot_socket(fx.snap, i)->local_port, 1000);
	ts_snapshot_free(fx.snap);
}

static void test_always_interrupted(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[8];

	(void)state;
	for (size_t i = 0; i < 8; i++)
		script[i] = REPLY_INTR;
	/* Reported, never returned short. */
	assert_int_equal(run_dump(&fx, script, 8, &retries), -EAGAIN);
	assert_true(retries >= 3);
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 0);
	ts_snapshot_free(fx.snap);
}

static void test_kernel_error(void **state)
{
	struct fixture fx;
	unsigned retries;
	enum reply script[] = { REPLY_ENOENT };

	(void)state;
	assert_int_equal(run_dump(&fx, script, 1, &retries), -ENOENT);
	assert_int_equal(ts_snapshot_socket_count(fx.snap), 0);
	ts_snapshot_free(fx.snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_dump),
		cmocka_unit_test(test_unspec_dump),
		cmocka_unit_test(test_enobufs_then_clean),
		cmocka_unit_test(test_enobufs_always),
		cmocka_unit_test(test_interrupted_then_clean),
		cmocka_unit_test(test_always_interrupted),
		cmocka_unit_test(test_kernel_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
