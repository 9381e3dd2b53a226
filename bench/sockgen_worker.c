/* SPDX-License-Identifier: MIT */
/* sockgen: the worker processes that build the connections and hold them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sockgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const char *const kind_name[K__MAX] = { "established", "closing", "time_wait" };

static int raise_nofile(unsigned long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need)
		rl.rlim_max = need;	/* root only; fails cleanly otherwise */
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static int listener_open(uint16_t port, int *ret_fd)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 65535) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*ret_fd = fd;
	return 0;
}

/* A blocking connect on loopback completes within the call. */
static int client_connect(uint32_t src, uint16_t port, int *ret_fd)
{
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
	struct sockaddr_in peer = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Defer the port choice to connect(), which can reuse a port per 4-tuple. */
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*ret_fd = fd;
	return 0;
}

/* Accept exactly n connections from the non-blocking listener. */
static int accept_n(int lfd, int *fds, unsigned n)
{
	unsigned got = 0;

	while (got < n) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			fds[got++] = fd;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int r = poll(&pfd, 1, 5000);

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * Build one batch of connections of a single kind, so that no accepted
 * socket needs to be matched to its client.
 */
static int batch_build(int lfd, uint16_t port, const struct conn *c, unsigned n,
		       int *cli, int *srv)
{
	int err;

	for (unsigned i = 0; i < n; i++) {
		err = client_connect(c[i].src, port, &cli[i]);
		if (err < 0) {
			while (i--)
				close(cli[i]);
			return err;
		}
	}
	err = accept_n(lfd, srv, n);
	if (err < 0)
		return err;	/* the worker exits; the kernel closes everything */

	switch (c[0].kind) {
	case K_EST:
		break;
	case K_CLOSING:
		/* Client FIN, server ACK: FIN_WAIT_2 / CLOSE_WAIT with both fds kept. */
		for (unsigned i = 0; i < n; i++)
			if (shutdown(cli[i], SHUT_WR) < 0)
				return -errno;
		break;
	case K_TW:
		/* Client first, so the client end is the one left in TIME_WAIT. */
		for (unsigned i = 0; i < n; i++)
			close(cli[i]);
		for (unsigned i = 0; i < n; i++)
			close(srv[i]);
		break;
	}
	return 0;
}

/* Build all connections of one kind from conn[], BATCH at a time. */
static int worker_build_kind(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
			     enum kind k, int *fds, unsigned long *nfds, unsigned long *built)
{
	struct conn batch[BATCH];
	int tmp[2 * BATCH];
	unsigned long i = 0;

	while (i < n) {
		unsigned b = 0;
		int err;

		for (; i < n && b < BATCH; i++)
			if (conn[i].kind == k)
				batch[b++] = conn[i];
		if (!b)
			break;
		if (k == K_TW) {
			err = batch_build(lfd, port, batch, b, tmp, tmp + BATCH);
		} else {
			err = batch_build(lfd, port, batch, b, fds + *nfds, fds + *nfds + b);
			if (err == 0)
				*nfds += 2 * b;
		}
		if (err < 0)
			return err;
		*built += b;
	}
	return 0;
}

static int worker_build(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
			int *fds, struct worker_report *rep)
{
	unsigned long nfds = 0;
	int err;

	for (int k = 0; k < K__MAX; k++) {
		err = worker_build_kind(lfd, port, conn, n, (enum kind)k, fds, &nfds, &rep->count[k]);
		if (err < 0) {
			fprintf(stderr, "sockgen: worker on port %u building %s: %s\n",
				port, kind_name[k], strerror(-err));
			return err;
		}
	}
	return 0;
}

/* TIME_WAIT sockets in our namespace whose peer is 127.0.0.1:port. */
static long count_own_tw(uint16_t port)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		},
		.req = {
			.sdiag_family = AF_INET,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = 1u << TCP_TIME_WAIT,
		},
	};
	static char buf[1 << 15];
	long n = 0;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (send(fd, &msg, sizeof(msg), 0) != sizeof(msg))
		goto out_errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			goto out_errno;
		}
		for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return n;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				close(fd);
				return -EPROTO;
			}
			if (m->id.idiag_dport == htons(port))
				n++;
		}
	}
out_errno:
	n = -errno;
	close(fd);
	return n;
}

/*
 * TIME_WAIT sockets of our namespace from /proc/self/net/sockstat ("tw",
 * per namespace since Linux 5.19): O(1), where a sock_diag dump walks every
 * socket of the ehash. Only one worker makes TIME_WAIT, so the namespace's
 * count is its own. Falls back to the dump when sockstat has no "tw".
 */
static long count_tw(uint16_t port)
{
	char buf[512];
	long tw = -1;
	FILE *f = fopen("/proc/self/net/sockstat", "re");

	if (f) {
		while (fgets(buf, sizeof(buf), f)) {
			const char *p = strstr(buf, " tw ");

			if (strncmp(buf, "TCP:", 4) == 0 && p && sscanf(p + 4, "%ld", &tw) == 1)
				break;
			tw = -1;
		}
		fclose(f);
	}
	return tw >= 0 ? tw : count_own_tw(port);
}

#define MAX_COHORTS 64

/* TIME_WAIT sockets made at one time; they expire together, oldest first. */
struct tw_cohort {
	double at;
	unsigned long n;
};

/* Forget the oldest cohorts, of which only 'alive' sockets in total remain. */
static unsigned cohorts_expire(struct tw_cohort *c, unsigned nc, unsigned long alive)
{
	unsigned long sum = 0;
	unsigned keep = 0;

	while (keep < nc && sum < alive)
		sum += c[nc - 1 - keep++].n;
	memmove(c, c + nc - keep, keep * sizeof(*c));
	if (keep && sum > alive)
		c[0].n -= sum - alive;	/* partly expired */
	return keep;
}

