/* SPDX-License-Identifier: MIT */
/*
 * close(fd) run by another process, through ptrace.
 *
 * The tracee is stopped inside the kernel's signal path (get_signal()), the
 * same place a debugger sees it. From there we point its PC at a syscall
 * instruction, let it run exactly one system call (PTRACE_SYSCALL to the
 * entry stop, where we make sure it is close(fd), then to the exit stop),
 * put every register back and make it stop once more inside get_signal()
 * before detaching, so that the kernel's own restart logic for the syscall
 * we interrupted (accept, read, epoll_wait, nanosleep...) runs on the
 * original registers, exactly as after any ptrace stop, with one mend: an
 * epoll wait without a timeout, which Linux ends with EINTR after any stop,
 * is made to restart unless a handler runs (ptrace_arch_restart_wait(), for
 * every thread we stopped). Signals are blocked
 * (PTRACE_SETSIGMASK) while our call runs and restored after, so none is
 * taken with our registers in place; one that was being delivered when we
 * stopped the tracee is let through before we start.
 *
 * The fd table belongs to the whole thread group, so every thread is seized
 * and stopped first (stop_all()), not only the one that runs close(): a
 * thread left running could close the fd and open something else on the
 * same number between our check and our close(). The others are detached
 * once the close is done.
 *
 * Once our registers and mask are in place we never let go before putting
 * them back. A close() that could only end when the peer acts (SO_LINGER with
 * data it has not acknowledged) is refused before we start; one that blocks
 * all the same is interrupted (PTRACE_INTERRUPT) at a 5 s deadline, or at
 * once when the caller is asked to end (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * which we block meanwhile), and its return is then waited for. Linux has
 * released the fd by then.
 *
 * Registers and the syscall instruction are the architecture's part:
 * ptrace_close_x86_64.c, ptrace_close_aarch64.c, behind ptrace_close-arch.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>

#include "core/array.h"
#include "core/pidfd.h"
#include "close/ptrace_close.h"
#include "close/ptrace_close-arch.h"
#include "tcpstate/util.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define STOP_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 5000 /* our close() may block this long before we interrupt it */
#define SCAN_MAX_PER_MAPPING (4u << 20)

#if PTRACE_ARCH_SUPPORTED

/* --- helpers ------------------------------------------------------------ */

static void deadline_in(struct timespec *d, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

static bool deadline_passed(const struct timespec *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* One look, without blocking, for tid's next stop: 1 (stopped, *ret_status
 * set), 0 (not yet), -ESRCH (it ended), or -errno. */
static int poll_stop(pid_t tid, int *ret_status)
{
	int st;
	pid_t w = waitpid(tid, &st, __WALL | WNOHANG);

	if (w == tid) {
		if (!WIFSTOPPED(st))
			return -ESRCH;
		*ret_status = st;
		return 1;
	}
	if (w < 0 && errno != EINTR)
		return errno == ECHILD ? -ESRCH : -errno;
	return 0;
}

/*
 * Waits for tid's next ptrace stop, until *deadline (NULL: STOP_TIMEOUT_MS
 * from now). Returns 0 and the wait status, -ESRCH when it is gone (its exit
 * is reaped from the tracer's side here), or -ETIMEDOUT.
 */
static int wait_stop(pid_t tid, int *ret_status, const struct timespec *until)
{
	struct timespec deadline, pause = { 0, 100000 };

	if (until)
		deadline = *until;
	else
		deadline_in(&deadline, STOP_TIMEOUT_MS);
	for (;;) {
		int r = poll_stop(tid, ret_status);

		if (r != 0)
			return r < 0 ? r : 0;
		if (deadline_passed(&deadline))
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 8000000)
			pause.tv_nsec *= 2;
	}
}

static bool is_event_stop(int st)
{
	return (st >> 16) == PTRACE_EVENT_STOP;
}

static bool is_syscall_stop(int st)
{
	return WSTOPSIG(st) == (SIGTRAP | 0x80);
}

static int pt(int req, pid_t tid, void *addr, void *data)
{
	return ptrace(req, tid, addr, data) < 0 ? -errno : 0;
}

