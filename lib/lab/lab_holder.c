/* SPDX-License-Identifier: MIT */
/*
 * The lab's children inside the namespace: the holder, which builds the
 * scenarios (recipes in lab_recipes.c), reports them and builds again what
 * leaves its state; and the leak, a server that never closes fed by a client.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "lab/lab_recipes.h"
#include "tcpstate/sysctl_registry.h"

int lab_event_send(int fd, const struct ts_lab_event *ev)
{
	ssize_t n;

	do
		n = write(fd, ev, sizeof(*ev));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*ev) ? 0 : -EIO;
}

#define TIME_WAIT_RENEW_S 50  /* TIME_WAIT lasts 60 s: renew before it goes */
#define SERVER_PORT_BASE 10000
#define CLIENT_PORT_BASE 20000
#define PORT_SLOTS 10000

struct holder {
	int event_fd;
	pid_t pid;
	struct ts_lab_nft *nft;
	uint32_t next_slot;
	struct ts_lab_scenario *sc;
	size_t n_sc;
};

static void send_warning(struct holder *h, enum ts_state state, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void send_warning(struct holder *h, enum ts_state state, int error, const char *fmt, ...)
{
	struct ts_lab_event ev = { .type = TS_LAB_EVENT_WARNING, .error = error };
	va_list ap;

	ev.sock.state = (uint8_t)state;
	va_start(ap, fmt);
	vsnprintf(ev.message, sizeof(ev.message), fmt, ap);
	va_end(ap);
	lab_event_send(h->event_fd, &ev);
}

static void send_socket(struct holder *h, const struct ts_lab_scenario *s,
			const struct ts_lab_role *ro, bool target, enum ts_lab_event_type type,
			enum ts_state now_state)
{
	struct ts_lab_event ev = { .type = type, .now_state = (uint8_t)now_state };
	struct ts_lab_socket *k = &ev.sock;

	k->scenario = s->id;
	k->state = (uint8_t)ro->state;
	k->target = target;
	k->local_port = ro->client_side ? s->cport : s->sport;
	k->local_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->has_remote = ro->has_remote;
	if (ro->has_remote) {
		k->remote_port = ro->client_side ? s->sport : s->cport;
		k->remote_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	k->pid = 0;
	k->fd = -1;
	if (ro->fd_index >= 0 && s->fds[ro->fd_index] >= 0) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);

		k->pid = h->pid;
		k->fd = s->fds[ro->fd_index];
		/* What the kernel says wins over what we meant. */
		if (getsockname(k->fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET) {
			k->local_addr = sa.sin_addr;
			k->local_port = ntohs(sa.sin_port);
		}
	}
	snprintf(k->how, sizeof(k->how), "%s", ro->how);
	snprintf(k->lasts, sizeof(k->lasts), "%s", ro->lasts);
	lab_event_send(h->event_fd, &ev);
}

static void scenario_clear(struct holder *h, struct ts_lab_scenario *s)
{
	for (int i = 0; i < TS_LAB_SCENARIO_FDS; i++) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
	/* Rules may have been set by this scenario: drop them with the sockets. */
	lab_nft_set_rules(h->nft, s->id, NULL);
}

/*
 * The next port slot no other scenario holds: after PORT_SLOTS builds the
 * slots wrap, while long-lived scenarios still hold theirs. There are far
 * fewer scenarios than slots, so this ends.
 */
static uint32_t slot_take(struct holder *h, const struct ts_lab_scenario *self)
{
	for (;;) {
		uint32_t slot = h->next_slot++ % PORT_SLOTS;
		bool taken = false;

		for (size_t i = 0; i < h->n_sc && !taken; i++)
			taken = &h->sc[i] != self && h->sc[i].ok &&
				h->sc[i].sport == SERVER_PORT_BASE + slot;
		if (!taken)
			return slot;
	}
}

_Static_assert((size_t)TS_STATE_COUNT * TS_LAB_COUNT_MAX < PORT_SLOTS, "slot_take() must end");

/* Builds (again) with fresh ports, and reports the sockets. */
static int scenario_build(struct holder *h, struct ts_lab_scenario *s, enum ts_lab_event_type type)
{
	const struct ts_lab_recipe *rc = lab_recipe_get(s->state);
	uint32_t slot = slot_take(h, s);
	int r;

	s->sport = (uint16_t)(SERVER_PORT_BASE + slot);
	s->cport = (uint16_t)(CLIENT_PORT_BASE + slot);
	for (int i = 0; i < TS_LAB_SCENARIO_FDS; i++)
		s->fds[i] = -1;
	r = rc->build(h->nft, s);
	if (r < 0) {
		const char *nft_err = lab_nft_error(h->nft);

		send_warning(h, s->state, r, "cannot build %s: %s%s%s", ts_state_name(s->state),
			     strerror(-r), r == -EIO && *nft_err ? ": " : "",
			     r == -EIO ? nft_err : "");
		scenario_clear(h, s);
		s->ok = false;
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->built);
	s->ok = true;
	send_socket(h, s, &rc->target, true, type, s->state);
	for (size_t i = 0; i < 2; i++)
		if (rc->side[i].how)
			send_socket(h, s, &rc->side[i], false, type, rc->side[i].state);
	return 0;
}

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		r = -errno;
		goto out_close;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		r = -errno;
out_close:
	close(fd);
	return r;
}

