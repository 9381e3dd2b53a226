/* SPDX-License-Identifier: MIT */
/*
 * ptrace_close_fd() against real children: each holds a TCP socket (to be
 * closed) and another socket (to be kept) while it blocks in a syscall or
 * spins in user space; queued real-time signals are sent before, during and
 * after the operation and must all arrive. Needs CAP_SYS_PTRACE: skipped
 * without it.
 *
 * This file defines readlink(): it stands in for libc's in ptrace_close.c's
 * check of the fd, so that test_close_all_threads_stopped can look at the
 * child at that very moment (every thread must be in a ptrace stop). It
 * passes every call through. It defines getsockopt() too, which can hide
 * SO_LINGER from the check (hook.hide_linger): a close() that blocks
 * although the check let it through, as when the peer stops acknowledging.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "close/ptrace_close.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define N_DURING 5 /* signals sent while ptrace_close_fd() runs */

enum mode { M_ACCEPT, M_READ, M_SLEEP, M_BUSY, M_EPOLL, M_EPOLL_THREADS, M_THREADS, M_STRESS,
	    M_MULTI, M_LINGER };

#define N_MANY 48 /* M_STRESS: sockets closed one after another */

struct hello {
	int tcp_fd, keep_fd;
	uint16_t port;
	int many[N_MANY]; /* M_STRESS only */
};

struct result {
	int ok, err, sigs, eintr, tcp_open, keep_open;
	long elapsed_ms;
};

struct child {
	pid_t pid;
	int rep;  /* reports from the child */
	int peer; /* our end of its socketpair, -1 for M_ACCEPT */
	struct hello h;
	uint64_t inode;
};

static bool can_ptrace;

/* M_MULTI: shared with the child (MAP_SHARED, mapped before the fork). */
struct shared {
	uint64_t spins; /* the busy thread's loops */
	uint64_t naps;  /* the sleeping thread's naps */
	int stop;       /* the child's main thread tells the two to end */
	int reader_tid;
};

static struct shared *shm;

/* --- the child ------------------------------------------------------------ */

static volatile sig_atomic_t sigs;