/* Reads "Key:\tvalue" from a status file into *ret (a decimal), or the
 * first character of the value (State:) when ret_char is set. */
static int status_field(const char *path, const char *key, uint64_t *ret, char *ret_char)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen(path, "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		v = line + klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, " \t\n")] = '\0';
		if (ret_char) {
			*ret_char = v[0];
			r = 0;
		} else {
			r = ts_parse_u64(v, 0, UINT64_MAX, ret);
		}
		break;
	}
	fclose(f);
	return r;
}

/*
 * Checks that pid is another process, that no thread of it is traced, and
 * picks the thread to stop: pid itself, or another live thread when pid is
 * a zombie leader or in uninterruptible sleep (an interrupt would not reach
 * it). Returns 0, -EINVAL, -ESRCH, -EBUSY.
 */
static int pick_thread(pid_t pid, pid_t *ret_tgid, pid_t *ret_tid, const char **detail)
{
	char path[64];
	uint64_t tgid = 0;
	pid_t other = 0;
	bool pid_ok = false, any_d = false;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (status_field(path, "Tgid", &tgid, NULL) < 0 || tgid == 0 || tgid > INT32_MAX) {
		*detail = "process not found";
		return -ESRCH;
	}
	if ((pid_t)tgid == getpid()) {
		*detail = "refusing to close an fd of tcpstate itself";
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)tgid);
	d = opendir(path);
	if (!d) {
		*detail = "process not found";
		return -ESRCH;
	}
	while ((de = readdir(d))) {
		uint64_t tracer = 0;
		char state = 0;
		pid_t t;

		if (ts_parse_pid(de->d_name, &t) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)tgid, (int)t);
		if (status_field(path, "TracerPid", &tracer, NULL) < 0 ||
		    status_field(path, "State", NULL, &state) < 0)
			continue; /* exited meanwhile */
		if (tracer != 0) {
			closedir(d);
			*detail = "already traced by another process (a debugger?)";
			return -EBUSY;
		}
		if (state == 'Z' || state == 'X')
			continue;
		if (state == 'D') {
			any_d = true;
			continue;
		}
		if (t == pid)
			pid_ok = true;
		else if (other == 0)
			other = t;
	}
	closedir(d);
	if (!pid_ok && other == 0) {
		*detail = any_d ? "in uninterruptible sleep; try again" : "process is exiting";
		return any_d ? -EBUSY : -ESRCH;
	}
	*ret_tgid = (pid_t)tgid;
	*ret_tid = pid_ok ? pid : other;
	return 0;
}

/*
 * Whether close() of the last reference to this TCP socket would wait for
 * the peer. With SO_LINGER on and a non-zero time, tcp_close() sends its FIN
 * and waits until it is acknowledged; with bytes still unacknowledged
 * (SIOCOUTQ, which counts a FIN already sent) that happens only once the peer
 * has taken them, which a peer that does not read never does. Unread received
 * data makes close() send a RST instead, without waiting, and so do the
 * states that send no FIN.
 */
static bool close_would_linger(int sock)
{
	struct linger l = { 0 };
	struct tcp_info ti = { 0 };
	socklen_t ll = sizeof(l), tl = sizeof(ti);
	int inq = 0, outq = 0;

	if (getsockopt(sock, SOL_SOCKET, SO_LINGER, &l, &ll) < 0 || !l.l_onoff || l.l_linger <= 0)
		return false;
	if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
		return false;
	switch (ti.tcpi_state) {
	case TCP_ESTABLISHED:
	case TCP_SYN_RECV:
	case TCP_CLOSE_WAIT:
	case TCP_FIN_WAIT1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		break;
	default:
		return false;
	}
	if (ioctl(sock, SIOCINQ, &inq) == 0 && inq > 0)
		return false;
	return ioctl(sock, SIOCOUTQ, &outq) == 0 && outq > 0;
}

/*
 * 0 when tgid's fd is the socket with this inode (and cookie), and closing it
 * would not wait for the peer (-EAGAIN). A copy of the fd is needed for the
 * cookie and the linger check; without one (and no cookie to check) the
 * check is only the inode, and the deadline in wait_call_stop() still holds.
 * The copy is closed before we return: held across our close(), it would
 * make that close() not the last one.
 */
