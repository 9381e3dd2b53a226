/* SPDX-License-Identifier: MIT */
/*
 * sockgen: build N TCP sockets in a network namespace for benchmarking.
 *
 * The sockets are a few LISTEN sockets on 127.0.0.1 (one per worker) and
 * loopback connections from a pool of 127.0.x.y source addresses:
 *   ~5% TIME_WAIT (client closes first, then server; one socket each),
 *   half of the remaining pairs CLOSE_WAIT (server) + FIN_WAIT_2 (client),
 *   the other half ESTABLISHED on both ends.
 * Workers hold at most --max-fds descriptors each, as processes on a real
 * host would; they die with the parent (PR_SET_PDEATHSIG).
 *
 * Which connection gets which state and source address depends only on
 * --seed and --sockets; ephemeral ports are chosen by the kernel.
 *
 * TIME_WAIT lasts 60 s in Linux and cannot be tuned, so while holding,
 * each worker watches its own TIME_WAIT sockets (sock_diag) from 59 s on
 * and tops them up as they expire.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NETNS_RUN_DIR "/run/netns"
#define LISTEN_PORT_BASE 9000	/* below the ephemeral range we set */
#define EPHEMERAL_RANGE "10000 65535"
#define MAX_WORKERS 1000
#define BATCH 512
#define TW_WATCH_SEC 59		/* start watching for expiry (TCP_TIMEWAIT_LEN is 60 s) */
#define TW_POLL_MS 200
#define FD_SLACK 64		/* stdio, listener, pipes, one batch in flight is extra */
#define TW_PERCENT 5

enum kind { K_EST, K_CLOSING, K_TW, K__MAX };

static const char *const kind_name[K__MAX] = { "established", "closing", "time_wait" };

struct conn {
	uint32_t src;		/* host byte order */
	uint8_t kind;
};

struct plan {
	unsigned long sockets;	/* target total */
	unsigned workers;
	unsigned long nconn;	/* connections = pairs + time_wait */
	unsigned long count[K__MAX];
	unsigned long expected;	/* sockets visible once built */
	struct conn *conn;	/* nconn entries, shuffled by seed */
};

struct worker_report {
	int err;		/* 0 or negative errno */
	unsigned long count[K__MAX];
};

struct opts {
	unsigned long sockets;
	const char *netns;
	uint64_t seed;
	int ready_fd;
	const char *ready_file;
	unsigned max_fds;
	unsigned addresses;
};

static void die_usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "sockgen: %s\n", msg);
	fprintf(stderr,
		"Usage: sockgen --sockets N [--netns NAME] [--seed S] [--ready-fd FD | --ready-file PATH]\n"
		"               [--max-fds N] [--addresses N]\n"
		"  --sockets N      total sockets to build (LISTEN + both ends of pairs + TIME_WAIT)\n"
		"  --netns NAME     enter this existing namespace (/run/netns/NAME or a path);\n"
		"                   without it, create tsbench-XXXXXXXX and remove it on exit\n"
		"  --seed S         seed for states and source addresses (default 1)\n"
		"  --ready-fd FD    write 'ready NS COUNT' to FD, then close it\n"
		"  --ready-file P   write 'ready NS COUNT' to P (atomically, via rename)\n"
		"  --max-fds N      descriptors per worker process (default 15000)\n"
		"  --addresses N    size of the 127.0.x.y source address pool (default 1024)\n"
		"Holds the sockets until SIGINT or SIGTERM.\n");
	exit(2);
}