static void on_sig(int s)
{
	(void)s;
	__atomic_fetch_add(&sigs, 1, __ATOMIC_SEQ_CST); /* threads: any may take it */
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int tcp_bound(bool listening, uint16_t *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	if (listening && listen(s, 4) < 0)
		return -1;
	if (ret_port && getsockname(s, (struct sockaddr *)&a, &al) == 0)
		*ret_port = ntohs(a.sin_port);
	return s;
}

/*
 * M_LINGER: a connected socket with SO_LINGER {1, 60} and its send queue
 * full, to a peer (kept open, never read) in the same process: its last
 * close() waits for the peer to take the data, up to 60 s.
 */
static int lingering_socket(void)
{
	struct linger l = { .l_onoff = 1, .l_linger = 60 };
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	static char buf[65536];
	uint16_t port = 0;
	int lst = tcp_bound(true, &port), s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), peer;

	if (lst < 0 || s < 0 || getsockname(lst, (struct sockaddr *)&a, &al) < 0 ||
	    connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	peer = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	if (peer < 0 || setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0)
		return -1;
	close(lst);
	memset(buf, 'x', sizeof(buf));
	while (send(s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	return errno == EAGAIN ? s : -1;
}

static void *reader_thread(void *arg)
{
	struct result *res = arg;
	char c;
	ssize_t n = read(res->err, &c, 1); /* err carries the fd in */

	res->ok = n == 1;
	res->err = n < 0 ? errno : 0;
	return NULL;
}

/* Waits without a timeout until fd is readable; counts the EINTRs on the way. */
static void epoll_until_readable(int fd, struct result *res)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	while ((n = epoll_wait(ep, &ev, 1, -1)) < 0 && errno == EINTR)
		res->eintr++; /* epoll_wait is never restarted after a handler */
	res->ok = n == 1;
	res->err = n < 0 ? errno : 0;
	close(ep);
}

static void *epoll_thread(void *arg)
{
	struct result *res = arg;

	epoll_until_readable(res->keep_open, res); /* keep_open carries the fd in */
	return NULL;
}

static void *busy_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&shm->stop, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&shm->spins, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *sleeper_thread(void *arg)
{
	struct timespec ts = { 0, 5000000 };

	(void)arg;
	while (!__atomic_load_n(&shm->stop, __ATOMIC_SEQ_CST)) {
		nanosleep(&ts, NULL); /* EINTR for a handler: just the next nap */
		__atomic_fetch_add(&shm->naps, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void *multi_reader_thread(void *arg)
{
	__atomic_store_n(&shm->reader_tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	return reader_thread(arg);
}

static void child_main(enum mode m, int wfd, int sock)
{
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_RESTART };
	struct result res = { 0 };
	struct hello h = { 0 };
	struct timespec t0;
	char c;

	sigaction(SIGRTMIN, &sa, NULL);
	h.tcp_fd = m == M_LINGER ? lingering_socket() : tcp_bound(false, NULL);
	h.keep_fd = m == M_ACCEPT ? tcp_bound(true, &h.port) : sock;
	for (int i = 0; m == M_STRESS && i < N_MANY; i++)
		if ((h.many[i] = tcp_bound(false, NULL)) < 0)
			_exit(2);
	if (h.tcp_fd < 0 || h.keep_fd < 0 || write(wfd, &h, sizeof(h)) != sizeof(h))
		_exit(2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	switch (m) {
	case M_ACCEPT: {
		int c2 = accept(h.keep_fd, NULL, NULL); /* SA_RESTART: never EINTR */

		res.ok = c2 >= 0;
		res.err = c2 < 0 ? errno : 0;
		if (c2 >= 0)
			close(c2); /* it took the freed fd number */
		break;
	}
	case M_READ:
	case M_LINGER:
	case M_STRESS: {
		ssize_t n = read(h.keep_fd, &c, 1);

		res.ok = n == 1;
		res.err = n < 0 ? errno : 0;
		break;
	}
	case M_SLEEP: {
		struct timespec ts = { 1, 0 };

		/* nanosleep returns EINTR to any handler; resume with the rest */
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			res.eintr++;
		res.ok = 1;
		break;
	}
	case M_BUSY:
		while (ms_since(&t0) < 1000) /* vDSO clock: no syscall */
			;
		res.ok = 1;
		break;
	case M_EPOLL:
		epoll_until_readable(h.keep_fd, &res);
		break;
	case M_EPOLL_THREADS: {
		struct result tr = { .keep_open = h.keep_fd };
		pthread_t th;

		/* both threads in epoll_wait(-1), each on its own epoll instance */
		if (pthread_create(&th, NULL, epoll_thread, &tr) != 0)
			_exit(3);
		epoll_until_readable(h.keep_fd, &res);
		pthread_join(th, NULL);
		res.ok = res.ok && tr.ok;
		res.err = res.err ? res.err : tr.err;
		res.eintr += tr.eintr;
		break;
	}
	case M_THREADS: {
		struct result tr = { .err = h.keep_fd };
		pthread_t th;

		/* the main thread waits in futex(), the other in read() */
		if (pthread_create(&th, NULL, reader_thread, &tr) != 0)
			_exit(3);
		pthread_join(th, NULL);
		res.ok = tr.ok;
		res.err = tr.err;
		break;
	}
	case M_MULTI: {
		struct result tr = { .err = h.keep_fd };
		pthread_t rd, busy, nap;

		/* main in futex() (join), one thread in read(), one spinning, one napping */
		if (pthread_create(&busy, NULL, busy_thread, NULL) != 0 ||
		    pthread_create(&nap, NULL, sleeper_thread, NULL) != 0 ||
		    pthread_create(&rd, NULL, multi_reader_thread, &tr) != 0)
			_exit(3);
		pthread_join(rd, NULL);
		__atomic_store_n(&shm->stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(busy, NULL);
		pthread_join(nap, NULL);
		res.ok = tr.ok;
		res.err = tr.err;
		break;
	}
	}
	res.elapsed_ms = ms_since(&t0);
	res.sigs = sigs;
	res.tcp_open = fcntl(h.tcp_fd, F_GETFD) >= 0;
	res.keep_open = fcntl(h.keep_fd, F_GETFD) >= 0;
	for (int i = 0; m == M_STRESS && i < N_MANY; i++)
		res.tcp_open += fcntl(h.many[i], F_GETFD) >= 0;
	_exit(write(wfd, &res, sizeof(res)) == sizeof(res) ? 0 : 4);
}

/* --- helpers on our side ------------------------------------------------- */

static bool read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	return read(fd, buf, len) == (ssize_t)len;
}

static uint64_t fd_inode(pid_t pid, int fd)
{
	char path[64], link[64];
	unsigned long long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%llu]", &ino) != 1)
		return 0;
	return ino;
}

static bool fd_exists(pid_t pid, int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	return access(path, F_OK) == 0;
}

/* The state letter from /proc/PID/stat (after the command's ')'). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static long tracer_pid(pid_t pid)
{
	char path[64], line[256];
	long t = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &t) == 1)
			break;
	fclose(f);
	return t;
}

/* Waits (with a deadline, not a fixed sleep) until pid is in state want. */
static bool wait_state(pid_t pid, char want, int timeout_ms)
{
	struct timespec t0, pause = { 0, 2000000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < timeout_ms) {
		if (proc_state(pid) == want)
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The state letter of one thread, from /proc/PID/task/TID/stat. */
static char task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Over pid's threads: how many, how many in a ptrace stop ('t'), how many
 * with a TracerPid other than 0. */
struct task_count {
	int n, traced_stop, traced;
};

static struct task_count count_tasks(pid_t pid)
{
	struct task_count tc = { 0 };
	char path[64], line[256];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return tc;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		long tracer = -1;
		FILE *f;

		if (tid <= 0)
			continue;
		tc.n++;
		if (task_state(pid, tid) == 't')
			tc.traced_stop++;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
				break;
		fclose(f);
		if (tracer != 0)
			tc.traced++;
	}
	closedir(d);
	return tc;
}

/* --- the readlink() hook ------------------------------------------------- */

static struct {
	char path[64]; /* "/proc/PID/fd/FD" of the fd being closed; "" = off */
	pid_t pid;
	int calls;
	struct task_count tc;
	uint64_t spins0, spins1, naps0, naps1;
	bool hide_linger; /* getsockopt(SO_LINGER) says off */
} hook;

int getsockopt(int fd, int level, int name, void *restrict val, socklen_t *restrict len)
{
	if (hook.hide_linger && level == SOL_SOCKET && name == SO_LINGER &&
	    *len >= sizeof(struct linger)) {
		memset(val, 0, sizeof(struct linger));
		*len = sizeof(struct linger);
		return 0;
	}
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

ssize_t readlink(const char *restrict path, char *restrict buf, size_t len)
{
	if (hook.path[0] && strcmp(path, hook.path) == 0) {
		hook.calls++;
		hook.spins0 = __atomic_load_n(&shm->spins, __ATOMIC_SEQ_CST);
		hook.naps0 = __atomic_load_n(&shm->naps, __ATOMIC_SEQ_CST);
		hook.tc = count_tasks(hook.pid);
		sleep_ms(30); /* ~100 million spins, 6 naps, if they ran */
		hook.spins1 = __atomic_load_n(&shm->spins, __ATOMIC_SEQ_CST);
		hook.naps1 = __atomic_load_n(&shm->naps, __ATOMIC_SEQ_CST);
	}
	return (ssize_t)syscall(SYS_readlinkat, AT_FDCWD, path, buf, len);
}

/* How many threads of pid are blocked in system call nr (/proc/PID/task/TID/syscall). */
static int threads_in_syscall(pid_t pid, long nr)
{
	char path[320], buf[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		long got = -1;
		ssize_t len;
		int fd;

		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", (int)pid, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			buf[len] = '\0';
			got = strtol(buf, NULL, 10);
		}
		n += got == nr && task_state(pid, (pid_t)atoi(de->d_name)) == 'S';
	}
	closedir(d);
	return n;
}

/* Waits (with a deadline) until want threads of pid are blocked in call nr. */
static bool wait_in_syscall(pid_t pid, long nr, int want, int timeout_ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < timeout_ms) {
		if (threads_in_syscall(pid, nr) == want)
			return true;
		sleep_ms(2);
	}
	return false;
}

static void child_start(enum mode m, struct child *c)
{
	int p[2], sv[2] = { -1, -1 };

	memset(c, 0, sizeof(*c));
	memset(shm, 0, sizeof(*shm));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	if (m != M_ACCEPT)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assert must not strand it */
		close(p[0]);
		if (sv[0] >= 0)
			close(sv[0]);
		child_main(m, p[1], sv[1]);
	}
	close(p[1]);
	if (sv[1] >= 0)
		close(sv[1]);
	c->rep = p[0];
	c->peer = sv[0];
	assert_true(read_full(c->rep, &c->h, sizeof(c->h), 5000));
	c->inode = fd_inode(c->pid, c->h.tcp_fd);
	assert_true(c->inode != 0);
	/* blocked (S) for the syscall modes, running (R) for the spinner */
	assert_true(wait_state(c->pid, m == M_BUSY ? 'R' : 'S', 5000));
	if (m == M_EPOLL || m == M_EPOLL_THREADS)
		assert_true(wait_in_syscall(c->pid, SYS_epoll_wait, m == M_EPOLL ? 1 : 2, 5000));
	/* let it settle into the syscall proper, or into the loop */
	sleep_ms(m == M_BUSY ? 100 : 20);
}

/* Makes the child finish its blocking call. */
static void child_trigger(enum mode m, struct child *c)
{
	if (m == M_ACCEPT) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c->h.port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_true(s >= 0);
		assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
		close(s);
	} else if (c->peer >= 0) {
		assert_int_equal(write(c->peer, "x", 1), 1);
	}
}

static void child_finish(struct child *c, struct result *res)
{
	int st = 0;

	assert_true(read_full(c->rep, res, sizeof(*res), 10000));
	assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(c->rep);
	if (c->peer >= 0)
		close(c->peer);
}

static void send_rt(pid_t pid)
{
	union sigval v = { .sival_int = 0 };

	assert_int_equal(sigqueue(pid, SIGRTMIN, v), 0);
}

struct sender {
	pid_t pid;
	int sent;
};

static void *sender_thread(void *arg)
{
	struct sender *s = arg;
	union sigval v = { .sival_int = 1 };

	for (int i = 0; i < N_DURING; i++) {
		if (sigqueue(s->pid, SIGRTMIN, v) == 0)
			s->sent++;
		sleep_ms(1);
	}
	return NULL;
}

/* --- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	pid_t pid;

	(void)state;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		pause();
		_exit(0);
	}
	can_ptrace = ptrace(PTRACE_SEIZE, pid, NULL, NULL) == 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
	if (!can_ptrace)
		fprintf(stderr, "# ptrace not permitted here: the ptrace_close tests are skipped\n");
	return 0;
}

#define NEED_PTRACE()                \
	do {                         \
		if (!can_ptrace)     \
			skip();      \
	} while (0)

/* --- the closing cases -------------------------------------------------- */

/*
 * quiet: no signal is sent to the child. Every wait then ends only by the
 * trigger: a call that returns EINTR would be one our stop caused.
 */
static void close_case_with(enum mode m, uint64_t (*cookie_of)(const struct child *), bool quiet)
{
	struct sender snd;
	struct result res;
	struct child c;
	const char *detail = NULL;
	pthread_t th;
	int r;

	NEED_PTRACE();
	child_start(m, &c);
	if (m == M_SLEEP)
		sleep_ms(300); /* close well into the sleep: a full restart would show */
	snd = (struct sender){ .pid = c.pid };
	if (!quiet) {
		send_rt(c.pid);
		assert_int_equal(pthread_create(&th, NULL, sender_thread, &snd), 0);
	}
	r = ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, cookie_of ? cookie_of(&c) : 0, &detail);
	if (!quiet)
		pthread_join(th, NULL);
	if (r != 0)
		print_error("ptrace_close_fd: %d (%s)\n", r, detail ? detail : "-");
	assert_int_equal(r, 0);
	assert_non_null(detail);
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	assert_true(fd_exists(c.pid, c.h.keep_fd));
	assert_int_equal(tracer_pid(c.pid), 0);
	assert_int_equal(count_tasks(c.pid).traced, 0);
	if (!quiet)
		send_rt(c.pid);
	child_trigger(m, &c);
	child_finish(&c, &res);
	if (!res.ok)
		print_error("child: err %d (%s)\n", res.err, strerror(res.err));
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
	assert_int_equal(res.keep_open, 1);
	assert_int_equal(res.sigs, quiet ? 0 : 2 + snd.sent); /* queued: none merged, none lost */
	if (res.eintr > res.sigs)
		print_error("child: %d EINTR for %d signals\n", res.eintr, res.sigs);
	assert_true(res.eintr <= res.sigs);       /* EINTR only for the signals */
	if (m == M_SLEEP || m == M_BUSY) {
		assert_true(res.elapsed_ms >= 1000);
		assert_true(res.elapsed_ms < 1250); /* the rest of the sleep, not all of it again */
	}
}

static void close_case(enum mode m, uint64_t (*cookie_of)(const struct child *))
{
	close_case_with(m, cookie_of, false);
}

static void test_close_accept(void **state)
{
	(void)state;
	close_case(M_ACCEPT, NULL);
}

static void test_close_read(void **state)
{
	(void)state;
	close_case(M_READ, NULL);
}

static void test_close_nanosleep(void **state)
{
	(void)state;
	close_case(M_SLEEP, NULL);
}

static void test_close_busy(void **state)
{
	(void)state;
	close_case(M_BUSY, NULL);
}

static void test_close_epoll(void **state)
{
	(void)state;
	close_case(M_EPOLL, NULL);
}

/* Linux ends an epoll wait with EINTR after any stop, handler or not
 * (signal(7)); ours must not be seen: the wait goes on. */
static void test_close_epoll_quiet(void **state)
{
	(void)state;
	close_case_with(M_EPOLL, NULL, true);
}

/* The same for a thread that does not run the close(), with and without signals. */
static void test_close_epoll_threads(void **state)
{
	(void)state;
	close_case_with(M_EPOLL_THREADS, NULL, true);
	close_case(M_EPOLL_THREADS, NULL);
}

static void test_close_threads(void **state)
{
	(void)state;
	close_case(M_THREADS, NULL);
}

/* Waits until *v (in the shared page) passes min. */
static bool wait_counter(const uint64_t *v, uint64_t min, int timeout_ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < timeout_ms) {
		if (__atomic_load_n(v, __ATOMIC_SEQ_CST) > min)
			return true;
		sleep_ms(1);
	}
	return false;
}

/*
 * Four threads (futex, read, spinning, napping): while the fd is checked,
 * every one of them is in a ptrace stop and none moves (the readlink()
 * hook); afterwards all are alive, none is traced, every signal arrived.
 */
static void test_close_all_threads_stopped(void **state)
{
	struct task_count tc;
	struct sender snd;
	struct result res;
	struct child c;
	const char *detail = NULL;
	uint64_t spins, naps;
	pthread_t th;
	int r;

	(void)state;
	NEED_PTRACE();
	child_start(M_MULTI, &c);
	assert_true(wait_counter(&shm->spins, 0, 5000));
	assert_true(wait_counter(&shm->naps, 0, 5000));
	for (int i = 0; i < 500 && __atomic_load_n(&shm->reader_tid, __ATOMIC_SEQ_CST) == 0; i++)
		sleep_ms(2);
	assert_true(shm->reader_tid > 0);
	for (int i = 0; i < 500 && task_state(c.pid, shm->reader_tid) != 'S'; i++)
		sleep_ms(2);
	assert_int_equal(task_state(c.pid, shm->reader_tid), 'S');
	assert_int_equal(count_tasks(c.pid).n, 4);

	memset(&hook, 0, sizeof(hook));
	hook.pid = c.pid;
	snprintf(hook.path, sizeof(hook.path), "/proc/%d/fd/%d", (int)c.pid, c.h.tcp_fd);
	snd = (struct sender){ .pid = c.pid };
	send_rt(c.pid);
	assert_int_equal(pthread_create(&th, NULL, sender_thread, &snd), 0);
	r = ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, &detail);
	pthread_join(th, NULL);
	hook.path[0] = '\0';
	if (r != 0)
		print_error("ptrace_close_fd: %d (%s)\n", r, detail ? detail : "-");
	assert_int_equal(r, 0);

	/* at the check: all four in a ptrace stop, the spinner and napper frozen */
	assert_int_equal(hook.calls, 1);
	if (hook.tc.traced_stop != 4 || hook.spins0 != hook.spins1 || hook.naps0 != hook.naps1)
		print_error("at the check: %d/%d threads stopped, spins %" PRIu64 " -> %" PRIu64
			    ", naps %" PRIu64 " -> %" PRIu64 "\n",
			    hook.tc.traced_stop, hook.tc.n, hook.spins0, hook.spins1, hook.naps0,
			    hook.naps1);
	assert_int_equal(hook.tc.n, 4);
	assert_int_equal(hook.tc.traced_stop, 4);
	assert_int_equal(hook.tc.traced, 4);
	assert_true(hook.spins0 == hook.spins1);
	assert_true(hook.naps0 == hook.naps1);

	/* after: fd closed, every thread alive, running and untraced */
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	assert_true(fd_exists(c.pid, c.h.keep_fd));
	tc = count_tasks(c.pid);
	assert_int_equal(tc.n, 4);
	assert_int_equal(tc.traced, 0);
	assert_int_equal(tc.traced_stop, 0);
	spins = __atomic_load_n(&shm->spins, __ATOMIC_SEQ_CST);
	naps = __atomic_load_n(&shm->naps, __ATOMIC_SEQ_CST);
	assert_true(wait_counter(&shm->spins, spins, 5000));
	assert_true(wait_counter(&shm->naps, naps, 5000));
	for (int i = 0; i < 500 && task_state(c.pid, shm->reader_tid) != 'S'; i++)
		sleep_ms(2);
	assert_int_equal(task_state(c.pid, shm->reader_tid), 'S'); /* back in read() */

	send_rt(c.pid);
	child_trigger(M_MULTI, &c);
	child_finish(&c, &res);
	if (!res.ok)
		print_error("child: err %d (%s)\n", res.err, strerror(res.err));
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
	assert_int_equal(res.keep_open, 1);
	assert_int_equal(res.sigs, 2 + snd.sent); /* queued: none merged, none lost */
}

