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
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "owner_map.h"
#include "tcpstate/util.h"

/* inode -> socket index, open addressing sized for the input (never a
 * fixed bucket count: that is what makes `ss -p` quadratic). */
struct sock_index {
	uint32_t *slots; /* UINT32_MAX: empty */
	size_t mask;
	const struct ts_socket *sockets;
};

static inline size_t hash_inode(uint64_t ino)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino;
}

static int sock_index_build(const struct ts_socket *s, size_t n, struct sock_index *ret)
{
	size_t size = 64;

	while (size < n * 2)
		size *= 2;
	ret->slots = malloc(size * sizeof(uint32_t));
	if (!ret->slots)
		return -ENOMEM;
	memset(ret->slots, 0xff, size * sizeof(uint32_t));
	ret->mask = size - 1;
	ret->sockets = s;
	for (size_t i = 0; i < n; i++) {
		size_t h;

		if (s[i].inode == 0) /* TIME_WAIT and request sockets: no fd */
			continue;
		h = hash_inode(s[i].inode) & ret->mask;
		while (ret->slots[h] != UINT32_MAX) {
			if (s[ret->slots[h]].inode == s[i].inode)
				break; /* same socket dumped twice (v4-mapped): keep the first */
			h = (h + 1) & ret->mask;
		}
		if (ret->slots[h] == UINT32_MAX)
			ret->slots[h] = (uint32_t)i;
	}
	return 0;
}

static uint32_t sock_index_find(const struct sock_index *idx, uint64_t inode)
{
	size_t h = hash_inode(inode) & idx->mask;

	while (idx->slots[h] != UINT32_MAX) {
		if (idx->sockets[idx->slots[h]].inode == inode)
			return idx->slots[h];
		h = (h + 1) & idx->mask;
	}
	return UINT32_MAX;
}

int owner_parse_socket_link(const char *link, size_t len, uint64_t *ret_inode)
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

/* One scanning thread: it fills a private snapshot (owners and processes
 * only) and candidate list, merged into the real one at the end. */
struct scan {
	struct ts_snapshot *snap;
	const struct owner_scan_opts *o;
	const struct sock_index *idx;
	struct fd_candidate *cand;
	size_t n_cand, cap_cand;
	unsigned denied;
	/* shared by all threads */
	const pid_t *pids;
	size_t n_pids;
	size_t *next; /* atomic */
	const char *proc;
	int proc_dirfd;
	int error;
};

#define SCAN_MAX_THREADS 4

