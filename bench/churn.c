/* SPDX-License-Identifier: MIT */
/*
 * churn: opens and closes TCP connections at a set rate on loopback, inside an
 * existing network namespace, for the state-change tracer benchmark (bench/churn.py).
 *
 *   churn --netns NAME --rate N [--threads T] [--duration S | --connections C]
 *         [--port P] [--addresses A]
 *
 * One server thread accepts on 127.77.0.1:P (epoll, non-blocking). T client threads
 * connect from 127.78.x.y (A source addresses, IP_BIND_ADDRESS_NO_PORT, so the 4-tuples
 * outlast the 60 s of TIME_WAIT at tens of thousands of connections per second), each at
 * rate N/T on an absolute schedule, and close at once. The close order is fixed: the
 * client closes first (no data is sent), the server closes when it reads EOF. So every
 * connection makes the same state changes: the client ends in TIME_WAIT, the server in
 * CLOSED after LAST_ACK.
 *
 * With --duration the clients stop at the deadline even if they are behind schedule
 * (the achieved rate says so); with --connections they make exactly that many.
 * Prints one line of key=value on stdout at the end:
 *   churn connections=OK failed=F seconds=S rate=R target_rate=N threads=T
 * Exit status 0 if every attempted connection completed on both ends, 1 otherwise,
 * 2 on usage or setup errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sockgen.h" /* netns_enter(), netns_tune(): the namespace set up as sockgen does */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SERVER_ADDR 0x7f4d0001u /* 127.77.0.1 */
#define CLIENT_NET 0x7f4e0000u	/* 127.78.0.0/16 */
#define MAX_THREADS 64
#define MAX_ADDRESSES 60000

struct config {
	const char *netns;
	double rate, duration;
	uint64_t connections;
	unsigned threads, addresses;
	uint16_t port;
};

struct client {
	pthread_t tid;
	const struct config *cfg;
	unsigned index;
	uint64_t quota, ok, failed;
	uint64_t start_ns, deadline_ns;
	int first_errno;
};

static atomic_uint_fast64_t server_closed;
static atomic_bool server_stop;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int listen_server(uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(SERVER_ADDR),
	};
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 65535) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

struct server {
	pthread_t tid;
	int listen_fd, epoll_fd;
};

/* At most a batch per wakeup, so that reads (and closes) keep up with accepts and the
 * open descriptors stay bounded when the server falls behind. */
static void server_accept(struct server *s)
{
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or an aborted connection: the next one */
		ev.data.fd = fd;
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

/* The server end: close once the client's FIN (EOF) is read. */
static void server_read(int fd)
{
	char buf[256];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	close(fd);
	atomic_fetch_add(&server_closed, 1);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct epoll_event evs[256];

	while (!atomic_load(&server_stop)) {
		int n = epoll_wait(s->epoll_fd, evs, 256, 50);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == s->listen_fd)
				server_accept(s);
			else
				server_read(evs[i].data.fd);
		}
	}
	return NULL;
}

static int client_connect(const struct client *c, uint64_t seq)
{
	unsigned a = (unsigned)((seq * c->cfg->threads + c->index) % c->cfg->addresses);
	struct sockaddr_in src = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(CLIENT_NET + 256u * (a / 250u) + 1u + a % 250u),
	};
	struct sockaddr_in dst = {
		.sin_family = AF_INET,
		.sin_port = htons(c->cfg->port),
		.sin_addr.s_addr = htonl(SERVER_ADDR),
	};
	int one = 1, fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		err = -errno;
	close(fd); /* the client closes first */
	return err;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	double interval_ns = c->cfg->rate > 0 ? 1e9 * c->cfg->threads / c->cfg->rate : 0;

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (uint64_t k = 0; k < c->quota; k++) {
		uint64_t due = c->start_ns + (uint64_t)(interval_ns * (double)k), now = mono_ns();
		int r;

		if (c->deadline_ns && now >= c->deadline_ns)
			break;
		if (due > now) {
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u),
					       .tv_nsec = (long)(due % 1000000000u) };

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		r = client_connect(c, k);
		if (r < 0) {
			if (!c->failed)
				c->first_errno = -r;
			c->failed++;
		} else {
			c->ok++;
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: churn --netns NAME --rate N [--threads T] [--duration S | --connections C]\n"
		   "             [--port P] [--addresses A]\n");
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "connections", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "addresses", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool have_count = false;
	char *end;
	int o;

	*cfg = (struct config){ .threads = 2, .addresses = 256, .port = 47000, .duration = -1 };
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned long long v;

		errno = 0;
		switch (o) {
		case 'n':
			cfg->netns = optarg;
			break;
		case 'r':
			cfg->rate = strtod(optarg, &end);
			if (errno || *end || !(cfg->rate > 0 && cfg->rate <= 1e7))
				goto bad;
			break;
		case 'd':
			cfg->duration = strtod(optarg, &end);
			if (errno || *end || !(cfg->duration > 0 && cfg->duration <= 3600))
				goto bad;
			break;
		case 't':
		case 'c':
		case 'p':
		case 'a':
			v = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || !optarg[0])
				goto bad;
			if (o == 't' && v >= 1 && v <= MAX_THREADS)
				cfg->threads = (unsigned)v;
			else if (o == 'c' && v <= 100000000ull) {
				cfg->connections = v;
				have_count = true;
			} else if (o == 'p' && v >= 1 && v <= 65535)
				cfg->port = (uint16_t)v;
			else if (o == 'a' && v >= 1 && v <= MAX_ADDRESSES)
				cfg->addresses = (unsigned)v;
			else
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		continue;
bad:
		fprintf(stderr, "churn: invalid value: %s\n", optarg);
		return -EINVAL;
	}
	if (!cfg->netns || cfg->rate <= 0 || (have_count == (cfg->duration > 0)) || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (!have_count)
		cfg->connections = (uint64_t)(cfg->rate * cfg->duration + 0.5);
	return 0;
}