static uint64_t cookie_get(pid_t pid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), copy;
	uint64_t ck = 0;
	socklen_t cl = sizeof(ck);

	assert_true(pidfd >= 0);
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	assert_true(copy >= 0);
	assert_int_equal(getsockopt(copy, SOL_SOCKET, SO_COOKIE, &ck, &cl), 0);
	close(copy);
	close(pidfd);
	return ck;
}

static uint64_t right_cookie(const struct child *c)
{
	return cookie_get(c->pid, c->h.tcp_fd);
}

static void test_close_with_cookie(void **state)
{
	(void)state;
	close_case(M_READ, right_cookie);
}

struct flood {
	pid_t pid;
	int sent;
	int stop;
};

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	union sigval v = { .sival_int = 2 };

	while (!__atomic_load_n(&f->stop, __ATOMIC_SEQ_CST)) {
		if (sigqueue(f->pid, SIGRTMIN, v) == 0)
			f->sent++;
		else
			sleep_ms(1); /* queue full (EAGAIN): let it drain */
	}
	return NULL;
}

/* Many closes while the child is flooded with queued signals: each must be
 * delivered exactly once, whichever stop the tracee was caught in. */
static void test_close_under_signal_flood(void **state)
{
	struct flood f;
	struct result res;
	struct child c;
	pthread_t th;

	(void)state;
	NEED_PTRACE();
	child_start(M_STRESS, &c);
	f = (struct flood){ .pid = c.pid };
	assert_int_equal(pthread_create(&th, NULL, flood_thread, &f), 0);
	for (int i = 0; i < N_MANY; i++) {
		uint64_t ino = fd_inode(c.pid, c.h.many[i]);
		const char *detail = NULL;
		int r = ptrace_close_fd(c.pid, c.h.many[i], ino, 0, &detail);

		if (r != 0)
			print_error("close #%d: %d (%s)\n", i, r, detail ? detail : "-");
		assert_int_equal(r, 0);
		assert_false(fd_exists(c.pid, c.h.many[i]));
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	assert_true(fd_exists(c.pid, c.h.tcp_fd));
	child_trigger(M_STRESS, &c);
	child_finish(&c, &res);
	assert_true(res.ok); /* read() never saw EINTR (SA_RESTART) */
	assert_int_equal(res.tcp_open, 1); /* only tcp_fd, which we left */
	assert_int_equal(res.keep_open, 1);
	assert_int_equal(res.sigs, f.sent);
}

/* Stopped by SIGSTOP: the fd is closed and the process stays stopped. */
static void test_close_stopped(void **state)
{
	struct result res;
	struct child c;
	int r;

	(void)state;
	NEED_PTRACE();
	child_start(M_READ, &c);
	kill(c.pid, SIGSTOP);
	assert_true(wait_state(c.pid, 'T', 5000));
	r = ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, NULL);
	assert_int_equal(r, 0);
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	sleep_ms(50);
	assert_int_equal(proc_state(c.pid), 'T');
	assert_int_equal(tracer_pid(c.pid), 0);
	child_trigger(M_READ, &c);
	kill(c.pid, SIGCONT);
	child_finish(&c, &res);
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
	assert_int_equal(res.keep_open, 1);
	assert_int_equal(res.sigs, 0);
}