/* One checked parser for every numeric option. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static unsigned long opt_ulong(const char *name, const char *s, unsigned long min, unsigned long max)
{
	unsigned long v;

	if (parse_ulong(s, min, max, &v) < 0) {
		fprintf(stderr, "sockgen: %s must be an integer in [%lu, %lu], not '%s'\n",
			name, min, max, s);
		exit(2);
	}
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "sockets", required_argument, NULL, 'n' },
		{ "netns", required_argument, NULL, 'N' },
		{ "seed", required_argument, NULL, 's' },
		{ "ready-fd", required_argument, NULL, 'f' },
		{ "ready-file", required_argument, NULL, 'F' },
		{ "max-fds", required_argument, NULL, 'm' },
		{ "addresses", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .seed = 1, .ready_fd = -1, .max_fds = 15000, .addresses = 1024 };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->sockets = opt_ulong("--sockets", optarg, 1, 10000000); break;
		case 'N': o->netns = optarg; break;
		case 's': o->seed = opt_ulong("--seed", optarg, 0, ULONG_MAX); break;
		case 'f': o->ready_fd = (int)opt_ulong("--ready-fd", optarg, 0, INT_MAX); break;
		case 'F': o->ready_file = optarg; break;
		case 'm': o->max_fds = (unsigned)opt_ulong("--max-fds", optarg, 256, 1000000); break;
		case 'a': o->addresses = (unsigned)opt_ulong("--addresses", optarg, 1, 250 * 254); break;
		case 'h': die_usage(NULL); break;
		default: die_usage(NULL);
		}
	}
	if (optind != argc)
		die_usage("unexpected argument");
	if (!o->sockets)
		die_usage("--sockets is required");
	if (o->ready_fd >= 0 && o->ready_file)
		die_usage("--ready-fd and --ready-file are exclusive");
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Unbiased enough for shuffling: n is far below 2^32. */
static uint64_t rand_below(uint64_t *state, uint64_t n)
{
	return splitmix64(state) % n;
}

static unsigned pairs_per_worker(unsigned max_fds)
{
	return (max_fds - FD_SLACK - BATCH) / 2;
}

/*
 * Split N into listeners, pairs and TIME_WAIT sockets. The number of
 * listeners equals the number of workers, which depends on the split, so
 * iterate until it settles (two rounds in practice).
 */