static int check_fd(pid_t tgid, int fd, uint64_t inode, uint64_t cookie, const char **detail)
{
	char path[64], link[64], want[48];
	ssize_t n;
	int copy, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)tgid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		*detail = "the fd is already closed";
		return -ESTALE;
	}
	link[n] = '\0';
	snprintf(want, sizeof(want), "socket:[%" PRIu64 "]", inode);
	if (strcmp(link, want) != 0) {
		*detail = "the fd now refers to something else";
		return -ESTALE;
	}
	copy = pidfd_fd_copy(tgid, fd);
	if (copy == -EBADF) {
		*detail = "the fd is already closed";
		return -ESTALE;
	}
	if (copy < 0 && cookie == 0)
		return 0;
	if (copy < 0) {
		*detail = "cannot check the socket cookie";
		return copy;
	}
	if (cookie != 0 && socket_fd_identity_check(copy, inode, cookie) < 0) {
		*detail = "the fd now refers to another socket";
		r = -ESTALE;
	} else if (close_would_linger(copy)) {
		*detail = "SO_LINGER is on and the peer has not acknowledged all the data sent: "
			  "close() would block the process until it does (up to the linger time); "
			  "not touched. --how rst ends the connection at once (the fd stays open; "
			  "--how fd then closes it without waiting)";
		r = -EAGAIN;
	}
	close(copy);
	return r;
}

static bool scan(const uint8_t *buf, size_t len, uint64_t base, uint64_t *ret)
{
	for (size_t i = 0; i + sizeof(ptrace_arch_syscall_insn) <= len; i += PTRACE_ARCH_INSN_ALIGN)
		if (memcmp(buf + i, ptrace_arch_syscall_insn, sizeof(ptrace_arch_syscall_insn)) == 0) {
			*ret = base + i;
			return true;
		}
	return false;
}

/* Searches [start, end) of the tracee's memory for a syscall instruction. */
static bool scan_range(int memfd, uint64_t start, uint64_t end, uint64_t *ret)
{
	uint8_t buf[65536];
	uint64_t a = start;

	if (end - start > SCAN_MAX_PER_MAPPING)
		end = start + SCAN_MAX_PER_MAPPING;
	while (a < end) {
		size_t want = end - a < sizeof(buf) ? (size_t)(end - a) : sizeof(buf);
		ssize_t n = pread(memfd, buf, want, (off_t)a);

		if (n < (ssize_t)sizeof(ptrace_arch_syscall_insn))
			return false;
		if (scan(buf, (size_t)n, a, ret))
			return true;
		/* overlap so an instruction across the chunk edge is seen */
		a += (uint64_t)n - (sizeof(ptrace_arch_syscall_insn) - PTRACE_ARCH_INSN_ALIGN);
	}
	return false;
}

/*
 * Finds the address of a syscall instruction the tracee can execute: next to
 * its PC when it stopped in a syscall, else in the vDSO, else in any other
 * executable mapping (libc's text has many).
 */
static int find_syscall_insn(pid_t tgid, const struct ptrace_arch_state *s, uint64_t *ret)
{
	char path[64], line[512];
	uint64_t cand[PTRACE_ARCH_PC_CANDIDATES_MAX];
	size_t nc = ptrace_arch_pc_candidates(s, cand);
	int memfd, r = -ENOEXEC;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)tgid);
	memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return -errno;
	for (size_t i = 0; i < nc; i++) {
		uint8_t b[sizeof(ptrace_arch_syscall_insn)];

		if (cand[i] % PTRACE_ARCH_INSN_ALIGN == 0 &&
		    pread(memfd, b, sizeof(b), (off_t)cand[i]) == (ssize_t)sizeof(b) &&
		    memcmp(b, ptrace_arch_syscall_insn, sizeof(b)) == 0) {
			*ret = cand[i];
			r = 0;
			goto out_close_mem;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tgid);
	maps = fopen(path, "re");
	if (!maps) {
		r = -errno;
		goto out_close_mem;
	}
	/* Two passes: the vDSO first (small, always there), then the rest. */
	for (int pass = 0; pass < 2 && r < 0; pass++) {
		rewind(maps);
		while (fgets(line, sizeof(line), maps)) {
			unsigned long long start, end;
			char perms[8];
			bool vdso = strstr(line, "[vdso]") != NULL;

			if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 || perms[2] != 'x')
				continue;
			if (vdso != (pass == 0) || strstr(line, "[vsyscall]"))
				continue;
			if (scan_range(memfd, start, end, ret)) {
				r = 0;
				break;
			}
		}
	}
	fclose(maps);