/* --- refusals ----------------------------------------------------------- */

/* The child must be untouched: same fd, not traced, still working. */
static void assert_untouched_and_finish(struct child *c)
{
	struct result res;

	assert_true(fd_exists(c->pid, c->h.tcp_fd));
	assert_int_equal(tracer_pid(c->pid), 0);
	child_trigger(M_READ, c);
	child_finish(c, &res);
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 1);
	assert_int_equal(res.keep_open, 1);
}

static void test_refuse_self(void **state)
{
	const char *detail = NULL;

	(void)state;
	assert_int_equal(ptrace_close_fd(getpid(), 0, 1, 0, &detail), -EINVAL);
	assert_non_null(detail);
	assert_int_equal(ptrace_close_fd(getpid(), 0, 1, 0, NULL), -EINVAL);
}

static void *tid_thread(void *arg)
{
	int *p = arg;

	*p = (int)syscall(SYS_gettid);
	while (__atomic_load_n(p, __ATOMIC_SEQ_CST) != 0)
		sleep_ms(1);
	return NULL;
}

static void test_refuse_own_thread(void **state)
{
	pthread_t th;
	int tid = -1;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, tid_thread, &tid), 0);
	while (__atomic_load_n(&tid, __ATOMIC_SEQ_CST) <= 0)
		sleep_ms(1);
	assert_int_equal(ptrace_close_fd(tid, 0, 1, 0, NULL), -EINVAL);
	__atomic_store_n(&tid, 0, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
}