static void cohorts_add(struct tw_cohort *c, unsigned *nc, double at, unsigned long n)
{
	if (*nc == MAX_COHORTS) {
		/* Merge the two oldest; the merged one is watched a little early. */
		c[1].n += c[0].n;
		c[1].at = c[0].at;
		memmove(c, c + 1, (--*nc) * sizeof(*c));
	}
	c[(*nc)++] = (struct tw_cohort){ .at = at, .n = n };
}

/* Makes 'missing' TIME_WAIT connections again from the first of our share; returns how many. */
static unsigned long tw_rebuild(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
				unsigned long missing)
{
	struct conn batch[BATCH];
	unsigned long built = 0, nfds = 0, b = 0;

	for (unsigned long i = 0; i < n && b < missing; i++) {
		if (conn[i].kind != K_TW)
			continue;
		batch[b++ % BATCH] = conn[i];
		if (b % BATCH == 0 || b == missing)
			if (worker_build_kind(lfd, port, batch, (b - 1) % BATCH + 1, K_TW, NULL,
					      &nfds, &built) < 0)
				fprintf(stderr, "sockgen: worker on port %u: TIME_WAIT top-up failed\n",
					port);
	}
	return built;
}

/*
 * Right after the build: wait (up to TW_SETTLE_MS a round) for the
 * namespace to count all our TIME_WAIT sockets, and make again the ones
 * that are gone (a kernel under memory or orphan pressure ends a closing
 * socket without TIME_WAIT). Returns how many were made again.
 */
static unsigned long tw_settle(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
			       unsigned long tw_target)
{
	unsigned long rebuilt = 0;

	for (int round = 0; round < TW_SETTLE_ROUNDS; round++) {
		double end = sockgen_now_sec() + TW_SETTLE_MS / 1000.0;
		long alive;

		while ((alive = count_tw(port)) >= 0 && (unsigned long)alive < tw_target &&
		       sockgen_now_sec() < end)
			usleep(10 * 1000);
		if (alive < 0 || (unsigned long)alive >= tw_target)
			break;
		rebuilt += tw_rebuild(lfd, port, conn, n, tw_target - (unsigned long)alive);
	}
	return rebuilt;
}

/*
 * Hold until SIGTERM. From TW_WATCH_SEC after the oldest TIME_WAIT cohort
 * was made, poll our TIME_WAIT count and replace the ones that expired, so
 * the total stays near N for as long as the benchmark runs.
 */
static void worker_hold(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
			unsigned long tw_target)
{
	struct tw_cohort cohort[MAX_COHORTS] = { { .at = sockgen_now_sec(), .n = tw_target } };
	unsigned ncohorts = tw_target ? 1 : 0;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	for (;;) {
		double left = ncohorts ? cohort[0].at + TW_WATCH_SEC - sockgen_now_sec() : tw_target ? 0 : 3600;
		struct timespec ts = { .tv_nsec = TW_POLL_MS * 1000000L };
		unsigned long built;
		double at;
		long alive;
		int sig;

		if (left > 0) {
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		}
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM)
			return;
		if (sig >= 0 || errno == EINTR || left > 0)
			continue;
		if (errno != EAGAIN)
			return;

		alive = count_tw(port);
		if (alive < 0 || (unsigned long)alive >= tw_target)
			continue;
		ncohorts = cohorts_expire(cohort, ncohorts, (unsigned long)alive);
		at = sockgen_now_sec();
		built = tw_rebuild(lfd, port, conn, n, tw_target - (unsigned long)alive);
		if (built)
			cohorts_add(cohort, &ncohorts, at, built);
	}
}

void worker_main(pid_t parent, unsigned idx, const struct plan *p, unsigned long first,
		 unsigned long n, int report_fd, unsigned max_fds)
{
	struct worker_report rep = { 0 };
	uint16_t port = (uint16_t)(LISTEN_PORT_BASE + idx);
	unsigned long pairs = 0;
	int lfd = -1, *fds = NULL;

	/* Die with the parent, even if it is SIGKILLed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_IGN);	/* a terminal ^C is the parent's to handle */

	for (unsigned long i = first; i < first + n; i++)
		pairs += p->conn[i].kind != K_TW;
	rep.err = raise_nofile(2 * pairs + FD_SLACK + 2 * BATCH);
	if (rep.err < 0) {
		fprintf(stderr, "sockgen: RLIMIT_NOFILE to %lu: %s\n", 2 * pairs + FD_SLACK + 2 * BATCH,
			strerror(-rep.err));
		goto out_report;
	}
	if (2 * pairs + FD_SLACK > max_fds) {
		rep.err = -EMFILE;
		goto out_report;
	}
	fds = calloc(2 * pairs + 1, sizeof(*fds));
	if (!fds) {
		rep.err = -ENOMEM;
		goto out_report;
	}
	rep.err = listener_open(port, &lfd);
	if (rep.err < 0) {
		fprintf(stderr, "sockgen: listening on 127.0.0.1:%u: %s\n", port, strerror(-rep.err));
		goto out_report;
	}
	rep.err = worker_build(lfd, port, p->conn + first, n, fds, &rep);
	if (rep.err == 0 && rep.count[K_TW])
		rep.tw_rebuilt = tw_settle(lfd, port, p->conn + first, n, rep.count[K_TW]);

out_report:
	if (write(report_fd, &rep, sizeof(rep)) != sizeof(rep) || rep.err < 0)
		_exit(1);
	close(report_fd);
	worker_hold(lfd, port, p->conn + first, n, rep.count[K_TW]);
	_exit(0);
}
