/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/nsfs.h>

#include "core/array.h"
#include "core/netns.h"
#include "tcpstate/util.h"

#define RUN_NETNS "/run/netns"

static const char *proc_or_default(const char *proc_root)
{
	return proc_root ? proc_root : "/proc";
}

enum ts_netns_kind netns_name(uint64_t inode, const char *proc_root, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct stat st;
	struct dirent *de;
	DIR *d = opendir(RUN_NETNS);

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 && (uint64_t)st.st_ino == inode) {
				snprintf(buf, size, "%s", de->d_name);
				closedir(d);
				return TS_NETNS_NAMED;
			}
		}
		closedir(d);
	}
	/* Linux 6.18 numbers the initial namespace with a fixed inode, below every
	 * dynamic one: it is "init" even when pid 1's link cannot be read. */
	if (inode == NETNS_INIT_INO) {
		snprintf(buf, size, "init");
		return TS_NETNS_INIT;
	}
	snprintf(path, sizeof(path), "%s/1/ns/net", proc_or_default(proc_root));
	if (stat(path, &st) == 0 && (uint64_t)st.st_ino == inode) {
		snprintf(buf, size, "init");
		return TS_NETNS_INIT;
	}
	snprintf(buf, size, "net:[%llu]", (unsigned long long)inode);
	return TS_NETNS_UNNAMED;
}

/*
 * Opens path as a network namespace. O_PATH first: a path that names a
 * device or a FIFO is never opened for real (opening some devices acts).
 */
static int open_nsfs(const char *path, struct netns_target *ret)
{
	struct statfs sfs;
	struct stat st;
	char self[64];
	int pfd, fd, type, r;

	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, &st) < 0 || fstatfs(pfd, &sfs) < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || sfs.f_type != NSFS_MAGIC) {
		close(pfd);
		return -ENOTTY;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(pfd);
	if (r < 0)
		return r;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET) {
		r = type < 0 ? -errno : -EMEDIUMTYPE;
		close(fd);
		return r;
	}
	ret->fd = fd;
	ret->inode = st.st_ino;
	return 0;
}

static int resolve_own(const char *proc_root, struct netns_target *ret)
{
	struct netns_target t = { .fd = -1, .form = TS_NETNS_FORM_OWN };
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/thread-self/ns/net",
			     proc_or_default(proc_root)) >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) < 0)
		return -errno;
	t.inode = st.st_ino;
	t.pid = getpid();
	t.kind = netns_name(t.inode, proc_root, t.name, sizeof(t.name));
	*ret = t;
	return 0;
}

/* Digits with no such name: the namespace of that process. */
static int resolve_pid(const char *spec, const char *proc_root, struct netns_target *t)
{
	char path[PATH_MAX];
	pid_t pid;
	int r;

	if (ts_parse_pid(spec, &pid) < 0)
		return -ERANGE;
	if ((size_t)snprintf(path, sizeof(path), "%s/%d/ns/net", proc_or_default(proc_root),
			     (int)pid) >= sizeof(path))
		return -ENAMETOOLONG;
	r = open_nsfs(path, t);
	if (r == -ENOENT)
		return -ESRCH;
	if (r < 0)
		return r;
	t->pid = pid;
	t->form = TS_NETNS_FORM_PID;
	return 0;
}

static bool process_exists(const char *spec, const char *proc_root)
{
	char path[PATH_MAX];
	struct stat st;
	pid_t pid;

	if (ts_parse_pid(spec, &pid) < 0)
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%d", proc_or_default(proc_root), (int)pid) >=
	    sizeof(path))
		return false;
	return stat(path, &st) == 0;
}

int netns_resolve_in(const char *spec, const char *run_netns, const char *proc_root,
		     struct netns_target *ret)
{
	struct netns_target t = { .fd = -1 };
	char path[PATH_MAX];
	size_t len;
	int r;