static void test_refuse_bad_args(void **state)
{
	(void)state;
	assert_int_equal(ptrace_close_fd(0, 3, 1, 0, NULL), -EINVAL);
	assert_int_equal(ptrace_close_fd(1, -1, 1, 0, NULL), -EINVAL);
}

static void test_refuse_traced(void **state)
{
	const char *detail = NULL;
	struct child c;
	pid_t tracer;
	int p[2];
	char b;

	(void)state;
	NEED_PTRACE();
	child_start(M_READ, &c);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	tracer = fork();
	assert_true(tracer >= 0);
	if (tracer == 0) {
		close(p[0]);
		b = ptrace(PTRACE_SEIZE, c.pid, NULL, NULL) == 0 ? 'y' : 'n';
		if (write(p[1], &b, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_true(read_full(p[0], &b, 1, 5000));
	close(p[0]);
	assert_int_equal(b, 'y');
	assert_int_equal(ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, &detail), -EBUSY);
	assert_non_null(strstr(detail, "traced"));
	/* the tracer's exit detaches it */
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	assert_true(fd_exists(c.pid, c.h.tcp_fd));
	for (int i = 0; i < 500 && tracer_pid(c.pid) != 0; i++)
		sleep_ms(2);
	assert_untouched_and_finish(&c);
}

static void test_refuse_wrong_inode(void **state)
{
	const char *detail = NULL;
	struct child c;

	(void)state;
	NEED_PTRACE();
	child_start(M_READ, &c);
	assert_int_equal(ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode + 1, 0, &detail), -ESTALE);
	assert_non_null(detail);
	/* the keep fd is a socket too, but not this inode */
	assert_int_equal(ptrace_close_fd(c.pid, c.h.keep_fd, c.inode, 0, NULL), -ESTALE);
	/* an fd number the child does not have */
	assert_int_equal(ptrace_close_fd(c.pid, 900, c.inode, 0, NULL), -ESTALE);
	assert_untouched_and_finish(&c);
}

static void test_refuse_wrong_cookie(void **state)
{
	struct child c;
	uint64_t ck;

	(void)state;
	NEED_PTRACE();
	child_start(M_READ, &c);
	ck = cookie_get(c.pid, c.h.tcp_fd);
	assert_int_equal(ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, ck + 1, NULL), -ESTALE);
	assert_untouched_and_finish(&c);
}

