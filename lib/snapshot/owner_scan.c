/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/array.h"
#include "snapshot/bpf/owners.h"
#include "snapshot/owner_scan.h"
#include "tcpstate/util.h"
#include "snapshot/sock_index.h"

#define GETDENTS_BUF (256u * 1024)

int owner_scan_parse_link(const char *link, size_t len, uint64_t *ret_inode)
{
	char num[24];
	size_t n;

	if (len < 10 || memcmp(link, "socket:[", 8) != 0 || link[len - 1] != ']')
		return -EINVAL;
	n = len - 9;
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, link + 8, n);
	num[n] = '\0';
	return ts_parse_u64(num, 1, UINT64_MAX, ret_inode) < 0 ? -EINVAL : 0;
}

/* What a raw fd is known to be: the /proc walk sees only "socket:[N]",
 * the BPF iterator reports TCP sockets with their family. */
enum raw_kind {
	RAW_SOCKET, /* any socket: the xattr tells TCP apart */
	RAW_TCP4,
	RAW_TCP6,
};

/* A socket fd seen in the walk, before it is matched with the dumps. */
struct raw_fd {
	uint64_t inode;
	uint64_t cookie;        /* from the iterator; 0: not known (the /proc walk) */
	pid_t pid;
	int fd;
	uint32_t process_index; /* in the worker's own process list */
	uint8_t kind;           /* enum raw_kind */
	uint8_t kstate;         /* sk_state from the iterator; 0: not known */
};

/* The ends of a TCP_CLOSE socket, as the iterator read them from the
 * socket (the /proc walk cannot). One per iterator fd in TCP_CLOSE, in the
 * order of those fds: the join walks both lists together. */
struct raw_ends {
	struct in6_addr remote_addr;
	uint16_t remote_port;
	uint8_t sk_err;
};

/* One worker: it fills a private snapshot (processes only) and a list of
 * socket fds; owner_scan_finish() joins them with the dumps. */
struct worker {
	struct owner_scan *shared;
	pthread_t tid;
	bool started;
	struct ts_snapshot *procs;
	struct raw_fd *fds;
	size_t n_fds, cap_fds;
	struct raw_ends *ends; /* BPF only: one per fd with kstate TCP_CLOSE */
	size_t n_ends, cap_ends;
	char *dents; /* getdents64 buffer, GETDENTS_BUF bytes */
	unsigned denied;
	unsigned fd_exhausted; /* processes skipped: we ran out of fds (EMFILE/ENFILE) */
	int fd_exhausted_errno;
	int error;
};

#define SCAN_MAX_THREADS 4

struct owner_scan {
	struct owner_scan_opts o;
	const char *proc;
	int proc_dirfd;
	pid_t *pids;
	size_t n_pids;
	size_t next; /* atomic: the next pid to visit */
	bool abandon; /* atomic: owner_scan_free() wants the threads to stop */
	unsigned n_workers;
	struct worker w[SCAN_MAX_THREADS + 1]; /* [0]: the caller's thread */

	/* The BPF source runs on its own thread, into bpf; when it fails on
	 * AUTO, that thread starts the /proc walk (w[]) in its place. */
	pthread_t bpf_tid;
	bool bpf_started;
	bool bpf_ok;      /* bpf holds the result */
	struct ts_bpf_status bpf_status; /* why it did not run (failure NONE: it ran) */
	int setup_error;  /* the fallback walk could not start */
	struct worker bpf;
};