static int plan_build(const struct opts *o, struct plan *ret)
{
	unsigned long cap = pairs_per_worker(o->max_fds);
	struct plan p = { .sockets = o->sockets };
	uint64_t rng = o->seed;
	uint32_t *pool;
	unsigned w = 1;

	for (int round = 0; round < 10; round++) {
		unsigned long rest, tw, pairs;
		unsigned nw;

		if (o->sockets < w)
			return -ERANGE;
		rest = o->sockets - w;
		tw = rest * TW_PERCENT / 100;
		pairs = (rest - tw) / 2;
		tw = rest - 2 * pairs;	/* an odd socket becomes TIME_WAIT */
		p.count[K_CLOSING] = pairs / 2;
		p.count[K_EST] = pairs - pairs / 2;
		p.count[K_TW] = tw;
		p.nconn = pairs + tw;
		nw = (unsigned)((p.nconn + cap - 1) / cap);
		if (nw < 1)
			nw = 1;
		if (nw == w)
			break;
		w = nw;
	}
	if (w > MAX_WORKERS)
		return -E2BIG;
	p.workers = w;
	p.expected = w + 2 * (p.count[K_EST] + p.count[K_CLOSING]) + p.count[K_TW];

	/* A deterministic pool of distinct 127.0.x.y addresses, x >= 1. */
	pool = calloc(o->addresses, sizeof(*pool));
	p.conn = calloc(p.nconn ? p.nconn : 1, sizeof(*p.conn));
	if (!pool || !p.conn) {
		free(pool);
		free(p.conn);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->addresses; i++)
		pool[i] = (127u << 24) | ((1 + i / 254) << 8) | (1 + i % 254);
	for (unsigned i = o->addresses - 1; i > 0; i--) {
		unsigned j = (unsigned)rand_below(&rng, i + 1);
		uint32_t t = pool[i];

		pool[i] = pool[j];
		pool[j] = t;
	}

	unsigned long n = 0;
	for (int k = 0; k < K__MAX; k++)
		for (unsigned long i = 0; i < p.count[k]; i++)
			p.conn[n++].kind = (uint8_t)k;
	for (unsigned long i = p.nconn; i > 1; i--) {
		unsigned long j = rand_below(&rng, i);
		uint8_t t = p.conn[i - 1].kind;

		p.conn[i - 1].kind = p.conn[j].kind;
		p.conn[j].kind = t;
	}
	for (unsigned long i = 0; i < p.nconn; i++)
		p.conn[i].src = pool[rand_below(&rng, o->addresses)];
	free(pool);
	*ret = p;
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(s), n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, (size_t)len);
	if (n != len) {
		int err = n < 0 ? -errno : -EIO;

		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int link_up_lo(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out_close_fd;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out_close_fd:
	close(fd);
	return err;
}

/* Sysctls under /proc/sys/net are those of the caller's namespace. */
static int netns_tune(void)
{
	static const struct { const char *path, *value; bool required; } tab[] = {
		{ "/proc/sys/net/ipv4/ip_local_port_range", EPHEMERAL_RANGE, true },
		/* Reusing a TIME_WAIT tuple on connect() would silently drop one. */
		{ "/proc/sys/net/ipv4/tcp_tw_reuse", "0", true },
		{ "/proc/sys/net/core/somaxconn", "65535", false },
		{ "/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535", false },
		{ "/proc/sys/net/ipv4/tcp_max_tw_buckets", "4000000", false },
	};
	int err;

	err = link_up_lo();
	if (err < 0) {
		fprintf(stderr, "sockgen: bringing lo up: %s\n", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		err = write_file(tab[i].path, tab[i].value);
		if (err < 0) {
			fprintf(stderr, "sockgen: %s %s: %s\n", tab[i].required ? "error:" : "warning:",
				tab[i].path, strerror(-err));
			if (tab[i].required)
				return err;
		}
	}
	return 0;
}

static int netns_enter(const char *name)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Create a namespace the way 'ip netns add' does, so 'ip netns exec' finds
 * it: a bind mount of our /proc/self/ns/net on /run/netns/NAME, with
 * /run/netns a shared mount so other mount namespaces see it.
 */
static int netns_create(char *name, size_t size, char *path, size_t psize)
{
	uint32_t r;
	int fd;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return -errno;
	snprintf(name, size, "tsbench-%08" PRIx32, r);
	snprintf(path, psize, NETNS_RUN_DIR "/%s", name);

	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL)
			return -errno;
		/* Not a mount point yet: make it one, then shared. */
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
		    mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
			return -errno;
	}
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	if (unshare(CLONE_NEWNET) < 0 ||
	    mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		int err = -errno;

		unlink(path);
		return err;
	}
	return 0;
}

static void netns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0)
		fprintf(stderr, "sockgen: umount %s: %s\n", path, strerror(errno));
	if (unlink(path) < 0)
		fprintf(stderr, "sockgen: unlink %s: %s\n", path, strerror(errno));
}

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

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/*
 * Hold until SIGTERM. From TW_WATCH_SEC after the oldest TIME_WAIT cohort
 * was made, poll our TIME_WAIT count and replace the ones that expired, so
 * the total stays near N for as long as the benchmark runs.
 */
static void worker_hold(int lfd, uint16_t port, const struct conn *conn, unsigned long n,
			unsigned long tw_target)
{
	struct tw_cohort cohort[MAX_COHORTS] = { { .at = now_sec(), .n = tw_target } };
	unsigned ncohorts = tw_target ? 1 : 0;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	for (;;) {
		double left = ncohorts ? cohort[0].at + TW_WATCH_SEC - now_sec() : tw_target ? 0 : 3600;
		struct timespec ts = { .tv_nsec = TW_POLL_MS * 1000000L };
		struct conn batch[BATCH];
		unsigned long built = 0, nfds = 0, missing, b = 0;
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

		alive = count_own_tw(port);
		if (alive < 0 || (unsigned long)alive >= tw_target)
			continue;
		ncohorts = cohorts_expire(cohort, ncohorts, (unsigned long)alive);
		/* Reuse the first 'missing' TIME_WAIT entries of our share. */
		missing = tw_target - (unsigned long)alive;
		at = now_sec();
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
		if (built)
			cohorts_add(cohort, &ncohorts, at, built);
	}
}