out_close_mem:
	close(memfd);
	return r;
}

/* --- the stop / call / restore sequence ---------------------------------- */

/*
 * Brings the tracee to a stop inside get_signal(). A signal it was about to
 * take when we interrupted it is let through first (with a fresh interrupt
 * queued behind it), so it is never lost and its handler sees the original
 * registers.
 */
static int stop_tracee(pid_t tid, const struct timespec *deadline, const char **detail)
{
	int st, r;

	for (;;) {
		r = wait_stop(tid, &st, deadline);
		if (r < 0)
			break;
		if (is_event_stop(st))
			return 0;
		r = pt(PTRACE_INTERRUPT, tid, NULL, NULL);
		if (r == 0)
			r = pt(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(st));
		if (r < 0)
			break;
	}
	if (r == -ETIMEDOUT)
		*detail = "the process did not stop (uninterruptible sleep?)";
	else if (r == -ESRCH)
		*detail = "the process exited";
	return r;
}

/* --- our call: bounded, interruptible --------------------------------- */

/* Signals that ask a program to end: blocked in the calling thread while we
 * hold the tracee (with SIGTSTP), and when pending they cut our call short. */
static const int ending_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* A blocked signal is queued even when ignored (nohup's SIGHUP): that one
 * asks nothing. */
static bool ending_signal_pending(void)
{
	sigset_t pend;

	if (sigpending(&pend) < 0)
		return false;
	for (size_t i = 0; i < sizeof(ending_signals) / sizeof(ending_signals[0]); i++) {
		struct sigaction sa;

		if (sigismember(&pend, ending_signals[i]) == 1 &&
		    sigaction(ending_signals[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			return true;
	}
	return false;
}

static void block_ending_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(ending_signals) / sizeof(ending_signals[0]); i++)
		sigaddset(&set, ending_signals[i]);
	sigaddset(&set, SIGTSTP);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

/* Why we interrupted our call (PTRACE_INTERRUPT), if we did. */
enum cut {
	CUT_NONE,
	CUT_DEADLINE, /* still running CALL_TIMEOUT_MS after it started */
	CUT_SIGNAL,   /* an ending signal became pending for the caller */
};

struct call {
	struct timespec deadline;
	enum cut cut;
};

/*
 * Waits for tid's next stop while it runs our call. Until the deadline, and
 * while no ending signal is pending for us, the call may take its time; then
 * the tracee is interrupted (PTRACE_INTERRUPT wakes an interruptible wait in
 * the kernel as a signal would: a close() waiting in SO_LINGER returns, the
 * fd already released) and waited for with no deadline, because it must not
 * be left running with our registers and mask. Returns 0 and the status, or
 * -ESRCH when it died (its exit is reaped here).
 */
static int wait_call_stop(pid_t tid, struct call *c, int *ret_status)
{
	struct timespec pause = { 0, 100000 };

	for (;;) {
		int r = poll_stop(tid, ret_status);

		if (r != 0)
			return r < 0 ? r : 0;
		if (c->cut == CUT_NONE) {
			if (ending_signal_pending())
				c->cut = CUT_SIGNAL;
			else if (deadline_passed(&c->deadline))
				c->cut = CUT_DEADLINE;
			if (c->cut != CUT_NONE)
				pt(PTRACE_INTERRUPT, tid, NULL, NULL); /* fails only if it died: seen above */
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 8000000)
			pause.tv_nsec *= 2;
	}
}

/*
 * Resumes with PTRACE_SYSCALL until the next syscall stop. Group stops (a
 * SIGSTOP sent meanwhile) are stepped over, but one after we interrupted the
 * call is our interrupt, taken before the call ran: -EINTR, with the tracee
 * left in that stop (inside get_signal()). Any signal-delivery stop means our
 * call faulted or was refused (seccomp): -EFAULT, the tracee left in that stop.
 */
static int run_to_syscall_stop(pid_t tid, struct call *c, struct __ptrace_syscall_info *info)
{
	int st, r;

	for (;;) {
		r = pt(PTRACE_SYSCALL, tid, NULL, NULL);
		if (r < 0)
			return r;
		r = wait_call_stop(tid, c, &st);
		if (r < 0)
			return r;
		if (is_syscall_stop(st))
			break;
		if (!is_event_stop(st))
			return -EFAULT;
		if (c->cut != CUT_NONE)
			return -EINTR;
	}
	if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(*info), info) < 0)
		return -errno;
	return 0;
}

/* False when tgid still has fd open. Linux releases the fd before close()
 * can fail or wait; this looks (every thread is stopped), and trusts that
 * when it cannot look. */
static bool fd_released(pid_t tgid, int fd)
{
	int copy = pidfd_fd_copy(tgid, fd);

	if (copy < 0)
		return true; /* -EBADF: released; otherwise we cannot tell */
	close(copy); /* not the last reference: the tracee still holds one */
	return false;
}

/*
 * From a syscall-exit stop with the original registers back: one more stop
 * inside get_signal() (where a debugger would have left it), so the
 * interrupted syscall's restart is decided there, then detach. (Detaching
 * at the exit stop works too today, only because the detach sets
 * TIF_SIGPENDING; this does not depend on it.) A signal being delivered at
 * that stop goes through with the detach.
 */
static int park_and_detach(pid_t tid)
{
	int st, r, sig = 0;

	r = pt(PTRACE_INTERRUPT, tid, NULL, NULL);
	if (r == 0)
		r = pt(PTRACE_CONT, tid, NULL, NULL);
	while (r == 0) {
		r = wait_stop(tid, &st, NULL);
		if (r < 0)
			return r;
		if (is_event_stop(st))
			break;
		if (!is_syscall_stop(st)) {
			sig = WSTOPSIG(st);
			break;
		}
		r = pt(PTRACE_CONT, tid, NULL, NULL);
	}
	if (r < 0)
		return r;
	return pt(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
}

/* --- every thread of the group ------------------------------------------- */

enum { T_SEIZED, T_STOPPED, T_GONE };

struct thread {
	pid_t tid;
	int state;
};

struct threads {
	struct thread *v;
	size_t n, cap;
};

static struct thread *threads_find(struct threads *ts, pid_t tid)
{
	for (size_t i = 0; i < ts->n; i++)
		if (ts->v[i].tid == tid)
			return &ts->v[i];
	return NULL;
}

/* Makes room for one more entry (before seizing: a seized thread must not be
 * lost track of). */
static int threads_reserve(struct threads *ts)
{
	return array_grow((void **)&ts->v, &ts->cap, ts->n + 1, sizeof(*ts->v));
}

/*
 * Seizes one thread of tgid. Returns 1, 0 when it is gone or a zombie (a
 * leader whose other threads still run: it cannot be seized and runs no
 * more code), or a negative errno: -EBUSY (traced by someone else), -EPERM.
 */
static int seize_one(pid_t tgid, pid_t tid, const char **detail)
{
	char path[64], state = 0;
	uint64_t tracer = 0;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)tgid, (int)tid);
	if (status_field(path, "State", NULL, &state) < 0 || state == 'Z' || state == 'X')
		return 0;
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) == 0)
		return 1;
	r = -errno;
	if (r == -ESRCH)
		return 0;
	if (r == -EPERM) {
		if (status_field(path, "TracerPid", &tracer, NULL) < 0 ||
		    status_field(path, "State", NULL, &state) < 0 || state == 'Z' || state == 'X')
			return 0; /* exited meanwhile */
		if (tracer) {
			*detail = "already traced by another process (a debugger?)";
			return -EBUSY;
		}
		*detail = "not allowed to trace the process (needs CAP_SYS_PTRACE)";
		return -EPERM;
	}
	*detail = "ptrace(PTRACE_SEIZE) failed";
	return r;
}

