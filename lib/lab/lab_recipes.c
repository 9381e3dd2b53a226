/* SPDX-License-Identifier: MIT */
/*
 * The lab's recipes: each puts a socket into one TCP state using nothing
 * but the kernel's own behaviour (plus nftables drops to fake a lossy
 * network), and tells whether it is still there. Runs in the holder
 * (lab_holder.c), inside the lab namespace, on 127.0.0.1.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "snapshot/sock_diag.h"
#include "lab/lab_recipes.h"

#define STATE_WAIT_MS 5000

enum { FD_CLIENT, FD_SERVER, FD_LISTENER, N_FDS };

_Static_assert(N_FDS == TS_LAB_SCENARIO_FDS, "struct ts_lab_scenario has one fd per role");

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int tcp_kstate(int fd, unsigned *ret)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	*ret = ti.tcpi_state;
	return 0;
}

/*
 * Looks for a socket without a descriptor (TIME_WAIT, request sockets,
 * orphans) in our namespace, by its ports, through sock_diag. Not
 * /proc/net/tcp: each read of it walks the whole host's socket table from
 * the start, so on a host with 100k sockets in other namespaces one look
 * took seconds. A live socket wins over a TIME_WAIT one with the same pair.
 */
static int sock_diag_find(uint16_t lport, uint16_t rport, enum ts_state *ret_state)
{
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	struct sock_diag_dump_opts o = {
		.family = AF_INET,
		.kernel_states = ts_state_mask_to_kernel(TS_STATE_MASK_ALL),
		.record_fd = -1,
	};
	unsigned retries = 0;
	int fd, r;

	if (!snap)
		return -ENOMEM;
	fd = sock_diag_open();
	if (fd < 0) {
		ts_snapshot_free(snap);
		return fd;
	}
	r = sock_diag_dump(fd, &o, &ctx, &retries);
	close(fd);
	if (r == 0) {
		r = -ENOENT;
		for (size_t i = 0; i < snap->n_sockets; i++) {
			const struct ts_socket *k = &snap->sockets[i];

			if (k->local_port != lport || k->remote_port != rport)
				continue;
			*ret_state = (enum ts_state)k->state;
			r = 0;
			if (k->state != TS_STATE_TIME_WAIT)
				break;
		}
	}
	ts_snapshot_free(snap);
	return r;
}

static int wait_kstate(int fd, unsigned want, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	unsigned st = 0;
	int r;

	for (;;) {
		r = tcp_kstate(fd, &st);
		if (r < 0)
			return r;
		if (st == want)
			return 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 10);
	}
}

static int wait_dumped(uint16_t lport, uint16_t rport, unsigned want, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	enum ts_state want_state, st;

	if (ts_state_from_kernel(want, &want_state) < 0)
		return -EINVAL;
	for (;;) {
		if (sock_diag_find(lport, rport, &st) == 0 && st == want_state)
			return 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 10);
	}
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	return sa;
}

static int tcp_socket(int extra_flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0);

	return fd < 0 ? -errno : fd;
}

static int bind_port(int fd, uint16_t port)
{
	struct sockaddr_in sa = loopback(port);
	int one = 1;

	/* Ports are reused after re-creation while old TIME_WAITs linger. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

int lab_listener(uint16_t port, int rcvbuf)
{
	int fd, r;

	fd = tcp_socket(0);
	if (fd < 0)
		return fd;
	/* Accepted sockets inherit the receive buffer; it must be set before listen. */
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) {
		r = -errno;
		goto out_close;
	}
	r = bind_port(fd, port);
	if (r < 0)
		goto out_close;
	if (listen(fd, 16) < 0) {
		r = -errno;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
}

/* A client bound to cport (0: any), connecting (non-blocking) to sport. */
static int client(uint16_t cport, uint16_t sport, int syncnt, int sndbuf)
{
	struct sockaddr_in sa = loopback(sport);
	int fd, r;

	fd = tcp_socket(SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	if (syncnt > 0 && setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof(syncnt)) < 0) {
		r = -errno;
		goto out_close;
	}
	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
		r = -errno;
		goto out_close;
	}
	r = cport ? bind_port(fd, cport) : 0;
	if (r < 0)
		goto out_close;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return r;
}