	if (!spec)
		return resolve_own(proc_root, ret);
	len = strlen(spec);
	if (len == 0 || strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0)
		return -EINVAL;

	if (strchr(spec, '/')) {
		if (len >= PATH_MAX)
			return -ENAMETOOLONG;
		r = open_nsfs(spec, &t);
		if (r < 0)
			return r;
		t.form = TS_NETNS_FORM_PATH;
	} else {
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", run_netns, spec) >= sizeof(path))
			return -ENAMETOOLONG;
		/* A name in /run/netns wins over a pid of the same digits. */
		r = open_nsfs(path, &t);
		if (r == -ENOENT && ts_str_is_digits(spec))
			r = resolve_pid(spec, proc_root, &t);
		if (r < 0)
			return r;
		if (t.form != TS_NETNS_FORM_PID) {
			t.form = TS_NETNS_FORM_NAME;
			t.shadows_pid = ts_str_is_digits(spec) && process_exists(spec, proc_root);
		}
	}
	t.kind = netns_name(t.inode, proc_root, t.name, sizeof(t.name));
	*ret = t;
	return 0;
}

int netns_resolve(const char *spec, const char *proc_root, struct netns_target *ret)
{
	return netns_resolve_in(spec, RUN_NETNS, proc_root, ret);
}

int ts_netns_lookup(const char *spec, const char *proc_root, struct ts_netns_ref *ret)
{
	struct netns_target t;
	int r = netns_resolve(spec, proc_root, &t);

	if (r < 0)
		return r;
	if (t.fd >= 0)
		close(t.fd);
	*ret = (struct ts_netns_ref){
		.form = t.form,
		.inode = t.inode,
		.pid = t.form == TS_NETNS_FORM_PID ? t.pid : 0,
		.shadows_pid = t.shadows_pid,
		.kind = t.kind,
	};
	snprintf(ret->name, sizeof(ret->name), "%s", t.name);
	return 0;
}

void netns_targets_free(struct netns_target *t, size_t n)
{
	if (!t)
		return;
	for (size_t i = 0; i < n; i++)
		if (t[i].fd >= 0)
			close(t[i].fd);
	free(t);
}

struct target_list {
	struct netns_target *v;
	size_t n, cap;
};

static bool target_list_has(const struct target_list *l, uint64_t inode)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].inode == inode)
			return true;
	return false;
}

void netns_denials_clear(struct netns_denials *d)
{
	if (!d)
		return;
	free(d->inodes);
	free(d->names);
	*d = (struct netns_denials){ 0 };
}

/* Notes a namespace we may not open, once per inode. 0 or -ENOMEM. */
static int denials_add(struct netns_denials *d, uint64_t inode, const char *name,
		       const char *proc_root)
{
	size_t cap = d->cap;

	for (size_t i = 0; i < d->n; i++)
		if (d->inodes[i] == inode)
			return 0;
	if (array_grow((void **)&d->inodes, &cap, d->n + 1, sizeof(*d->inodes)) < 0)
		return -ENOMEM;
	if (cap != d->cap) {
		void *nv = realloc(d->names, cap * sizeof(*d->names));

		if (!nv)
			return -ENOMEM; /* inodes grew: harmless, cap stays */
		d->names = nv;
		d->cap = cap;
	}
	d->inodes[d->n] = inode;
	if (name)
		snprintf(d->names[d->n], sizeof(d->names[d->n]), "%s", name);
	else
		netns_name(inode, proc_root, d->names[d->n], sizeof(d->names[d->n]));
	d->n++;
	return 0;
}