static void test_refuse_dead(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(ptrace_close_fd(pid, 3, 1, 0, NULL), -ESRCH);
}

/* --- a close() that blocks ------------------------------------------------ */

/* The SigBlk line of /proc/PID/status (the thread group leader's mask). */
static uint64_t sig_blocked(pid_t pid)
{
	char path[64], line[256];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* True while pid is traced and blocked in close(fd) (/proc/PID/syscall). */
static bool in_close(pid_t pid, int fd)
{
	char path[64];
	long nr = -1;
	unsigned long arg = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fscanf(f, "%ld %lx", &nr, &arg) != 2)
		nr = -1;
	fclose(f);
	return nr == SYS_close && arg == (unsigned long)fd && tracer_pid(pid) > 0;
}

/* While ptrace_close_fd() runs: once the child blocks in our close(), do one thing. */
enum poke { POKE_NONE, POKE_RT, POKE_KILL, POKE_SELF_TERM };

struct poker {
	pid_t pid;
	int fd;
	enum poke what;
	bool seen; /* the child was seen in close() */
};

static void *poker_thread(void *arg)
{
	struct poker *p = arg;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!in_close(p->pid, p->fd) && ms_since(&t0) < 10000)
		sleep_ms(2);
	p->seen = in_close(p->pid, p->fd);
	if (!p->seen)
		return NULL;
	switch (p->what) {
	case POKE_RT:
		send_rt(p->pid);
		break;
	case POKE_KILL:
		kill(p->pid, SIGKILL);
		break;
	case POKE_SELF_TERM:
		kill(getpid(), SIGTERM); /* every thread of ours blocks it */
		break;
	default:
		break;
	}
	return NULL;
}