static int read_comm(int pid_dirfd, char comm[TS_COMM_LEN])
{
	char buf[64];
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

/* Adds the process lazily: most processes hold no TCP socket. */
static int process_get(struct scan *sc, pid_t pid, int pid_dirfd, const char *comm,
		       uint32_t *proc_index)
{
	struct ts_process p = { .pid = pid };
	struct stat st;

	if (*proc_index != UINT32_MAX)
		return 0;
	if (fstat(pid_dirfd, &st) == 0)
		p.uid = st.st_uid;
	if (comm)
		snprintf(p.comm, sizeof(p.comm), "%s", comm);
	else if (read_comm(pid_dirfd, p.comm) < 0)
		snprintf(p.comm, sizeof(p.comm), "?");
	return snapshot_process_append(sc->snap, &p, proc_index);
}

static int candidate_add(struct scan *sc, pid_t pid, int fd, uint64_t inode, bool ipv6,
			 uint32_t proc_index)
{
	if (sc->n_cand == sc->cap_cand) {
		size_t cap = sc->cap_cand ? sc->cap_cand * 2 : 64;
		struct fd_candidate *c = realloc(sc->cand, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		sc->cand = c;
		sc->cap_cand = cap;
	}
	sc->cand[sc->n_cand++] = (struct fd_candidate){
		.pid = pid, .fd = fd, .inode = inode, .ipv6 = ipv6, .process_index = proc_index,
	};
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

static int scan_process(struct scan *sc, const char *proc, int proc_dirfd, pid_t pid)
{
	const struct ts_filter *f = sc->o->filter;
	char pidname[16], comm[TS_COMM_LEN], link[64];
	const char *known_comm = NULL;
	uint32_t proc_index = UINT32_MAX;
	struct dirent *de;
	int pid_dirfd, fd_dirfd, r = 0;
	DIR *d;

	snprintf(pidname, sizeof(pidname), "%d", (int)pid);
	pid_dirfd = openat(proc_dirfd, pidname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_dirfd < 0)
		return 0; /* gone */

	if (f && f->n_comms) {
		if (read_comm(pid_dirfd, comm) < 0 || !ts_filter_match_process(f, pid, comm))
			goto out_close_pid;
		known_comm = comm;
	}

	fd_dirfd = openat(pid_dirfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dirfd < 0) {
		if (errno == EACCES || errno == EPERM)
			sc->denied++;
		goto out_close_pid;
	}
	d = fdopendir(fd_dirfd);
	if (!d) {
		close(fd_dirfd);
		goto out_close_pid;
	}
	while ((de = readdir(d))) {
		uint64_t inode;
		uint32_t si;
		ssize_t n;
		int fdnum;

		if (de->d_type != DT_LNK)
			continue;
		n = readlinkat(fd_dirfd, de->d_name, link, sizeof(link));
		if (n <= 0 || (size_t)n >= sizeof(link))
			continue; /* closed meanwhile, or not a socket */
		if (owner_parse_socket_link(link, (size_t)n, &inode) < 0)
			continue;
		fdnum = atoi(de->d_name);

		si = sock_index_find(sc->idx, inode);
		if (si != UINT32_MAX) {
			struct ts_owner ow = { .pid = pid, .fd = fdnum, .socket_index = si };

			r = process_get(sc, pid, pid_dirfd, known_comm, &proc_index);
			if (r < 0)
				break;
			ow.process_index = proc_index;
			r = snapshot_owner_append(sc->snap, &ow);
			if (r < 0)
				break;
		} else if (sc->o->want_candidates) {
			bool ipv6;

			if (socket_proto(proc, pid, de->d_name, &ipv6) < 0)
				continue;
			r = process_get(sc, pid, pid_dirfd, known_comm, &proc_index);
			if (r < 0)
				break;
			r = candidate_add(sc, pid, fdnum, inode, ipv6, proc_index);
			if (r < 0)
				break;
		}
	}
	closedir(d);
out_close_pid:
	close(pid_dirfd);
	return r;
}

static void *scan_thread(void *arg)
{
	struct scan *sc = arg;

	for (;;) {
		size_t i = __atomic_fetch_add(sc->next, 1, __ATOMIC_RELAXED);

		if (i >= sc->n_pids)
			break;
		sc->error = scan_process(sc, sc->proc, sc->proc_dirfd, sc->pids[i]);
		if (sc->error < 0)
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
		memcpy(v, f->pids, f->n_pids * sizeof(*v));
		*ret = v;
		*ret_n = f->n_pids;
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

/* Moves one thread's findings into snap, renumbering its processes. */
static int scan_merge(struct ts_snapshot *snap, struct scan *sc, struct fd_candidate **cand,
		      size_t *n_cand)
{
	uint32_t offset = (uint32_t)snap->n_processes, idx;
	struct fd_candidate *c;
	int r;

	for (size_t i = 0; i < sc->snap->n_processes; i++) {
		r = snapshot_process_append(snap, &sc->snap->processes[i], &idx);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sc->snap->n_owners; i++) {
		struct ts_owner ow = sc->snap->owners[i];

		ow.process_index += offset;
		r = snapshot_owner_append(snap, &ow);
		if (r < 0)
			return r;
	}
	if (sc->n_cand) {
		c = realloc(*cand, (*n_cand + sc->n_cand) * sizeof(*c));
		if (!c)
			return -ENOMEM;
		for (size_t i = 0; i < sc->n_cand; i++) {
			c[*n_cand + i] = sc->cand[i];
			c[*n_cand + i].process_index += offset;
		}
		*cand = c;
		*n_cand += sc->n_cand;
	}
	return 0;
}

int owner_map_build(struct ts_snapshot *snap, const struct owner_scan_opts *o,
		    struct owner_scan_result *ret)
{
	struct scan sc[SCAN_MAX_THREADS];
	pthread_t tid[SCAN_MAX_THREADS];
	struct sock_index idx = { 0 };
	struct fd_candidate *cand = NULL;
	size_t n_cand = 0, next = 0, n_pids = 0;
	unsigned denied = 0, n_threads = 1, started = 0;
	pid_t *pids = NULL;
	long cpus;
	int proc_dirfd, r;

	proc_dirfd = open(o->proc_root ? o->proc_root : "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_dirfd < 0)
		return -errno;
	r = sock_index_build(snap->sockets, snap->n_sockets, &idx);
	if (r < 0)
		goto out_close;
	r = list_pids(proc_dirfd, o->filter, &pids, &n_pids);
	if (r < 0)
		goto out_free_idx;

	/* readlink() on /proc costs microseconds per fd: use the cores when
	 * there is enough to share (processes are the unit of work). */
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (snap->n_sockets >= 4096 && n_pids > 1 && cpus > 1)
		n_threads = cpus < SCAN_MAX_THREADS ? (unsigned)cpus : SCAN_MAX_THREADS;

	memset(sc, 0, sizeof(sc));
	for (unsigned t = 0; t < n_threads; t++) {
		sc[t] = (struct scan){
			.o = o, .idx = &idx, .pids = pids, .n_pids = n_pids, .next = &next,
			.proc = o->proc_root ? o->proc_root : "/proc", .proc_dirfd = proc_dirfd,
		};
		sc[t].snap = snapshot_new();
		if (!sc[t].snap) {
			r = -ENOMEM;
			goto out_threads;
		}
	}
	for (unsigned t = 1; t < n_threads; t++) {
		if (pthread_create(&tid[t], NULL, scan_thread, &sc[t]) != 0)
			break; /* the remaining threads share the work */
		started = t;
	}
	scan_thread(&sc[0]);
	for (unsigned t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);

	for (unsigned t = 0; t < n_threads && r == 0; t++) {
		if (sc[t].error < 0) {
			r = sc[t].error;
			break;
		}
		r = scan_merge(snap, &sc[t], &cand, &n_cand);
		denied += sc[t].denied;
	}
out_threads:
	for (unsigned t = 0; t < n_threads; t++) {
		free(sc[t].cand);
		ts_snapshot_free(sc[t].snap);
	}
	free(pids);
out_free_idx:
	free(idx.slots);
out_close:
	close(proc_dirfd);
	if (r < 0) {
		free(cand);
		return r;
	}
	*ret = (struct owner_scan_result){
		.candidates = cand,
		.n_candidates = n_cand,
		.processes_denied = denied,
	};
	return 0;
}

int owner_map_finalize(struct ts_snapshot *snap)
{
	struct ts_owner *sorted;
	uint32_t *pos;
	size_t i;

	for (i = 0; i < snap->n_sockets; i++) {
		snap->sockets[i].owner_count = 0;
		snap->sockets[i].owner_first = UINT32_MAX;
	}
	if (snap->n_owners == 0)
		return 0;

	/* Counting sort by socket: O(n), keeps scan order within a socket. */
	sorted = malloc(snap->n_owners * sizeof(*sorted));
	pos = calloc(snap->n_sockets + 1, sizeof(*pos));
	if (!sorted || !pos) {
		free(sorted);
		free(pos);
		return -ENOMEM;
	}
	for (i = 0; i < snap->n_owners; i++)
		pos[snap->owners[i].socket_index + 1]++;
	for (i = 0; i < snap->n_sockets; i++)
		pos[i + 1] += pos[i];
	for (i = 0; i < snap->n_sockets; i++) {
		uint32_t count = pos[i + 1] - pos[i];

		snap->sockets[i].owner_first = count ? pos[i] : UINT32_MAX;
		snap->sockets[i].owner_count = count > UINT16_MAX ? UINT16_MAX : (uint16_t)count;
	}
	for (i = 0; i < snap->n_owners; i++)
		sorted[pos[snap->owners[i].socket_index]++] = snap->owners[i];
	free(pos);
	free(snap->owners);
	snap->owners = sorted;
	snap->cap_owners = snap->n_owners;
	return 0;
}