static void worker_main(pid_t parent, unsigned idx, const struct plan *p, unsigned long first,
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

out_report:
	if (write(report_fd, &rep, sizeof(rep)) != sizeof(rep) || rep.err < 0)
		_exit(1);
	close(report_fd);
	worker_hold(lfd, port, p->conn + first, n, rep.count[K_TW]);
	_exit(0);
}

/* Sockets visible in /proc/net/tcp{,6} of our namespace (header lines excluded). */
static long count_sockets(void)
{
	static const char *const files[] = { "/proc/self/net/tcp", "/proc/self/net/tcp6" };
	long total = 0;

	for (size_t i = 0; i < 2; i++) {
		char buf[1 << 16];
		long lines = 0;
		ssize_t r;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;	/* no IPv6 */
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			for (ssize_t j = 0; j < r; j++)
				lines += buf[j] == '\n';
		close(fd);
		if (r < 0)
			return -errno;
		total += lines > 0 ? lines - 1 : 0;
	}
	return total;
}

static int announce_ready(const struct opts *o, const char *ns, long count)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "ready %s %ld\n", ns, count);

	fputs(line, stdout);
	fflush(stdout);
	if (o->ready_fd >= 0) {
		if (write(o->ready_fd, line, (size_t)len) != len)
			return -errno;
		close(o->ready_fd);
	}
	if (o->ready_file) {
		char tmp[PATH_MAX];
		int err;
		int fd;

		snprintf(tmp, sizeof(tmp), "%s.tmp", o->ready_file);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		err = write(fd, line, (size_t)len) == len ? 0 : -EIO;
		close(fd);
		if (err == 0 && rename(tmp, o->ready_file) < 0)
			err = -errno;
		return err;
	}
	return 0;
}

static void stop_workers(pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
}

/*
 * Wait for every worker's report while staying responsive to signals.
 * Returns 0, -EINTR if asked to stop, or a worker's error.
 */
static int collect_reports(int sfd, int *rfds, unsigned n, struct worker_report *sum)
{
	unsigned left = n;
	struct pollfd *pfd = calloc(n + 1, sizeof(*pfd));
	int err = 0;

	if (!pfd)
		return -ENOMEM;
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (unsigned i = 0; i < n; i++)
		pfd[i + 1] = (struct pollfd){ .fd = rfds[i], .events = POLLIN };
	while (left && !err) {
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD)
				err = -EINTR;
		}
		for (unsigned i = 0; i < n && !err; i++) {
			struct worker_report r;

			if (!pfd[i + 1].revents)
				continue;
			if (read(rfds[i], &r, sizeof(r)) != sizeof(r))
				err = -ECHILD;
			else if (r.err < 0)
				err = r.err;
			else
				for (int k = 0; k < K__MAX; k++)
					sum->count[k] += r.count[k];
			pfd[i + 1].fd = -1;
			left--;
		}
	}
	free(pfd);
	return err;
}