static int target_list_add(struct target_list *l, const char *path, const char *name,
			   pid_t pid, const char *proc_root, struct netns_denials *denied)
{
	struct netns_target t = { .fd = -1 };
	int r = open_nsfs(path, &t);
	struct stat st;

	if (r == -EACCES || r == -EPERM) {
		/* Not allowed to open it; its inode may still be visible. */
		if (stat(path, &st) < 0) {
			denied->processes += name == NULL;
			return 0;
		}
		return denials_add(denied, (uint64_t)st.st_ino, name, proc_root);
	}
	if (r < 0)
		return 0; /* vanished, or not a namespace: not ours to report */
	if (target_list_has(l, t.inode)) {
		close(t.fd);
		return 0;
	}
	if (array_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0) {
		close(t.fd);
		return -ENOMEM;
	}
	t.pid = pid;
	if (name) {
		snprintf(t.name, sizeof(t.name), "%s", name);
		t.kind = TS_NETNS_NAMED;
	} else
		t.kind = netns_name(t.inode, proc_root, t.name, sizeof(t.name));
	l->v[l->n++] = t;
	return 0;
}

int netns_enumerate(const char *proc_root, struct netns_target **ret, size_t *ret_n,
		    struct netns_denials *ret_denied)
{
	struct target_list l = { 0 };
	char path[PATH_MAX];
	struct dirent *de;
	struct netns_denials denied = { 0 };
	const char *proc = proc_or_default(proc_root);
	DIR *d;
	int r = 0;

	d = opendir(RUN_NETNS);
	if (d) {
		while (r == 0 && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), RUN_NETNS "/%s", de->d_name);
			r = target_list_add(&l, path, de->d_name, 0, proc_root, &denied);
		}
		closedir(d);
	}

	d = opendir(proc);
	if (!d) {
		r = r ? r : -errno;
		goto out;
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;

		if (!ts_str_is_digits(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/ns/net", proc, de->d_name);
		/* stat() first: most processes share a handful of namespaces. */
		if (stat(path, &st) < 0) {
			/* Its namespace cannot even be identified: count the process. */
			if (errno == EACCES || errno == EPERM)
				denied.processes++;
			continue;
		}
		pid_t pid;

		if (target_list_has(&l, st.st_ino) || ts_parse_pid(de->d_name, &pid) < 0)
			continue;
		bool known_denied = false;

		for (size_t k = 0; k < denied.n && !known_denied; k++)
			known_denied = denied.inodes[k] == (uint64_t)st.st_ino;
		if (known_denied)
			continue;
		r = target_list_add(&l, path, NULL, pid, proc_root, &denied);
	}
	closedir(d);
out:
	if (r < 0) {
		netns_targets_free(l.v, l.n);
		netns_denials_clear(&denied);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	if (ret_denied)
		*ret_denied = denied;
	else
		netns_denials_clear(&denied);
	return 0;
}

int netns_enter(const struct netns_target *t, int *ret_saved)
{
	struct stat st;
	int saved;

	if (t->fd < 0) {
		*ret_saved = -1;
		return 0;
	}
	saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return -errno;
	/* Already there: no setns(), which would need CAP_SYS_ADMIN even so. */
	if (t->inode && fstat(saved, &st) == 0 && (uint64_t)st.st_ino == t->inode) {
		close(saved);
		*ret_saved = -1;
		return 0;
	}
	if (setns(t->fd, CLONE_NEWNET) < 0) {
		int r = -errno;

		close(saved);
		return r;
	}
	*ret_saved = saved;
	return 0;
}

int netns_leave(int saved)
{
	int r = 0;

	if (saved < 0)
		return 0;
	if (setns(saved, CLONE_NEWNET) < 0)
		r = -errno;
	close(saved);
	return r;
}

int ts_netns_reopen_spec(const struct ts_netns *ns, const char *proc_root, char *buf, size_t size)
{
	int n;

	switch (ns->kind) {
	case TS_NETNS_NAMED:
		n = snprintf(buf, size, "%s", ns->name);
		break;
	case TS_NETNS_INIT:
		n = snprintf(buf, size, "%s/1/ns/net", proc_or_default(proc_root));
		break;
	default:
		if (ns->pid <= 0)
			return -ENOENT;
		n = snprintf(buf, size, "%s/%d/ns/net", proc_or_default(proc_root), (int)ns->pid);
		break;
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