static int sysctl_write(const char *path, const char *value)
{
	size_t len = strlen(value);
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static _Noreturn void fatal(int event_fd, int error, const char *what, const char *detail)
{
	struct ts_lab_event ev = { .type = TS_LAB_EVENT_ERROR, .error = error };

	snprintf(ev.message, sizeof(ev.message), "%s: %s", what,
		 detail && *detail ? detail : strerror(-error));
	lab_event_send(event_fd, &ev);
	_exit(1);
}

_Noreturn void lab_holder_main(const struct ts_lab_opts *opts, int event_fd)
{
	struct holder h = { .event_fd = event_fd, .pid = getpid() };
	struct ts_lab_event ev;
	uint32_t count = opts->count ? opts->count : 1;
	int r;

	raise_nofile();
	r = lo_up();
	if (r < 0)
		fatal(event_fd, r, "cannot bring lo up in the lab", NULL);
	r = lab_nft_new(&h.nft);
	if (r < 0)
		fatal(event_fd, r, "cannot use libnftables", NULL);
	r = lab_nft_create_table(h.nft);
	if (r < 0)
		fatal(event_fd, r, "cannot create the nftables table", lab_nft_error(h.nft));

	if (opts->states & TS_STATE_BIT(TS_STATE_SYN_RECEIVED)) {
		/* /proc/sys/net follows the writer's namespace: this changes the lab only. */
		r = sysctl_write(ts_sysctl_info(TS_SYSCTL_TCP_SYNACK_RETRIES)->path,
				 TS_LAB_SYNACK_RETRIES_STR "\n");
		ev = (struct ts_lab_event){ .type = r < 0 ? TS_LAB_EVENT_WARNING : TS_LAB_EVENT_NOTE,
					    .error = r };
		if (r < 0)
			snprintf(ev.message, sizeof(ev.message),
				 "cannot raise tcp_synack_retries: %s; SYN_RECEIVED lasts ~1 min",
				 strerror(-r));
		else
			snprintf(ev.message, sizeof(ev.message),
				 TS_SYSCTL_NAME(TCP_SYNACK_RETRIES) "=" TS_LAB_SYNACK_RETRIES_STR
				 " in the lab namespace, so SYN_RECEIVED lasts hours");
		lab_event_send(event_fd, &ev);
	}

	h.sc = calloc((size_t)TS_STATE_COUNT * count, sizeof(*h.sc));
	if (!h.sc)
		fatal(event_fd, -ENOMEM, "out of memory", NULL);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (!(opts->states & TS_STATE_BIT(st)))
			continue;
		for (uint32_t c = 0; c < count; c++) {
			struct ts_lab_scenario *s = &h.sc[h.n_sc];

			s->id = (uint32_t)h.n_sc++;
			s->state = st;
			scenario_build(&h, s, TS_LAB_EVENT_SOCKET);
		}
	}
	ev = (struct ts_lab_event){ .type = TS_LAB_EVENT_CHILD_READY_ };
	lab_event_send(event_fd, &ev);

	/* Watch: once a second, report what left its state and build it again. */
	for (;;) {
		poll(NULL, 0, 1000);
		for (size_t i = 0; i < h.n_sc; i++) {
			struct ts_lab_scenario *s = &h.sc[i];
			struct timespec now;
			enum ts_state cur;

			if (!s->ok)
				continue; /* already reported as a warning */
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (s->state == TS_STATE_TIME_WAIT &&
			    now.tv_sec - s->built.tv_sec >= TIME_WAIT_RENEW_S) {
				scenario_clear(&h, s);
				scenario_build(&h, s, TS_LAB_EVENT_RECREATED);
				continue;
			}
			if (lab_scenario_check(s, &cur))
				continue;
			send_socket(&h, s, &lab_recipe_get(s->state)->target, true,
				    TS_LAB_EVENT_EXPIRED, cur);
			scenario_clear(&h, s);
			scenario_build(&h, s, TS_LAB_EVENT_RECREATED);
		}
	}
}

