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
 * TIME_WAIT lasts 60 s in Linux and cannot be tuned, so one dedicated
 * worker makes every TIME_WAIT socket and, while holding, watches the
 * namespace's TIME_WAIT count (/proc/net/sockstat, O(1)) from 59 s on and
 * tops them up as they expire. (A sock_diag dump walks the whole ehash:
 * one per worker every 200 ms would eat the CPU at 1M sockets.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sockgen.h"

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
		/* Workers for the pairs, plus one that makes and keeps every TIME_WAIT. */
		nw = (unsigned)((pairs + cap - 1) / cap) + (tw ? 1 : 0);
		if (nw < 1)
			nw = 1;
		if (nw == w)
			break;
		w = nw;
	}
	if (w > MAX_WORKERS)
		return -E2BIG;
	p.workers = w;
	p.pair_workers = p.count[K_TW] ? w - 1 : w;
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
	/* Stable partition: pairs first (the pair workers' share), TIME_WAIT last. */
	{
		struct conn *sorted = malloc((p.nconn ? p.nconn : 1) * sizeof(*sorted));
		unsigned long a = 0, b = p.nconn - p.count[K_TW];

		if (!sorted) {
			free(p.conn);
			return -ENOMEM;
		}
		for (unsigned long i = 0; i < p.nconn; i++)
			sorted[p.conn[i].kind == K_TW ? b++ : a++] = p.conn[i];
		free(p.conn);
		p.conn = sorted;
	}
	*ret = p;
	return 0;
}

double sockgen_now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/*
 * The namespace's counters of sockets ended early (nstat's TcpExt names),
 * on stderr: what explains a count below the plan.
 */
static void print_ended_counters(void)
{
	static const char *const names[] = {
		"TCPTimeWaitOverflow", "TCPAbortOnMemory", "TCPAbortOnClose", "TCPAbortOnData",
		"TCPAbortOnTimeout", "TCPAbortOnLinger", "TCPAbortFailed", "TWKilled", "TWRecycled",
	};
	char head[8192], vals[8192];
	FILE *f = fopen("/proc/self/net/netstat", "re");

	if (!f)
		return;
	while (fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		char *hs, *vs, *h, *v;

		if (strncmp(head, "TcpExt:", 7) != 0)
			continue;
		fputs("sockgen: TcpExt", stderr);
		h = strtok_r(head + 7, " \n", &hs);
		v = strtok_r(vals + 7, " \n", &vs);
		for (; h && v; h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &vs))
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (strcmp(h, names[i]) == 0)
					fprintf(stderr, " %s %s", h, v);
		fputc('\n', stderr);
		break;
	}
	fclose(f);
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
			if (read(rfds[i], &r, sizeof(r)) != sizeof(r)) {
				err = -ECHILD;
			} else if (r.err < 0) {
				err = r.err;
			} else {
				for (int k = 0; k < K__MAX; k++)
					sum->count[k] += r.count[k];
				sum->tw_rebuilt += r.tw_rebuilt;
			}
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
	t0 = sockgen_now_sec();

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
		unsigned long npairs = p.nconn - p.count[K_TW];
		unsigned long first = npairs, last = p.nconn;	/* the TIME_WAIT worker */

		if (w < p.pair_workers) {
			first = npairs * w / p.pair_workers;
			last = npairs * (w + 1) / p.pair_workers;
		}
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
		sum.count[K_TW], sockgen_now_sec() - t0, p.workers);
	if (sum.tw_rebuilt)
		fprintf(stderr, "sockgen: %lu TIME_WAIT sockets were gone right after being made, "
			"made again\n", sum.tw_rebuilt);
	if (count != (long)p.expected)
		fprintf(stderr, "sockgen: warning: socket count differs from plan\n");
	if (sum.tw_rebuilt || count != (long)p.expected)
		print_ended_counters();

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