/*
 * Runs ptrace_close_fd() on an M_LINGER child with SO_LINGER hidden from the
 * check, so the close() it runs blocks; the poker acts once it does.
 */
static int blocked_close(struct child *c, struct poker *pk, const char **detail)
{
	pthread_t th;
	int r;

	child_start(M_LINGER, c);
	pk->pid = c->pid;
	pk->fd = c->h.tcp_fd;
	hook.hide_linger = true;
	assert_int_equal(pthread_create(&th, NULL, poker_thread, pk), 0);
	r = ptrace_close_fd(c->pid, c->h.tcp_fd, c->inode, 0, detail);
	pthread_join(th, NULL);
	hook.hide_linger = false;
	if (r < 0)
		print_error("ptrace_close_fd: %d (%s)\n", r, *detail ? *detail : "-");
	return r;
}

/* SO_LINGER and data the peer does not take: refused, the process untouched. */
static void test_refuse_lingering(void **state)
{
	const char *detail = NULL;
	struct child c;
	uint64_t blk;

	(void)state;
	NEED_PTRACE();
	child_start(M_LINGER, &c);
	blk = sig_blocked(c.pid);
	assert_int_equal(ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, &detail), -EAGAIN);
	assert_non_null(strstr(detail, "SO_LINGER"));
	assert_int_equal(sig_blocked(c.pid), blk);
	assert_untouched_and_finish(&c);
}

/*
 * The close() blocks past the deadline: it is interrupted, the fd is
 * released and said so, the registers and mask are back (the child goes on
 * reading, a signal sent while it was blocked arrives once).
 */
static void test_close_blocked_past_deadline(void **state)
{
	struct poker pk = { .what = POKE_RT };
	const char *detail = NULL;
	struct result res;
	struct child c;
	uint64_t blk;

	(void)state;
	NEED_PTRACE();
	memset(&c, 0, sizeof(c));
	blk = sig_blocked(getpid()); /* the child inherits our mask */
	assert_int_equal(blocked_close(&c, &pk, &detail), 0);
	assert_true(pk.seen);
	assert_non_null(strstr(detail, "still blocked after 5 s"));
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	assert_int_equal(sig_blocked(c.pid), blk);
	assert_int_equal(tracer_pid(c.pid), 0);
	child_trigger(M_READ, &c);
	child_finish(&c, &res);
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
	assert_int_equal(res.keep_open, 1);
	assert_int_equal(res.sigs, 1);
}

/* SIGTERM for the caller while the close() blocks: cut short, restored, the
 * signal left pending for the caller. */