/*
 * Seizes and interrupts every thread of tgid and waits, within one
 * STOP_TIMEOUT_MS deadline for all, until each is stopped inside
 * get_signal() (stop_tracee(): a signal being delivered goes through first)
 * or gone. /proc/TGID/task is listed again until it shows no thread we have
 * not stopped: only a running thread can create one, so this ends. Threads
 * that exit meanwhile are dropped. On failure the caller still owns *ts
 * (release_all()).
 */
static int stop_all(pid_t tgid, struct threads *ts, const char **detail)
{
	struct timespec deadline;
	char path[64];
	bool more = true;
	int r;

	deadline_in(&deadline, STOP_TIMEOUT_MS);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)tgid);
	while (more) {
		struct dirent *de;
		DIR *d = opendir(path);

		more = false;
		if (!d)
			break; /* the whole process is gone */
		while ((de = readdir(d))) {
			struct thread *t;
			pid_t tid;

			if (ts_parse_pid(de->d_name, &tid) < 0)
				continue;
			t = threads_find(ts, tid);
			if (t && t->state != T_GONE)
				continue;
			/* t reuses an exited one's entry (tid reuse); no realloc under it */
			r = t ? 0 : threads_reserve(ts);
			if (r == -ENOMEM)
				*detail = "out of memory";
			if (r == 0)
				r = seize_one(tgid, tid, detail);
			if (r < 0) {
				closedir(d);
				return r;
			}
			if (r == 0)
				continue;
			if (!t)
				t = &ts->v[ts->n++];
			*t = (struct thread){ .tid = tid, .state = T_SEIZED };
			/* failure (it is exiting) shows in the wait below */
			pt(PTRACE_INTERRUPT, tid, NULL, NULL);
			more = true;
		}
		closedir(d);
		for (size_t i = 0; i < ts->n; i++) {
			if (ts->v[i].state != T_SEIZED)
				continue;
			r = stop_tracee(ts->v[i].tid, &deadline, detail);
			if (r == -ESRCH) {
				ts->v[i].state = T_GONE;
				continue;
			}
			if (r < 0)
				return r;
			ts->v[i].state = T_STOPPED;
		}
	}
	for (size_t i = 0; i < ts->n; i++)
		if (ts->v[i].state == T_STOPPED)
			return 0;
	*detail = "the process exited";
	return -ESRCH;
}