/* Hold until SIGINT/SIGTERM. Returns 0, or -ECHILD if a worker died. */
static int hold(int sfd, pid_t *pids, unsigned n)
{
	for (;;) {
		struct signalfd_siginfo si;

		if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			return 0;
		if (si.ssi_signo == SIGCHLD) {
			for (unsigned i = 0; i < n; i++) {
				int st;

				if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
					fprintf(stderr, "sockgen: worker %u exited unexpectedly\n", i);
					pids[i] = 0;
					return -ECHILD;
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	char nsname[64], nspath[PATH_MAX] = "";
	struct worker_report sum = { 0 };
	struct plan p;
	struct opts o;
	pid_t *pids = NULL;
	int *rfds = NULL;
	sigset_t set;
	double t0;
	long count = 0;
	int sfd = -1, err, ret = 1;

	parse_opts(argc, argv, &o);
	t0 = now_sec();

	err = plan_build(&o, &p);
	if (err < 0) {
		fprintf(stderr, "sockgen: cannot plan %lu sockets: %s\n", o.sockets, strerror(-err));
		return 1;
	}

	/* Signals arrive through a signalfd; workers inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("sockgen: signalfd");
		goto out_free_plan;
	}

	if (o.netns) {
		snprintf(nsname, sizeof(nsname), "%s", o.netns);
		err = netns_enter(o.netns);
	} else {
		err = netns_create(nsname, sizeof(nsname), nspath, sizeof(nspath));
	}
	if (err < 0) {
		fprintf(stderr, "sockgen: %s namespace %s: %s\n", o.netns ? "entering" : "creating",
			o.netns ? o.netns : NETNS_RUN_DIR, strerror(-err));
		goto out_close_sfd;
	}
	if (netns_tune() < 0)
		goto out_remove_netns;

	pids = calloc(p.workers, sizeof(*pids));
	rfds = calloc(p.workers, sizeof(*rfds));
	if (!pids || !rfds)
		goto out_remove_netns;

	for (unsigned w = 0; w < p.workers; w++) {
		unsigned long first = p.nconn * w / p.workers;
		unsigned long last = p.nconn * (w + 1) / p.workers;
		pid_t parent = getpid();
		int pfd[2];

		if (pipe2(pfd, O_CLOEXEC) < 0) {
			perror("sockgen: pipe");
			goto out_stop_workers;
		}
		pids[w] = fork();
		if (pids[w] < 0) {
			perror("sockgen: fork");
			pids[w] = 0;
			close(pfd[0]);
			close(pfd[1]);
			goto out_stop_workers;
		}
		if (pids[w] == 0) {
			close(pfd[0]);
			for (unsigned i = 0; i < w; i++)
				close(rfds[i]);
			close(sfd);
			worker_main(parent, w, &p, first, last - first, pfd[1], o.max_fds);
		}
		close(pfd[1]);
		rfds[w] = pfd[0];
	}

	err = collect_reports(sfd, rfds, p.workers, &sum);
	if (err == -EINTR) {
		ret = 0;
		goto out_stop_workers;
	}
	if (err < 0) {
		fprintf(stderr, "sockgen: building sockets failed: %s\n", strerror(-err));
		goto out_stop_workers;
	}

	/* Loopback teardown is synchronous, but give stragglers a moment. */
	for (int tries = 0; tries < 20; tries++) {
		count = count_sockets();
		if (count == (long)p.expected)
			break;
		usleep(100 * 1000);
	}
	fprintf(stderr,
		"sockgen: %s: %ld sockets (expected %lu: %u listen, %lu established pairs, "
		"%lu close_wait/fin_wait2 pairs, %lu time_wait) in %.2f s, %u workers\n",
		nsname, count, p.expected, p.workers, sum.count[K_EST], sum.count[K_CLOSING],
		sum.count[K_TW], now_sec() - t0, p.workers);
	if (count != (long)p.expected)
		fprintf(stderr, "sockgen: warning: socket count differs from plan\n");

	err = announce_ready(&o, nsname, count);
	if (err < 0) {
		fprintf(stderr, "sockgen: announcing readiness: %s\n", strerror(-err));
		goto out_stop_workers;
	}
	ret = hold(sfd, pids, p.workers) < 0 ? 1 : 0;

out_stop_workers:
	if (pids)
		stop_workers(pids, p.workers);
	for (unsigned w = 0; rfds && w < p.workers; w++)
		if (rfds[w] > 0)
			close(rfds[w]);
out_remove_netns:
	if (nspath[0])
		netns_remove(nspath);
out_close_sfd:
	close(sfd);
out_free_plan:
	free(pids);
	free(rfds);
	free(p.conn);
	return ret;
}