static void test_close_blocked_caller_signalled(void **state)
{
	struct poker pk = { .what = POKE_SELF_TERM };
	const struct timespec now = { 0, 0 };
	const char *detail = NULL;
	sigset_t term, old;
	struct result res;
	struct child c;
	uint64_t blk;
	int r, sig;

	(void)state;
	NEED_PTRACE();
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	blk = sig_blocked(getpid());
	pthread_sigmask(SIG_BLOCK, &term, &old); /* the poker inherits it */
	r = blocked_close(&c, &pk, &detail);
	sig = sigtimedwait(&term, NULL, &now);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	assert_true(pk.seen);
	assert_int_equal(sig, SIGTERM);
	assert_int_equal(r, 0);
	assert_non_null(strstr(detail, "asked to stop"));
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	assert_int_equal(sig_blocked(c.pid), blk | (1ull << (SIGTERM - 1)));
	assert_int_equal(tracer_pid(c.pid), 0);
	child_trigger(M_READ, &c);
	child_finish(&c, &res);
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
}

/* The child is killed while the close() blocks: -ESRCH at once, no hang. */
static void test_close_blocked_target_killed(void **state)
{
	struct poker pk = { .what = POKE_KILL };
	const char *detail = NULL;
	struct child c;
	int st = 0;
	pid_t w;

	(void)state;
	NEED_PTRACE();
	assert_int_equal(blocked_close(&c, &pk, &detail), -ESRCH);
	assert_true(pk.seen);
	assert_non_null(strstr(detail, "exited"));
	/* as its tracer we may have reaped it already */
	w = waitpid(c.pid, &st, 0);
	assert_true(w == c.pid ? WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL : errno == ECHILD);
	close(c.rep);
	close(c.peer);
}

/*
 * SIGTERM already pending for the caller: nothing is started, the child is
 * untouched. An ignored SIGHUP, pending because blocked, asks nothing.
 */
static void test_refuse_when_caller_asked_to_stop(void **state)
{
	const struct timespec now = { 0, 0 };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_hup;
	const char *detail = NULL;
	sigset_t set, old;
	struct result res;
	struct child c;
	int r, r2, sig;

	(void)state;
	NEED_PTRACE();
	child_start(M_READ, &c);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaction(SIGHUP, &ign, &old_hup);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	raise(SIGHUP);
	raise(SIGTERM);
	r = ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, &detail);
	sig = sigtimedwait(&set, NULL, &now); /* SIGHUP (1) comes first */
	r2 = sig == SIGHUP ? sigtimedwait(&set, NULL, &now) : -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	assert_int_equal(r, -EINTR);
	assert_non_null(strstr(detail, "not closed"));
	assert_int_equal(sig, SIGHUP);
	assert_int_equal(r2, SIGTERM);
	assert_true(fd_exists(c.pid, c.h.tcp_fd));

	/* the SIGHUP alone, ignored: the close goes ahead */
	pthread_sigmask(SIG_BLOCK, &set, &old);
	raise(SIGHUP);
	r = ptrace_close_fd(c.pid, c.h.tcp_fd, c.inode, 0, &detail);
	sig = sigtimedwait(&set, NULL, &now);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	assert_int_equal(r, 0);
	assert_int_equal(sig, SIGHUP);
	assert_false(fd_exists(c.pid, c.h.tcp_fd));
	assert_int_equal(tracer_pid(c.pid), 0);
	child_trigger(M_READ, &c);
	child_finish(&c, &res);
	assert_true(res.ok);
	assert_int_equal(res.tcp_open, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuse_self),
		cmocka_unit_test(test_refuse_own_thread),
		cmocka_unit_test(test_refuse_bad_args),
		cmocka_unit_test(test_refuse_dead),
		cmocka_unit_test(test_refuse_traced),
		cmocka_unit_test(test_refuse_wrong_inode),
		cmocka_unit_test(test_refuse_wrong_cookie),
		cmocka_unit_test(test_close_accept),
		cmocka_unit_test(test_close_read),
		cmocka_unit_test(test_close_nanosleep),
		cmocka_unit_test(test_close_busy),
		cmocka_unit_test(test_close_epoll),
		cmocka_unit_test(test_close_epoll_quiet),
		cmocka_unit_test(test_close_epoll_threads),
		cmocka_unit_test(test_close_threads),
		cmocka_unit_test(test_close_all_threads_stopped),
		cmocka_unit_test(test_close_with_cookie),
		cmocka_unit_test(test_close_stopped),
		cmocka_unit_test(test_close_under_signal_flood),
		cmocka_unit_test(test_refuse_lingering),
		cmocka_unit_test(test_close_blocked_past_deadline),
		cmocka_unit_test(test_close_blocked_caller_signalled),
		cmocka_unit_test(test_close_blocked_target_killed),
		cmocka_unit_test(test_refuse_when_caller_asked_to_stop),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