/* A thread stopped inside get_signal() that our stop took out of an epoll
 * wait without a timeout: the wait is restarted once we let go, instead of
 * returning EINTR with no signal behind it (ptrace_arch_restart_wait()). */
static void restart_wait(pid_t tid)
{
	struct ptrace_arch_state s;

	if (ptrace_arch_save(tid, &s) == 0 && ptrace_arch_restart_wait(&s))
		ptrace_arch_restore(tid, &s); /* fails only if it died meanwhile */
}

/*
 * Detaches every thread stop_all() stopped, but skip (inject_close() has
 * dealt with it). One that had not stopped by the deadline gets a last look:
 * if it has stopped since, it is detached too, with the signal it was
 * stopped for; if not, it cannot be detached and stays seized until we exit.
 */
static void release_all(struct threads *ts, pid_t skip)
{
	for (size_t i = 0; i < ts->n; i++) {
		struct thread *t = &ts->v[i];
		int st, sig = 0;

		if (t->tid == skip || t->state == T_GONE)
			continue;
		if (t->state == T_SEIZED) {
			if (waitpid(t->tid, &st, __WALL | WNOHANG) != t->tid)
				continue;
			if (!WIFSTOPPED(st)) {
				t->state = T_GONE;
				continue;
			}
			if (!is_event_stop(st))
				sig = WSTOPSIG(st); /* a signal-delivery stop: let it through */
		}
		restart_wait(t->tid);
		if (pt(PTRACE_DETACH, t->tid, NULL, (void *)(long)sig) == -ESRCH)
			waitpid(t->tid, NULL, __WALL | WNOHANG); /* killed meanwhile */
		t->state = T_GONE;
	}
}