int main(int argc, char **argv)
{
	struct client clients[MAX_THREADS] = { 0 };
	struct server srv = { .listen_fd = -1, .epoll_fd = -1 };
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t start, end, ok = 0, failed = 0, wait_until;
	struct config cfg;
	struct rlimit nofile;
	int r, first_errno = 0;
	double secs;

	if (parse_args(argc, argv, &cfg) < 0)
		return 2;
	/* Accepted sockets wait for the client's FIN: at tens of thousands a second, more
	 * than the usual 1024 can be open at once. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	r = netns_enter(cfg.netns);
	if (r == 0)
		r = netns_tune(); /* lo up, the port range, tw_reuse 0, the backlogs */
	if (r < 0) {
		fprintf(stderr, "churn: namespace %s: %s\n", cfg.netns, strerror(-r));
		return 2;
	}
	srv.listen_fd = listen_server(cfg.port);
	if (srv.listen_fd < 0) {
		fprintf(stderr, "churn: listen on 127.77.0.1:%u: %s\n", cfg.port, strerror(-srv.listen_fd));
		return 2;
	}
	srv.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = srv.listen_fd;
	if (srv.epoll_fd < 0 || epoll_ctl(srv.epoll_fd, EPOLL_CTL_ADD, srv.listen_fd, &ev) < 0 ||
	    pthread_create(&srv.tid, NULL, server_main, &srv) != 0) {
		fprintf(stderr, "churn: server: %s\n", strerror(errno));
		return 2;
	}
	start = mono_ns() + 1000000u; /* all clients on one schedule */
	for (unsigned i = 0; i < cfg.threads; i++) {
		clients[i].cfg = &cfg;
		clients[i].index = i;
		clients[i].quota = cfg.connections / cfg.threads + (i < cfg.connections % cfg.threads);
		clients[i].start_ns = start;
		clients[i].deadline_ns = cfg.duration > 0 ? start + (uint64_t)(cfg.duration * 1e9) : 0;
		if (pthread_create(&clients[i].tid, NULL, client_main, &clients[i]) != 0) {
			fprintf(stderr, "churn: cannot start client thread %u\n", i);
			return 2;
		}
	}
	for (unsigned i = 0; i < cfg.threads; i++) {
		pthread_join(clients[i].tid, NULL);
		ok += clients[i].ok;
		failed += clients[i].failed;
		if (!first_errno)
			first_errno = clients[i].first_errno;
	}
	end = mono_ns();
	/* Every connected client was accepted; wait (bounded) for the server ends to close. */
	wait_until = end + 10000000000ull;
	while (atomic_load(&server_closed) < ok && mono_ns() < wait_until)
		usleep(1000);
	atomic_store(&server_stop, true);
	pthread_join(srv.tid, NULL);
	close(srv.listen_fd);
	close(srv.epoll_fd);
	secs = (double)(end - start) / 1e9;
	printf("churn connections=%" PRIu64 " failed=%" PRIu64 " server_closed=%" PRIu64
	       " seconds=%.3f rate=%.0f target_rate=%.0f threads=%u\n",
	       ok, failed, (uint64_t)atomic_load(&server_closed), secs,
	       secs > 0 ? (double)ok / secs : 0.0, cfg.rate, cfg.threads);
	if (failed)
		fprintf(stderr, "churn: %" PRIu64 " connections failed (first: %s)\n", failed,
			strerror(first_errno));
	return failed || atomic_load(&server_closed) != ok ? 1 : 0;
}