/* An established pair: fds[FD_CLIENT] and fds[FD_SERVER]; the listener is kept. */
static int pair(struct ts_lab_scenario *s, int rcvbuf, int sndbuf)
{
	struct pollfd pfd;
	int r;

	s->fds[FD_LISTENER] = lab_listener(s->sport, rcvbuf);
	if (s->fds[FD_LISTENER] < 0)
		return s->fds[FD_LISTENER];
	s->fds[FD_CLIENT] = client(s->cport, s->sport, 0, sndbuf);
	if (s->fds[FD_CLIENT] < 0)
		return s->fds[FD_CLIENT];
	pfd = (struct pollfd){ .fd = s->fds[FD_LISTENER], .events = POLLIN };
	r = poll(&pfd, 1, STATE_WAIT_MS);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	s->fds[FD_SERVER] = accept4(s->fds[FD_LISTENER], NULL, NULL, SOCK_CLOEXEC);
	if (s->fds[FD_SERVER] < 0)
		return -errno;
	return wait_kstate(s->fds[FD_CLIENT], TS_TCP_ESTABLISHED, STATE_WAIT_MS);
}

static int set_rules(struct ts_lab_nft *nft, struct ts_lab_scenario *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_rules(struct ts_lab_nft *nft, struct ts_lab_scenario *s, const char *fmt, ...)
{
	char rules[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rules, sizeof(rules), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rules))
		return -ENOSPC;
	return lab_nft_set_rules(nft, s->id, rules);
}

/* Recipes. Each fills s->fds, s->target and s->kstate, or returns a negative errno. */

static int build_idle(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	s->fds[FD_CLIENT] = tcp_socket(0);
	s->target = FD_CLIENT;
	s->kstate = TS_TCP_CLOSE;
	return s->fds[FD_CLIENT] < 0 ? s->fds[FD_CLIENT] : 0;
}

static int build_bound(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	s->fds[FD_SERVER] = tcp_socket(0);
	s->target = FD_SERVER;
	s->kstate = TS_TCP_CLOSE; /* TCP_INFO has no BOUND: only dumps do */
	if (s->fds[FD_SERVER] < 0)
		return s->fds[FD_SERVER];
	return bind_port(s->fds[FD_SERVER], s->sport);
}

static int build_listen(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	s->fds[FD_LISTENER] = lab_listener(s->sport, 0);
	s->target = FD_LISTENER;
	s->kstate = TS_TCP_LISTEN;
	return s->fds[FD_LISTENER] < 0 ? s->fds[FD_LISTENER] : 0;
}

static int build_established(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r = pair(s, 0, 0);

	close_fd(&s->fds[FD_LISTENER]);
	s->target = FD_CLIENT;
	s->kstate = TS_TCP_ESTABLISHED;
	if (r < 0)
		return r;
	return wait_kstate(s->fds[FD_SERVER], TS_TCP_ESTABLISHED, STATE_WAIT_MS);
}

/* Client half-closes: client FIN_WAIT_2, server CLOSE_WAIT, both forever. */
static int half_close(struct ts_lab_scenario *s)
{
	int r = pair(s, 0, 0);

	close_fd(&s->fds[FD_LISTENER]);
	if (r < 0)
		return r;
	if (shutdown(s->fds[FD_CLIENT], SHUT_WR) < 0)
		return -errno;
	r = wait_kstate(s->fds[FD_SERVER], TS_TCP_CLOSE_WAIT, STATE_WAIT_MS);
	if (r < 0)
		return r;
	return wait_kstate(s->fds[FD_CLIENT], TS_TCP_FIN_WAIT2, STATE_WAIT_MS);
}

static int build_close_wait(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	s->target = FD_SERVER;
	s->kstate = TS_TCP_CLOSE_WAIT;
	return half_close(s);
}

static int build_fin_wait_2(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	s->target = FD_CLIENT;
	s->kstate = TS_TCP_FIN_WAIT2;
	return half_close(s);
}