/* The leak: a server that accepts and never closes, fed by a client that connects and closes. */

_Noreturn void lab_leak_server_main(uint32_t rate, int event_fd)
{
	struct ts_lab_event ev = { .type = TS_LAB_EVENT_LEAK };
	struct rlimit rl;
	uint32_t limit, leaked = 0;
	int lfd, r;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		limit = (uint32_t)(rl.rlim_cur > UINT32_MAX ? UINT32_MAX : rl.rlim_cur);
	else
		limit = 1u << 20;
	/* Leave room for what is open already (stdio, the pipe, the listener). */
	limit = limit > 64 ? limit - 64 : 0;

	r = lo_up();
	if (r < 0)
		fatal(event_fd, r, "leak server: cannot bring lo up", NULL);
	lfd = lab_listener(TS_LAB_LEAK_PORT, 0);
	if (lfd < 0)
		fatal(event_fd, lfd, "leak server: cannot listen", NULL);
	ev.pid = getpid();
	ev.port = TS_LAB_LEAK_PORT;
	ev.rate = rate;
	ev.limit = limit;
	lab_event_send(event_fd, &ev);
	ev = (struct ts_lab_event){ .type = TS_LAB_EVENT_CHILD_READY_ };
	lab_event_send(event_fd, &ev);

	while (leaked < limit) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		leaked++; /* and never closed: the bug being shown */
	}
	/* Stop before RLIMIT_NOFILE: closing the listener refuses new connections. */
	close(lfd);
	ev = (struct ts_lab_event){ .type = TS_LAB_EVENT_LEAK_STOPPED, .count = leaked,
				    .limit = limit };
	snprintf(ev.message, sizeof(ev.message),
		 "leak stopped at %u sockets, before RLIMIT_NOFILE", leaked);
	lab_event_send(event_fd, &ev);
	for (;;)
		pause();
}

_Noreturn void lab_leak_client_main(uint32_t rate)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(TS_LAB_LEAK_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	uint64_t period_ns = 1000000000ull / (rate ? rate : 1);
	bool connected_once = false;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0) {
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
				connected_once = true;
			else if (errno == ECONNREFUSED && connected_once) {
				close(fd);
				break; /* the server stopped on purpose */
			}
			close(fd);
		}
		next.tv_nsec += (long)period_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		/* A steady rate, not a wait for something: an absolute tick is right here. */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	for (;;)
		pause();
}