static int read_comm(int pid_dirfd, char comm[TS_COMM_LEN])
{
	char buf[64] = { 0 };
	ssize_t n;
	int fd = openat(pid_dirfd, "comm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n < TS_COMM_LEN ? n : TS_COMM_LEN - 1] = '\0';
	memcpy(comm, buf, TS_COMM_LEN);
	return 0;
}

/* Adds the process lazily: most processes hold no socket. */
static int process_get(struct worker *w, pid_t pid, int pid_dirfd, const char *comm,
		       uint32_t *proc_index)
{
	struct ts_process p = { .pid = pid };
	struct stat st;

	if (*proc_index != UINT32_MAX)
		return 0;
	if (fstat(pid_dirfd, &st) == 0)
		p.uid = st.st_uid;
	if (comm)
		memcpy(p.comm, comm, sizeof(p.comm));
	else if (read_comm(pid_dirfd, p.comm) < 0)
		snprintf(p.comm, sizeof(p.comm), "?");
	return snapshot_process_append(w->procs, &p, proc_index);
}

static int raw_fd_add(struct worker *w, const struct raw_fd *r)
{
	if (array_grow((void **)&w->fds, &w->cap_fds, w->n_fds + 1, sizeof(*w->fds)) < 0)
		return -ENOMEM;
	w->fds[w->n_fds++] = *r;
	return 0;
}

/* TCP or TCPv6, from the socket's own xattr (sockfs answers it). */
static int socket_proto(const char *proc, pid_t pid, const char *fdname, bool *ret_ipv6)
{
	char path[PATH_MAX], proto[32];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/fd/%s", proc, (int)pid, fdname);
	n = getxattr(path, "system.sockprotoname", proto, sizeof(proto) - 1);
	if (n < 0)
		return -errno;
	proto[n] = '\0';
	if (strcmp(proto, "TCP") == 0)
		*ret_ipv6 = false;
	else if (strcmp(proto, "TCPv6") == 0)
		*ret_ipv6 = true;
	else
		return -ENOENT;
	return 0;
}

/*
 * Out of file descriptors (ours: EMFILE, the system's: ENFILE), as on a
 * host whose leak filled the file table: the process is not "gone", its
 * sockets would lose their owners. Counted, and said by the caller.
 */
static bool fd_exhausted(struct worker *w, int err)
{
	if (err != EMFILE && err != ENFILE)
		return false;
	w->fd_exhausted++;
	w->fd_exhausted_errno = err;
	return true;
}

static int scan_process(struct worker *w, pid_t pid)
{
	const struct owner_scan *sc = w->shared;
	const struct ts_filter *f = sc->o.filter;
	char pidname[16], comm[TS_COMM_LEN], link[64];
	const char *known_comm = NULL;
	uint32_t proc_index = UINT32_MAX;
	int pid_dirfd, fd_dirfd, r = 0;
	ssize_t got;

	snprintf(pidname, sizeof(pidname), "%d", (int)pid);
	pid_dirfd = openat(sc->proc_dirfd, pidname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_dirfd < 0) {
		if (fd_exhausted(w, errno))
			return 0;
		return errno == ENOMEM ? -ENOMEM : 0; /* gone */
	}

	if (f && f->n_comms) {
		if (read_comm(pid_dirfd, comm) < 0 || !ts_filter_match_process(f, pid, comm))
			goto out_close_pid;
		known_comm = comm;
	}

	fd_dirfd = openat(pid_dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dirfd < 0) {
		if (errno == EACCES || errno == EPERM)
			w->denied++;
		else if (errno == ENOMEM)
			r = -ENOMEM;
		else
			fd_exhausted(w, errno);
		goto out_close_pid;
	}
	if (!w->dents && !(w->dents = malloc(GETDENTS_BUF))) {
		r = -ENOMEM;
		goto out_close_fd;
	}
	/* Large getdents64 calls: a process with 100k fds lists them in a few. */
	while (r == 0 && (got = getdents64(fd_dirfd, w->dents, GETDENTS_BUF)) > 0) {
		for (ssize_t off = 0; off < got && r == 0;) {
			const struct dirent64 *de = (const struct dirent64 *)(w->dents + off);
			struct raw_fd raw = { .pid = pid, .kind = RAW_SOCKET };
			uint32_t fdnum;
			ssize_t n;

			off += de->d_reclen;
			if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
				continue;
			n = readlinkat(fd_dirfd, de->d_name, link, sizeof(link));
			if (n <= 0 || (size_t)n >= sizeof(link))
				continue; /* closed meanwhile */
			if (owner_scan_parse_link(link, (size_t)n, &raw.inode) < 0)
				continue; /* not a socket */
			if (ts_parse_u32(de->d_name, 0, INT_MAX, &fdnum) < 0)
				continue;
			raw.fd = (int)fdnum;
			r = process_get(w, pid, pid_dirfd, known_comm, &proc_index);
			if (r < 0)
				break;
			raw.process_index = proc_index;
			r = raw_fd_add(w, &raw);
		}
	}
out_close_fd:
	close(fd_dirfd);
out_close_pid:
	close(pid_dirfd);
	return r;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct owner_scan *sc = w->shared;

	for (;;) {
		size_t i = __atomic_fetch_add(&sc->next, 1, __ATOMIC_RELAXED);

		if (i >= sc->n_pids || __atomic_load_n(&sc->abandon, __ATOMIC_RELAXED))
			break;
		w->error = scan_process(w, sc->pids[i]);
		if (w->error < 0)
			break;
	}
	return NULL;
}

/* The pids to visit: --pid's list, or every numeric entry of /proc. */
static int list_pids(int proc_dirfd, const struct ts_filter *f, pid_t **ret, size_t *ret_n)
{
	size_t n = 0, cap = 256;
	pid_t *v = malloc(cap * sizeof(*v));
	struct dirent *de;
	DIR *d;
	int dfd;

	if (!v)
		return -ENOMEM;
	if (f && f->n_pids) {
		/* --pid 7 --pid 7 must not list pid 7's fds twice. */
		for (size_t i = 0; i < f->n_pids && i < TS_FILTER_MAX_PIDS; i++) {
			size_t j = 0;

			while (j < n && v[j] != f->pids[i])
				j++;
			if (j == n)
				v[n++] = f->pids[i];
		}
		*ret = v;
		*ret_n = n;
		return 0;
	}
	dfd = dup(proc_dirfd);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		int r = -errno;

		if (dfd >= 0)
			close(dfd);
		free(v);
		return r;
	}
	while ((de = readdir(d))) {
		pid_t pid;

		if (!isdigit((unsigned char)de->d_name[0]) || ts_parse_pid(de->d_name, &pid) < 0)
			continue;
		if (n == cap) {
			pid_t *nv = realloc(v, cap * 2 * sizeof(*v));

			if (!nv) {
				closedir(d);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap *= 2;
		}
		v[n++] = pid;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

static void worker_release(struct worker *w)
{
	free(w->fds);
	free(w->ends);
	free(w->dents);
	ts_snapshot_free(w->procs);
}

struct owner_scan *owner_scan_free(struct owner_scan *sc)
{
	if (!sc)
		return NULL;
	/* Stop handing out work, then wait for the threads; the BPF thread
	 * first, as it may start the workers of a fallback walk. */
	__atomic_store_n(&sc->abandon, true, __ATOMIC_RELAXED);
	if (sc->bpf_started)
		pthread_join(sc->bpf_tid, NULL);
	__atomic_store_n(&sc->next, sc->n_pids, __ATOMIC_RELAXED);
	for (unsigned t = 1; t <= sc->n_workers; t++)
		if (sc->w[t].started)
			pthread_join(sc->w[t].tid, NULL);
	for (unsigned t = 0; t <= sc->n_workers; t++)
		worker_release(&sc->w[t]);
	worker_release(&sc->bpf);
	free(sc->pids);
	if (sc->proc_dirfd >= 0)
		close(sc->proc_dirfd);
	free(sc);
	return NULL;
}

/* Lists the processes and starts workers w[1..]; w[0] is left to whoever
 * calls worker_run() on it (the caller's thread, or the BPF thread). */
static int proc_walk_start(struct owner_scan *sc)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	sc->proc_dirfd = open(sc->proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc->proc_dirfd < 0)
		return -errno;
	r = list_pids(sc->proc_dirfd, sc->o.filter, &sc->pids, &sc->n_pids);
	if (r < 0)
		return r;

	/* readlink() on /proc costs microseconds per fd: one worker per CPU,
	 * started now so that the walk overlaps the caller's netlink dumps. */
	if (sc->n_pids > 1 && cpus > 1)
		sc->n_workers = cpus < SCAN_MAX_THREADS ? (unsigned)cpus : SCAN_MAX_THREADS;
	for (unsigned t = 0; t <= sc->n_workers; t++) {
		sc->w[t].shared = sc;
		sc->w[t].procs = snapshot_new();
		if (!sc->w[t].procs)
			return -ENOMEM;
	}
	for (unsigned t = 1; t <= sc->n_workers; t++)
		/* A worker that cannot start leaves its share to the others. */
		sc->w[t].started = pthread_create(&sc->w[t].tid, NULL, worker_run, &sc->w[t]) == 0;
	return 0;
}

/* Turns the iterator's records into the same raw fds and processes as the
 * walk. Records of one process come one after the other. */
struct bpf_collect {
	struct worker *w;
	const struct ts_filter *filter;
	pid_t last_pid;
	uint32_t last_index; /* of last_pid in w->procs, UINT32_MAX: none yet */
	bool last_skip;      /* last_pid does not match --pid/--comm */
};

static int bpf_record(const struct bpf_owner_rec *rec, void *userdata)
{
	struct bpf_collect *c = userdata;
	int r;

	if (rec->pid != c->last_pid) {
		c->last_pid = rec->pid;
		c->last_index = UINT32_MAX;
		c->last_skip = !ts_filter_match_process(c->filter, rec->pid, rec->comm);
	}
	if (c->last_skip)
		return 0;
	if (c->last_index == UINT32_MAX) {
		struct ts_process p = { .pid = rec->pid, .uid = rec->uid };

		memcpy(p.comm, rec->comm, sizeof(p.comm));
		r = snapshot_process_append(c->w->procs, &p, &c->last_index);
		if (r < 0)
			return r;
	}
	if (rec->state == TS_TCP_CLOSE) {
		struct worker *w = c->w;

		if (array_grow((void **)&w->ends, &w->cap_ends, w->n_ends + 1, sizeof(*w->ends)) < 0)
			return -ENOMEM;
		w->ends[w->n_ends] = (struct raw_ends){
			.remote_addr = rec->remote_addr,
			.remote_port = rec->remote_port,
			.sk_err = rec->sk_err,
		};
	}
	r = raw_fd_add(c->w, &(struct raw_fd){
		.inode = rec->inode,
		.pid = rec->pid,
		.fd = rec->fd,
		.process_index = c->last_index,
		.kind = rec->family == AF_INET6 ? RAW_TCP6 : RAW_TCP4,
		.kstate = rec->state,
		.cookie = rec->cookie,
	});
	if (r == 0 && rec->state == TS_TCP_CLOSE)
		c->w->n_ends++;
	return r;
}

/* One pass of the iterator: through the kept program when there is one. */
static int bpf_pass(struct owner_scan *sc, pid_t only_pid, uint32_t kernel_states,
		    struct bpf_collect *c, struct ts_bpf_status *st)
{
	if (sc->o.bpf)
		return bpf_owners_read(sc->o.bpf, only_pid, kernel_states, bpf_record, c, st);
	return bpf_owners_collect(only_pid, kernel_states, bpf_record, c, st);
}

static int bpf_collect_run(struct owner_scan *sc)
{
	const struct ts_filter *f = sc->o.filter;
	struct bpf_collect c = { .w = &sc->bpf, .filter = f, .last_pid = -1 };
	pid_t only_pid = f && f->n_pids == 1 ? f->pids[0] : 0;

	sc->bpf.shared = sc;
	sc->bpf.procs = snapshot_new();
	if (!sc->bpf.procs)
		return -ENOMEM;
	/* Bit 31 is no TCP state: a first pass that reports nothing. */
	return bpf_pass(sc, only_pid, sc->o.test_second_pass_only ? 1u << 31 : sc->o.kernel_states,
			&c, &sc->bpf_status);
}

static void *bpf_thread_run(void *arg)
{
	struct owner_scan *sc = arg;
	int r = bpf_collect_run(sc);

	if (r == 0) {
		sc->bpf_ok = true;
		return NULL;
	}
	if (sc->bpf_status.failure == TS_BPF_FAILURE_NONE) {
		/* Not the program's: the callback ran out of memory. */
		sc->bpf_status.failure = TS_BPF_FAILURE_OTHER;
		sc->bpf_status.err = -r;
	}
	if (sc->o.source == TS_OWNER_SOURCE_BPF || r == -ENOMEM) {
		sc->setup_error = r;
		return NULL;
	}
	if (__atomic_load_n(&sc->abandon, __ATOMIC_RELAXED))
		return NULL;
	/* AUTO: the /proc walk instead, still on this side of the dumps. */
	r = proc_walk_start(sc);
	if (r < 0) {
		sc->setup_error = r;
		return NULL;
	}
	worker_run(&sc->w[0]);
	return NULL;
}

static bool bpf_wanted(const struct owner_scan_opts *o)
{
	if (o->source == TS_OWNER_SOURCE_BPF)
		return true;
	/* A fake /proc tree (tests) says what the walk must see. */
	return o->source == TS_OWNER_SOURCE_AUTO && !o->proc_root;
}

int owner_scan_start(const struct owner_scan_opts *o, struct owner_scan **ret)
{
	struct owner_scan *sc = calloc(1, sizeof(*sc));
	int r;

	if (!sc)
		return -ENOMEM;
	sc->o = *o;
	sc->proc = o->proc_root ? o->proc_root : "/proc";
	sc->proc_dirfd = -1;

	if (bpf_wanted(o)) {
		if (!bpf_owners_built() && o->source == TS_OWNER_SOURCE_AUTO) {
			/* not built: no thread for nothing */
			sc->bpf_status.failure = TS_BPF_FAILURE_NOT_BUILT;
			sc->bpf_status.err = EOPNOTSUPP;
		} else {
			r = pthread_create(&sc->bpf_tid, NULL, bpf_thread_run, sc);
			if (r == 0) {
				sc->bpf_started = true;
				*ret = sc;
				return 0;
			}
			if (o->source == TS_OWNER_SOURCE_BPF) {
				r = -r;
				goto fail;
			}
			/* No thread: BPF right here would serialize; walk instead. */
			sc->bpf_status.failure = TS_BPF_FAILURE_OTHER;
			sc->bpf_status.err = r;
			snprintf(sc->bpf_status.detail, sizeof(sc->bpf_status.detail),
				 "no thread to run it on");
		}
	}
	r = proc_walk_start(sc);
	if (r < 0)
		goto fail;
	*ret = sc;
	return 0;
fail:
	owner_scan_free(sc);
	return r;
}

/* The snapshot's index of a worker's process, added on first use: only
 * processes that hold a listed socket (or a candidate) get an entry. */
static int process_ref(struct ts_snapshot *snap, const struct worker *w, uint32_t *map,
		       uint32_t local, uint32_t *ret)
{
	int r;

	if (map[local] == UINT32_MAX) {
		r = snapshot_process_append(snap, &w->procs->processes[local], &map[local]);
		if (r < 0)
			return r;
	}
	*ret = map[local];
	return 0;
}

/* Matches one worker's fds with snap's sockets. With owned (a second
 * BPF pass), only sockets without an owner yet get one, and no candidates. */
static int join_worker(struct owner_scan *sc, struct worker *w, struct ts_snapshot *snap,
		       const struct sock_index *idx, const uint8_t *owned,
		       struct fd_candidate **cand, size_t *n_cand, size_t *cap_cand)
{
	size_t n_procs = w->procs->n_processes;
	uint32_t *map = malloc((n_procs ? n_procs : 1) * sizeof(*map));
	char fdname[16];
	size_t next_ends = 0;
	int r = 0;

	if (!map)
		return -ENOMEM;
	memset(map, 0xff, (n_procs ? n_procs : 1) * sizeof(*map));
	for (size_t i = 0; i < w->n_fds && r == 0; i++) {
		const struct raw_fd *raw = &w->fds[i];
		uint32_t si = sock_index_find(idx, raw->inode, raw->cookie), pi;
		const struct raw_ends *ends = NULL;
		bool ipv6;

		/* Before any continue: ends[] follows the TCP_CLOSE fds one to one. */
		if (raw->kind != RAW_SOCKET && raw->kstate == TS_TCP_CLOSE && next_ends < w->n_ends)
			ends = &w->ends[next_ends++];

		if (si != UINT32_MAX) {
			if (owned && owned[si])
				continue;
			r = process_ref(snap, w, map, raw->process_index, &pi);
			if (r == 0)
				r = snapshot_owner_append(snap, &(struct ts_owner){
					.pid = raw->pid, .fd = raw->fd, .socket_index = si,
					.process_index = pi,
				});
			continue;
		}
		if (!sc->o.want_candidates || owned)
			continue;
		/* Only TCP_CLOSE sockets are in no dump: the others are in a
		 * namespace not listed, or filtered out. */
		if (raw->kstate && raw->kstate != TS_TCP_CLOSE)
			continue;
		if (raw->kind != RAW_SOCKET) {
			ipv6 = raw->kind == RAW_TCP6; /* the iterator knows: TCP only */
		} else {
			snprintf(fdname, sizeof(fdname), "%d", raw->fd);
			if (socket_proto(sc->proc, raw->pid, fdname, &ipv6) < 0)
				continue; /* not TCP, or gone */
		}
		r = process_ref(snap, w, map, raw->process_index, &pi);
		if (r < 0)
			break;
		r = array_grow((void **)cand, cap_cand, *n_cand + 1, sizeof(**cand));
		if (r < 0)
			break;
		(*cand)[(*n_cand)++] = (struct fd_candidate){
			.pid = raw->pid, .fd = raw->fd, .inode = raw->inode, .ipv6 = ipv6,
			.process_index = pi,
			.has_ends = ends != NULL,
			.remote_addr = ends ? ends->remote_addr : in6addr_any,
			.remote_port = ends ? ends->remote_port : 0,
			.sk_err = ends ? ends->sk_err : 0,
		};
	}
	free(map);
	return r;
}

/*
 * The first BPF pass reports only the states asked for: a socket that
 * changed state between the iterator and the dump (ESTABLISHED at the
 * iterator, CLOSE_WAIT in the dump) has no owner then. Dumped sockets that
 * have a struct socket (inode) but no owner are looked for again, in one
 * more pass over the asked states and their neighbours
 * (kernel_states_retry), and get owners only where they had none. Without
 * such sockets (no churn) there is no second pass: a neighbour state can hold
 * as many sockets as the asked one (ESTABLISHED next to CLOSE_WAIT), and
 * reporting them every time cost a fifth of `list --state close-wait`.
 */
static int bpf_second_pass(struct owner_scan *sc, struct ts_snapshot *snap,
			   const struct sock_index *idx)
{
	const struct ts_filter *f = sc->o.filter;
	pid_t only_pid = f && f->n_pids == 1 ? f->pids[0] : 0;
	struct worker w = { .shared = sc };
	struct bpf_collect c = { .w = &w, .filter = f, .last_pid = -1 };
	struct ts_bpf_status status = { 0 };
	size_t missing = 0;
	uint8_t *owned;
	int r;

	if (!sc->o.kernel_states_retry || snap->n_sockets == 0 ||
	    (sc->o.kernel_states_retry == sc->o.kernel_states && !sc->o.test_second_pass_only))
		return 0;
	owned = calloc(snap->n_sockets, 1);
	if (!owned)
		return -ENOMEM;
	for (size_t i = 0; i < snap->n_owners; i++)
		owned[snap->owners[i].socket_index] = 1;
	for (size_t i = 0; i < snap->n_sockets; i++)
		missing += !owned[i] && snap->sockets[i].inode &&
			   !(snap->sockets[i].flags & TS_SOCK_FROM_FD);
	if (!missing) {
		free(owned);
		return 0;
	}
	w.procs = snapshot_new();
	r = w.procs ? bpf_pass(sc, only_pid, sc->o.kernel_states_retry, &c, &status) : -ENOMEM;
	if (r == 0)
		r = join_worker(sc, &w, snap, idx, owned, NULL, NULL, NULL);
	worker_release(&w);
	free(owned);
	return r;
}

int owner_scan_finish(struct owner_scan *sc, struct ts_snapshot *snap,
		      struct owner_scan_result *ret, struct ts_bpf_status *ret_bpf)
{
	struct fd_candidate *cand = NULL;
	size_t n_cand = 0, cap_cand = 0;
	struct sock_index own = { 0 }, *idx = sc->o.index ? sc->o.index : &own;
	unsigned denied = 0, exhausted = 0;
	int exhausted_errno = 0;
	enum ts_owner_source source;
	int r;

	/* The index of the dumped sockets while the owner threads still read. */
	r = sock_index_build(snap->sockets, snap->n_sockets, idx);
	if (r < 0) {
		owner_scan_free(sc);
		return r;
	}
	/* The BPF thread first: it may have started a fallback walk. */
	if (sc->bpf_started) {
		pthread_join(sc->bpf_tid, NULL);
		sc->bpf_started = false;
	}
	if (ret_bpf)
		*ret_bpf = sc->bpf_status;
	if (sc->setup_error < 0) {
		r = sc->setup_error;
		sock_index_free(&own);
		owner_scan_free(sc);
		return r;
	}
	/* The caller's thread helps with what is left, then waits. */
	if (!sc->bpf_ok)
		worker_run(&sc->w[0]);
	for (unsigned t = 1; t <= sc->n_workers; t++)
		if (sc->w[t].started) {
			pthread_join(sc->w[t].tid, NULL);
			sc->w[t].started = false;
		}

	if (sc->bpf_ok) {
		r = join_worker(sc, &sc->bpf, snap, idx, NULL, &cand, &n_cand, &cap_cand);
		if (r == 0)
			r = bpf_second_pass(sc, snap, idx);
	} else {
		for (unsigned t = 0; t <= sc->n_workers && r == 0; t++) {
			r = sc->w[t].error;
			if (r == 0)
				r = join_worker(sc, &sc->w[t], snap, idx, NULL, &cand, &n_cand,
						&cap_cand);
			denied += sc->w[t].denied;
			exhausted += sc->w[t].fd_exhausted;
			if (sc->w[t].fd_exhausted_errno)
				exhausted_errno = sc->w[t].fd_exhausted_errno;
		}
	}
	sock_index_free(&own);
	source = sc->bpf_ok ? TS_OWNER_SOURCE_BPF : TS_OWNER_SOURCE_PROC;
	owner_scan_free(sc);
	if (r < 0) {
		free(cand);
		return r;
	}
	*ret = (struct owner_scan_result){
		.candidates = cand,
		.n_candidates = n_cand,
		.processes_denied = denied,
		.source = source,
		.processes_fd_exhausted = exhausted,
		.fd_exhausted_errno = exhausted_errno,
	};
	return 0;
}

int owner_scan_build(struct ts_snapshot *snap, const struct owner_scan_opts *o,
		    struct owner_scan_result *ret)
{
	struct owner_scan *sc;
	int r = owner_scan_start(o, &sc);

	if (r < 0)
		return r;
	return owner_scan_finish(sc, snap, ret, NULL);
}