/* What our close() did, for ptrace_close_fd(). */
struct outcome {
	long rval;     /* what close() returned: 0 or -errno */
	bool released; /* the fd is gone from the process */
	enum cut cut;
};

/*
 * Runs close(fd) in the stopped tracee. Returns 0 when it ran (*out says
 * how), or why not, with the tracee restored and detached, except after
 * -ESRCH (it died). Whatever happens once our registers and mask are in
 * place, they are put back before we let go: a call still running at the
 * deadline, or when an ending signal reaches us, is interrupted first.
 */
static int inject_close(pid_t tgid, pid_t tid, int fd, struct outcome *out, const char **detail)
{
	struct __ptrace_syscall_info info;
	struct ptrace_arch_state saved;
	struct ptrace_arch_extra extra = { 0 };
	struct call call = { .cut = CUT_NONE };
	uint64_t mask, all = ~0ull; /* the kernel's sigset_t, not glibc's */
	uint64_t insn;
	bool rewait = false;
	int r, r2;

	r = ptrace_arch_save(tid, &saved);
	if (r == 0)
		r = ptrace_arch_save_extra(tid, &extra);
	if (r == 0)
		rewait = ptrace_arch_restart_wait(&saved); /* put back with saved */
	if (r == -EOPNOTSUPP)
		*detail = "unsupported process mode (32-bit, or SME streaming)";
	if (r < 0)
		goto out_detach;
	r = find_syscall_insn(tgid, &saved, &insn);
	if (r < 0) {
		*detail = "no syscall instruction found in the process";
		goto out_detach;
	}
	if (ending_signal_pending()) {
		*detail = "tcpstate was asked to stop before the close: not closed";
		r = -EINTR;
		goto out_detach;
	}
	r = pt(PTRACE_GETSIGMASK, tid, (void *)sizeof(mask), &mask);
	if (r < 0)
		goto out_detach;
	r = pt(PTRACE_SETSIGMASK, tid, (void *)sizeof(all), &all);
	if (r < 0)
		goto out_detach;
	r = ptrace_arch_set_call(tid, &saved, insn, fd);
	if (r < 0)
		goto out_restore;

	deadline_in(&call.deadline, CALL_TIMEOUT_MS);
	r = run_to_syscall_stop(tid, &call, &info);
	if (r == -EINTR) {
		/* interrupted before the call ran, at a stop inside get_signal() */
		*detail = call.cut == CUT_SIGNAL ?
			"tcpstate was asked to stop before close() ran: not closed" :
			"the process did not reach close() in time: not closed";
		goto out_restore;
	}
	if (r < 0)
		goto out_fault;
	if (info.op != PTRACE_SYSCALL_INFO_ENTRY) {
		r = -EPROTO;
		goto out_fault;
	}
	r = ptrace_arch_fix_entry(tid, info.entry.nr, fd, &saved);
	if (r < 0)
		goto out_fault;
	r = run_to_syscall_stop(tid, &call, &info);
	if (r == -EINTR)
		r = -EPROTO; /* an event stop before the exit stop: not seen in practice */
	if (r < 0)
		goto out_fault;
	if (info.op != PTRACE_SYSCALL_INFO_EXIT) {
		r = -EPROTO;
		goto out_fault;
	}
	out->rval = (long)info.exit.rval;
	out->cut = call.cut;
	out->released = out->rval == 0 || fd_released(tgid, fd);

	r = ptrace_arch_restore(tid, &saved);
	r2 = ptrace_arch_restore_extra(tid, &extra);
	if (r == 0)
		r = r2;
	r2 = pt(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask);
	if (r == 0)
		r = r2;
	if (r == 0)
		r = park_and_detach(tid);
	goto out_free;

out_fault:
	if (r == -ESRCH)
		goto out_free;
	*detail = "the injected close() did not complete";
	if (r != -EFAULT) {
		/* Unexpected syscall stop (not seen in practice): best effort. */
		ptrace_arch_restore(tid, &saved);
		ptrace_arch_restore_extra(tid, &extra);
		pt(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask);
		park_and_detach(tid);
		goto out_free;
	}
	/* A signal-delivery stop is inside get_signal(): restore and suppress
	 * the signal our call caused. */
	r = -EIO;
out_restore:
	ptrace_arch_restore(tid, &saved);
	ptrace_arch_restore_extra(tid, &extra);
	pt(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask);
out_detach:
	if (rewait)
		ptrace_arch_restore(tid, &saved);
	pt(PTRACE_DETACH, tid, NULL, NULL);
out_free:
	ptrace_arch_free_extra(&extra);
	return r;
}

