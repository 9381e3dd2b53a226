/* SPDX-License-Identifier: MIT */
/*
 * The lab supervisor side: the namespace, the children, their events and
 * the teardown. The children's code is in lab_holder.c and lab_recipes.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lab/lab_recipes.h"

#define NETNS_RUN_DIR TS_LAB_NETNS_DIR
#define LAB_MAX_CHILDREN 3

_Static_assert(sizeof(struct ts_lab_event) <= PIPE_BUF, "events must be written atomically");

struct ts_lab {
	char name[32];
	char path[64];
	char lock_path[64];
	int lock_fd;  /* flock held while the lab lives; -1: none */
	bool mounted;
	int event_fd; /* read end, non-blocking */
	pid_t children[LAB_MAX_CHILDREN];
	bool alive[LAB_MAX_CHILDREN];
	size_t n_children;
	size_t n_ready;
	bool ready_sent;
	pid_t leak_client;
	unsigned char buf[sizeof(struct ts_lab_event)];
	size_t buf_len;
};

static int child_setup(pid_t supervisor, int netns_fd)
{
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	/* The supervisor may have died before prctl(). */
	if (getppid() != supervisor)
		return -ESRCH;
	/* Ctrl-C, Ctrl-\ and a closing terminal hit the whole process group:
	 * only the supervisor decides (and tears down). */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

/* As `ip netns add` does: /run/netns is a shared mount so the bind mounts propagate. */
static int netns_run_dir_prepare(void)
{
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Not a mount point yet: make it one, then shared. */
	if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * Creates lab->lock_path already locked: an unnamed file is locked, then
 * linked under its name, so nobody can find it unlocked (a cleanup taking
 * a lock that is not held yet would call a live lab dead). EEXIST when the
 * name is taken; nothing to undo on failure.
 */
static int lock_create(struct ts_lab *lab)
{
	char proc_path[64];
	int fd, r;

	if (mkdir(TS_LAB_LOCK_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(TS_LAB_LOCK_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno; /* tmpfs (/run) has had O_TMPFILE since Linux 3.11 */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc_path, AT_FDCWD, lab->lock_path, AT_SYMLINK_FOLLOW) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	lab->lock_fd = fd;
	return 0;
}

static int netns_create(struct ts_lab *lab)
{
	uint32_t rnd;
	ssize_t n;
	int self_fd, fd, r = 0;

	n = getrandom(&rnd, sizeof(rnd), 0);
	if (n < 0)
		return -errno;
	if (n != sizeof(rnd))
		return -EIO;
	snprintf(lab->name, sizeof(lab->name), TS_LAB_NAME_PREFIX "%08x", rnd);
	snprintf(lab->path, sizeof(lab->path), NETNS_RUN_DIR "/%s", lab->name);
	snprintf(lab->lock_path, sizeof(lab->lock_path), TS_LAB_LOCK_DIR "/%s.lock", lab->name);

	/* The lock first: a namespace whose lock is free is a dead lab's
	 * (ts_lab_cleanup_stale()). */
	r = lock_create(lab);
	if (r < 0)
		return r;

	r = netns_run_dir_prepare();
	if (r < 0)
		goto out_unlock;
	fd = open(lab->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out_unlock;
	}
	close(fd);

	/* Step into a new namespace just long enough to pin it, then come back. */
	self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0) {
		r = -errno;
		goto out_unlink;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		r = -errno;
		goto out_close_self;
	}
	if (mount("/proc/self/ns/net", lab->path, "none", MS_BIND, NULL) < 0)
		r = -errno;
	/* Cannot fail as root; if it did we would be stranded in the lab. */
	if (setns(self_fd, CLONE_NEWNET) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		umount2(lab->path, MNT_DETACH);
		goto out_close_self;
	}
	close(self_fd);
	lab->mounted = true;
	return 0;

out_close_self:
	close(self_fd);
out_unlink:
	unlink(lab->path);
out_unlock:
	unlink(lab->lock_path);
	close(lab->lock_fd);
	lab->lock_fd = -1;
	return r;
}

static void netns_remove(struct ts_lab *lab)
{
	if (lab->mounted) {
		umount2(lab->path, MNT_DETACH);
		unlink(lab->path);
		lab->mounted = false;
	}
	/* The namespace first, then its lock: never a live-looking lock
	 * without a namespace, nor a namespace whose lock is gone early. */
	if (lab->lock_fd >= 0) {
		unlink(lab->lock_path);
		close(lab->lock_fd);
		lab->lock_fd = -1;
	}
}

enum child_kind { CHILD_HOLDER, CHILD_LEAK_SERVER, CHILD_LEAK_CLIENT };

/*
 * A child keeps stdio and `keep` (-1: none). Whatever else the caller had
 * open (sockets, a signalfd, pipes others wait on) must not live on in the
 * lab, nor count against the leak server's RLIMIT_NOFILE headroom.
 */
static void child_close_fds(int keep)
{
	unsigned first = 3;

	if (keep >= (int)first) {
		if ((unsigned)keep > first)
			close_range(first, (unsigned)keep - 1, 0);
		first = (unsigned)keep + 1;
	}
	close_range(first, ~0u, 0);
}

static int spawn(struct ts_lab *lab, enum child_kind kind, const struct ts_lab_opts *opts,
		 int netns_fd, int pipe_w)
{
	pid_t self = getpid(), pid;
	int r;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(lab->event_fd);
		r = child_setup(self, netns_fd);
		if (r < 0) {
			struct ts_lab_event ev = { .type = TS_LAB_EVENT_ERROR, .error = r };

			snprintf(ev.message, sizeof(ev.message), "cannot enter the lab namespace: %s",
				 strerror(-r));
			lab_event_send(pipe_w, &ev);
			_exit(1);
		}
		close(netns_fd);
		child_close_fds(kind == CHILD_LEAK_CLIENT ? -1 : pipe_w);
		/* A name of its own, so that list and doctor show who is who. */
		prctl(PR_SET_NAME, kind == CHILD_HOLDER ? "tslab-holder" :
				   kind == CHILD_LEAK_SERVER ? "tslab-leaky" : "tslab-client");
		switch (kind) {
		case CHILD_HOLDER:
			lab_holder_main(opts, pipe_w);
		case CHILD_LEAK_SERVER:
			lab_leak_server_main(opts->leak_rate, pipe_w);
		case CHILD_LEAK_CLIENT:
			close(pipe_w);
			lab_leak_client_main(opts->leak_rate);
		}
		_exit(1);
	}
	lab->children[lab->n_children] = pid;
	lab->alive[lab->n_children] = true;
	lab->n_children++;
	if (kind == CHILD_LEAK_CLIENT)
		lab->leak_client = pid;
	return 0;
}

int ts_lab_start(const struct ts_lab_opts *opts, struct ts_lab **ret)
{
	struct ts_lab_opts o = *opts;
	struct ts_lab *lab;
	int pipefd[2], netns_fd, r;

	if (o.count == 0)
		o.count = 1;
	if (o.count > TS_LAB_COUNT_MAX || o.leak_rate > TS_LAB_LEAK_RATE_MAX)
		return -EINVAL;
	o.states &= (TS_STATE_BIT(TS_STATE_COUNT) - 1);
	if (o.states == 0)
		o.states = TS_STATE_BIT(TS_STATE_COUNT) - 1;
	if (geteuid() != 0)
		return -EPERM;

	lab = calloc(1, sizeof(*lab));
	if (!lab)
		return -ENOMEM;
	lab->event_fd = -1;
	lab->lock_fd = -1;

	r = netns_create(lab);
	if (r < 0)
		goto out_free;
	netns_fd = open(lab->path, O_RDONLY | O_CLOEXEC);
	if (netns_fd < 0) {
		r = -errno;
		goto out_free;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_close_netns;
	}
	lab->event_fd = pipefd[0];
	if (fcntl(lab->event_fd, F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto out_close_pipe;
	}

	r = spawn(lab, CHILD_HOLDER, &o, netns_fd, pipefd[1]);
	if (r == 0 && o.leak_rate > 0) {
		r = spawn(lab, CHILD_LEAK_SERVER, &o, netns_fd, pipefd[1]);
		if (r == 0)
			r = spawn(lab, CHILD_LEAK_CLIENT, &o, netns_fd, pipefd[1]);
	}
	if (r < 0)
		goto out_close_pipe;
	/* The client sends nothing; only the others count towards "ready". */
	close(pipefd[1]);
	close(netns_fd);
	*ret = lab;
	return 0;

out_close_pipe:
	close(pipefd[1]);
out_close_netns:
	close(netns_fd);
out_free:
	ts_lab_free(lab);
	return r;
}

const char *ts_lab_netns(const struct ts_lab *lab)
{
	return lab->name;
}

int ts_lab_event_fd(const struct ts_lab *lab)
{
	return lab->event_fd;
}

int ts_lab_read_event(struct ts_lab *lab, struct ts_lab_event *ret)
{
	struct ts_lab_event ev;
	size_t senders = lab->n_children - (lab->leak_client ? 1 : 0);
	ssize_t n;

	for (;;) {
		if (lab->ready_sent == false && lab->n_ready >= senders) {
			lab->ready_sent = true;
			memset(ret, 0, sizeof(*ret));
			ret->type = TS_LAB_EVENT_READY;
			return 0;
		}
		n = read(lab->event_fd, lab->buf + lab->buf_len, sizeof(lab->buf) - lab->buf_len);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		if (n == 0)
			return -EPIPE;
		lab->buf_len += (size_t)n;
		if (lab->buf_len < sizeof(lab->buf))
			return -EAGAIN;
		lab->buf_len = 0;
		memcpy(&ev, lab->buf, sizeof(ev));
		if (ev.type == TS_LAB_EVENT_CHILD_READY_) {
			lab->n_ready++;
			continue;
		}
		if (ev.type == TS_LAB_EVENT_LEAK)
			ev.pid2 = lab->leak_client;
		/* Strings come from another process: make sure they end. */
		ev.sock.how[sizeof(ev.sock.how) - 1] = '\0';
		ev.sock.lasts[sizeof(ev.sock.lasts) - 1] = '\0';
		ev.message[sizeof(ev.message) - 1] = '\0';
		*ret = ev;
		return 0;
	}
}

int ts_lab_reap(struct ts_lab *lab, pid_t *ret_pid, int *ret_status)
{
	for (size_t i = 0; i < lab->n_children; i++) {
		int status;
		pid_t p;

		if (!lab->alive[i])
			continue;
		p = waitpid(lab->children[i], &status, WNOHANG);
		if (p < 0)
			return -errno;
		if (p == 0)
			continue;
		lab->alive[i] = false;
		*ret_pid = p;
		*ret_status = status;
		return 1;
	}
	return 0;
}

size_t ts_lab_pids(const struct ts_lab *lab, pid_t *pids, size_t n)
{
	size_t i;

	for (i = 0; i < lab->n_children && i < n; i++)
		pids[i] = lab->children[i];
	return i;
}

struct ts_lab *ts_lab_free(struct ts_lab *lab)
{
	if (!lab)
		return NULL;
	for (size_t i = 0; i < lab->n_children; i++)
		if (lab->alive[i])
			kill(lab->children[i], SIGKILL);
	for (size_t i = 0; i < lab->n_children; i++) {
		if (!lab->alive[i])
			continue;
		while (waitpid(lab->children[i], NULL, 0) < 0 && errno == EINTR)
			;
		lab->alive[i] = false;
	}
	netns_remove(lab);
	if (lab->event_fd >= 0)
		close(lab->event_fd);
	free(lab);
	return NULL;
}