static int build_fin_wait_1(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	static char junk[4096];
	uint64_t deadline;
	int r;

	s->target = FD_CLIENT;
	s->kstate = TS_TCP_FIN_WAIT1;
	/* A tiny receive window that nobody drains. */
	r = pair(s, 1, 4096);
	close_fd(&s->fds[FD_LISTENER]);
	if (r < 0)
		return r;
	deadline = now_ms() + STATE_WAIT_MS;
	for (;;) {
		ssize_t n = send(s->fds[FD_CLIENT], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Full now, but in-flight data may still be acked: make sure it stays full. */
			poll(NULL, 0, 50);
			n = send(s->fds[FD_CLIENT], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
		}
		if (n < 0)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
	}
	/* The FIN queues behind data the peer has no room for. */
	if (shutdown(s->fds[FD_CLIENT], SHUT_WR) < 0)
		return -errno;
	return wait_kstate(s->fds[FD_CLIENT], TS_TCP_FIN_WAIT1, STATE_WAIT_MS);
}

static int build_last_ack(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r;

	s->target = FD_SERVER;
	s->kstate = TS_TCP_LAST_ACK;
	r = half_close(s);
	if (r < 0)
		return r;
	/* The ACK of the server's FIN never arrives. */
	r = set_rules(nft, s, "tcp sport %u tcp dport %u drop", s->cport, s->sport);
	if (r < 0)
		return r;
	if (shutdown(s->fds[FD_SERVER], SHUT_WR) < 0)
		return -errno;
	r = wait_kstate(s->fds[FD_SERVER], TS_TCP_LAST_ACK, STATE_WAIT_MS);
	if (r < 0)
		return r;
	/* The client got the FIN: its socket became a TIME_WAIT one; the fd holds a husk. */
	r = wait_kstate(s->fds[FD_CLIENT], TS_TCP_CLOSE, STATE_WAIT_MS);
	close_fd(&s->fds[FD_CLIENT]);
	return r;
}

static int build_closing(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r;

	s->target = FD_SERVER;
	s->kstate = TS_TCP_CLOSING;
	r = pair(s, 0, 0);
	close_fd(&s->fds[FD_LISTENER]);
	if (r < 0)
		return r;
	/* Both FINs are lost: a simultaneous close. */
	r = set_rules(nft, s, "tcp sport %u tcp dport %u drop\ntcp sport %u tcp dport %u drop",
		      s->cport, s->sport, s->sport, s->cport);
	if (r < 0)
		return r;
	if (shutdown(s->fds[FD_CLIENT], SHUT_WR) < 0 || shutdown(s->fds[FD_SERVER], SHUT_WR) < 0)
		return -errno;
	r = wait_kstate(s->fds[FD_SERVER], TS_TCP_FIN_WAIT1, STATE_WAIT_MS);
	if (r < 0)
		return r;
	/* Let the client's retransmitted FIN through: the server, its own FIN unacked, goes CLOSING. */
	r = set_rules(nft, s, "tcp sport %u tcp dport %u drop", s->sport, s->cport);
	if (r < 0)
		return r;
	return wait_kstate(s->fds[FD_SERVER], TS_TCP_CLOSING, STATE_WAIT_MS);
}

static int build_syn_sent(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r;

	s->target = FD_CLIENT;
	s->kstate = TS_TCP_SYN_SENT;
	r = set_rules(nft, s, "tcp dport %u drop", s->sport);
	if (r < 0)
		return r;
	s->fds[FD_CLIENT] = client(s->cport, s->sport, 127, 0);
	if (s->fds[FD_CLIENT] < 0)
		return s->fds[FD_CLIENT];
	return wait_kstate(s->fds[FD_CLIENT], TS_TCP_SYN_SENT, STATE_WAIT_MS);
}

static int build_syn_received(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r;

	s->target = -1;
	s->kstate = TS_TCP_SYN_RECV;
	r = set_rules(nft, s, "tcp sport %u tcp flags & (syn | ack) == syn | ack drop", s->sport);
	if (r < 0)
		return r;
	s->fds[FD_LISTENER] = lab_listener(s->sport, 0);
	if (s->fds[FD_LISTENER] < 0)
		return s->fds[FD_LISTENER];
	s->fds[FD_CLIENT] = client(s->cport, s->sport, 127, 0);
	if (s->fds[FD_CLIENT] < 0)
		return s->fds[FD_CLIENT];
	return wait_dumped(s->sport, s->cport, TS_TCP_SYN_RECV, STATE_WAIT_MS);
}

static int build_time_wait(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	int r;

	s->target = -1;
	s->kstate = TS_TCP_TIME_WAIT;
	r = half_close(s);
	if (r < 0)
		return r;
	/* The side that closes first waits: the client. */
	close_fd(&s->fds[FD_SERVER]);
	r = wait_kstate(s->fds[FD_CLIENT], TS_TCP_CLOSE, STATE_WAIT_MS);
	close_fd(&s->fds[FD_CLIENT]);
	if (r < 0)
		return r;
	return wait_dumped(s->cport, s->sport, TS_TCP_TIME_WAIT, STATE_WAIT_MS);
}

static int build_closed(struct ts_lab_nft *nft, struct ts_lab_scenario *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int r;

	s->target = FD_CLIENT;
	s->kstate = TS_TCP_CLOSE;
	/*
	 * An explicitly bound socket keeps its port after the RST and dumps
	 * as BOUND (TCP_BOUND_INACTIVE): let connect() pick the port, so the
	 * reset releases it and the socket is CLOSED, known only by its fd.
	 */
	s->cport = 0;
	r = pair(s, 0, 0);
	close_fd(&s->fds[FD_LISTENER]);
	if (r < 0)
		return r;
	/* An abortive close: the peer sends RST, our socket is dead but still held. */
	if (setsockopt(s->fds[FD_SERVER], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		return -errno;
	close_fd(&s->fds[FD_SERVER]);
	return wait_kstate(s->fds[FD_CLIENT], TS_TCP_CLOSE, STATE_WAIT_MS);
}

/* How long each lab socket lasts, said once for the recipes that share it. */
#define LIFE_IDLE_CONNECTION "forever: idle connections have no timer without keepalive"
#define LIFE_UNTIL_CLOSED "forever: until the program closes it"
#define LIFE_CLOSE_WAIT "forever: no timer ends CLOSE_WAIT"
#define LIFE_FIN_WAIT_2_HELD "forever while the fd is held (tcp_fin_timeout only for orphans)"

static const struct ts_lab_recipe recipes[TS_STATE_COUNT] = {
	[TS_STATE_IDLE] = { build_idle,
		{ FD_CLIENT, true, false, TS_STATE_IDLE, "socket() only",
		  "forever: nothing happens until bind/connect/close" } },
	[TS_STATE_BOUND] = { build_bound,
		{ FD_SERVER, false, false, TS_STATE_BOUND, "socket() + bind(), no listen/connect",
		  "forever: a bound socket has no timer" } },
	[TS_STATE_LISTEN] = { build_listen,
		{ FD_LISTENER, false, false, TS_STATE_LISTEN, "bind() + listen()",
		  LIFE_UNTIL_CLOSED } },
	[TS_STATE_ESTABLISHED] = { build_established,
		{ FD_CLIENT, true, true, TS_STATE_ESTABLISHED, "connect() to a listener, accepted",
		  LIFE_IDLE_CONNECTION },
		{ { FD_SERVER, false, true, TS_STATE_ESTABLISHED, "accept()ed peer",
		    LIFE_IDLE_CONNECTION } } },
	[TS_STATE_CLOSE_WAIT] = { build_close_wait,
		{ FD_SERVER, false, true, TS_STATE_CLOSE_WAIT,
		  "peer shut down its side; the program never closes (app bug)",
		  LIFE_CLOSE_WAIT },
		{ { FD_CLIENT, true, true, TS_STATE_FIN_WAIT_2, "shutdown(SHUT_WR) peer, fd held",
		    LIFE_FIN_WAIT_2_HELD } } },
	[TS_STATE_FIN_WAIT_2] = { build_fin_wait_2,
		{ FD_CLIENT, true, true, TS_STATE_FIN_WAIT_2,
		  "shutdown(SHUT_WR), peer acked the FIN but never closes",
		  LIFE_FIN_WAIT_2_HELD },
		{ { FD_SERVER, false, true, TS_STATE_CLOSE_WAIT, "peer that never closes",
		    LIFE_CLOSE_WAIT } } },
	[TS_STATE_FIN_WAIT_1] = { build_fin_wait_1,
		{ FD_CLIENT, true, true, TS_STATE_FIN_WAIT_1,
		  "shutdown(SHUT_WR) with the FIN queued behind data the peer has no room for",
		  "forever while the peer answers zero-window probes" },
		{ { FD_SERVER, false, true, TS_STATE_ESTABLISHED,
		    "peer with a tiny receive buffer that never reads",
		    LIFE_IDLE_CONNECTION } } },
	[TS_STATE_LAST_ACK] = { build_last_ack,
		{ FD_SERVER, false, true, TS_STATE_LAST_ACK,
		  "CLOSE_WAIT, then shutdown(); nft drops the ACK of its FIN",
		  "~15 min (tcp_retries2=15)" },
		{ { -1, true, true, TS_STATE_TIME_WAIT, "peer that got the FIN; its ACKs are dropped",
		    "60 s (TIME_WAIT is fixed), renewed by each retransmitted FIN" } } },
	[TS_STATE_CLOSING] = { build_closing,
		{ FD_SERVER, false, true, TS_STATE_CLOSING,
		  "simultaneous close: got the peer's FIN before the ACK of its own (nft drops)",
		  "~15 min (tcp_retries2=15)" },
		{ { FD_CLIENT, true, true, TS_STATE_FIN_WAIT_1,
		    "simultaneous close peer; nft drops everything sent to it",
		    "~15 min (tcp_retries2=15)" } } },
	[TS_STATE_SYN_SENT] = { build_syn_sent,
		{ FD_CLIENT, true, true, TS_STATE_SYN_SENT,
		  "non-blocking connect(); nft drops the SYNs",
		  "hours (TCP_SYNCNT=127 retries)" } },
	[TS_STATE_SYN_RECEIVED] = { build_syn_received,
		{ -1, false, true, TS_STATE_SYN_RECEIVED,
		  "request socket of a listener; nft drops its SYN-ACKs",
		  "hours (tcp_synack_retries=" TS_LAB_SYNACK_RETRIES_STR " in the lab)" },
		{ { FD_LISTENER, false, false, TS_STATE_LISTEN, "listener owning the request socket",
		    LIFE_UNTIL_CLOSED },
		  { FD_CLIENT, true, true, TS_STATE_SYN_SENT, "client whose SYN-ACKs are dropped",
		    "hours (TCP_SYNCNT=127 retries)" } } },
	[TS_STATE_TIME_WAIT] = { build_time_wait,
		{ -1, true, true, TS_STATE_TIME_WAIT, "closed first, then the peer closed",
		  "60 s (TIME_WAIT is fixed); the lab renews it every 50 s" } },
	[TS_STATE_CLOSED] = { build_closed,
		{ FD_CLIENT, true, false, TS_STATE_CLOSED,
		  "peer closed with SO_LINGER {1,0}: RST; the fd is still held",
		  "forever while the fd is held" } },
};

const struct ts_lab_recipe *lab_recipe_get(enum ts_state state)
{
	if ((unsigned)state >= TS_STATE_COUNT)
		return NULL;
	return &recipes[state];
}

bool lab_scenario_check(const struct ts_lab_scenario *s, enum ts_state *ret_now)
{
	enum ts_state want;
	unsigned st = 0;
	int r;

	if (s->target < 0) {
		/* No descriptor: the dump's state (no TCP_CLOSE ambiguity there). */
		if (s->kstate == TS_TCP_TIME_WAIT)
			r = sock_diag_find(s->cport, s->sport, ret_now);
		else
			r = sock_diag_find(s->sport, s->cport, ret_now);
		if (r < 0)
			*ret_now = TS_STATE_UNKNOWN;
		return r == 0 && ts_state_from_kernel(s->kstate, &want) == 0 && *ret_now == want;
	}
	r = tcp_kstate(s->fds[s->target], &st);
	if (r < 0 || ts_state_from_kernel(st, ret_now) < 0)
		*ret_now = TS_STATE_UNKNOWN;
	if (r < 0)
		return false;
	/*
	 * IDLE, BOUND and CLOSED all read TCP_CLOSE through TCP_INFO; for any
	 * other target TCP_CLOSE means it was reset or closed: CLOSED.
	 */
	if (st == TS_TCP_CLOSE && s->kstate == TS_TCP_CLOSE)
		*ret_now = s->state;
	return st == s->kstate;
}