/* What happened to the fd, in words; NULL when it was not released. */
static const char *closed_text(const struct outcome *o)
{
	if (!o->released)
		return NULL;
	switch (o->cut) {
	case CUT_DEADLINE:
		return "closed: close() was still blocked after 5 s (SO_LINGER waiting for the "
		       "peer?) and was interrupted; the fd is released, and the kernel still "
		       "tries to deliver what was queued";
	case CUT_SIGNAL:
		return "closed: close() was still blocked when tcpstate was asked to stop, and was "
		       "interrupted; the fd is released, and the kernel still tries to deliver "
		       "what was queued";
	default:
		return o->rval == 0 ? "closed" :
		       "closed: close() returned an error, but the fd is released (Linux "
		       "releases it before anything can fail)";
	}
}

int ptrace_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail)
{
	struct threads ts = { 0 };
	struct outcome o = { 0 };
	const char *detail = NULL;
	pid_t tgid = 0, tid = 0;
	struct thread *t;
	sigset_t oldmask;
	int r;

	if (pid <= 0 || fd < 0) {
		detail = "invalid pid or fd";
		r = -EINVAL;
		goto out;
	}
	r = pick_thread(pid, &tgid, &tid, &detail);
	if (r < 0)
		goto out;
	/* From the first seize to the last detach: see block_ending_signals(). */
	block_ending_signals(&oldmask);
	r = stop_all(tgid, &ts, &detail);
	if (r < 0)
		goto out_release;
	/* The thread pick_thread() chose, or another stopped one if it exited
	 * (stop_all() succeeded: there is one). */
	t = threads_find(&ts, tid);
	for (size_t i = 0; i < ts.n && (!t || t->state != T_STOPPED); i++)
		if (ts.v[i].state == T_STOPPED)
			t = &ts.v[i];
	tid = t->tid;
	/*
	 * Every thread of the group is stopped now and stays stopped until our
	 * close() is done, so none can close the fd and reuse its number for
	 * another file in between. What this cannot stop: a process outside the
	 * group sharing the fd table (clone(CLONE_FILES) without CLONE_THREAD,
	 * which nothing common does), or the group being killed (then nothing
	 * is closed).
	 */
	r = check_fd(tgid, fd, inode, cookie, &detail);
	if (r < 0)
		goto out_release;
	r = inject_close(tgid, tid, fd, &o, &detail);
	release_all(&ts, tid);
	if (r < 0)
		goto out_gone;
	detail = closed_text(&o);
	if (!detail) {
		detail = "close() failed in the process; the fd is still open";
		r = o.rval < 0 ? (int)o.rval : -EIO;
	}
	goto out_unblock;

out_release:
	release_all(&ts, 0);
out_gone:
	if (r == -ESRCH) {
		detail = "the process exited (its fds are closed with it)";
		/* collect the exit notification owed to us as its tracer */
		if (tid)
			waitpid(tid, NULL, __WALL | WNOHANG);
	} else if (r == -ETIMEDOUT) {
		detail = "the process did not stop (uninterruptible sleep?); it stays "
			 "attached until tcpstate exits";
	}
out_unblock:
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
out:
	free(ts.v);
	if (r < 0 && !detail)
		detail = "ptrace failed";
	if (ret_detail)
		*ret_detail = detail;
	return r;
}

#else /* !PTRACE_ARCH_SUPPORTED */

int ptrace_close_fd(pid_t pid, int fd, uint64_t inode, uint64_t cookie, const char **ret_detail)
{
	(void)pid;
	(void)fd;
	(void)inode;
	(void)cookie;
	if (ret_detail)
		*ret_detail = "not supported on this architecture";
	return -EOPNOTSUPP;
}

#endif
