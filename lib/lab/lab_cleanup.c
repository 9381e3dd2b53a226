/* SPDX-License-Identifier: MIT */
/*
 * Namespaces of labs whose supervisor is gone. A supervisor killed with
 * SIGKILL takes its children along (PR_SET_PDEATHSIG) but cannot remove
 * /run/netns/tslab-XXXXXXXX; the next lab, or `tcpstate lab --cleanup`,
 * does. Alive or dead is told by the supervisor's flock on its lock file,
 * never by looking at processes: a lab being built has none yet.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>

#include "lab/lab_recipes.h"

_Static_assert(sizeof(TS_LAB_NAME_PREFIX) + 8 <= TS_LAB_NAME_LEN, "lab names must fit");

/* "tslab-" and eight lowercase hex digits, as netns_create() makes them. */
static bool is_lab_name(const char *name)
{
	size_t plen = strlen(TS_LAB_NAME_PREFIX);

	if (strncmp(name, TS_LAB_NAME_PREFIX, plen) != 0 || strlen(name) != plen + 8)
		return false;
	for (const char *p = name + plen; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/*
 * 1 when the lab called name is dead, its lock free: *ret_lock_fd holds it
 * then. 0 when it is alive or not ours to judge: the lock is held, or there
 * is no lock file (a teardown between removing the namespace and the lock,
 * or a namespace made before labs had locks: `ip netns del` it). -errno.
 */
static int lab_dead(const char *lock_path, int *ret_lock_fd)
{
	int fd = open(lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	*ret_lock_fd = -1;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? 0 : -e;
	}
	*ret_lock_fd = fd;
	return 1;
}

/* Removes a dead lab's namespace; 1 done, 0 already gone, -errno. */
static int netns_remove_path(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL) /* EINVAL: not mounted */
		return errno == ENOENT ? 0 : -errno;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return 1;
}

/*
 * Ends what is left of the lab called name when its lock is free: its
 * namespace (if any), then its lock file. 1 when a namespace was removed,
 * 0 when the lab is alive, not ours to judge, or had no namespace; -errno.
 */
static int reap_lab(const char *name, const char *netns_dir, const char *lock_dir)
{
	char path[PATH_MAX], lock_path[PATH_MAX];
	int lock_fd, r;

	snprintf(path, sizeof(path), "%s/%s", netns_dir, name);
	snprintf(lock_path, sizeof(lock_path), "%s/%s.lock", lock_dir, name);
	r = lab_dead(lock_path, &lock_fd);
	if (r <= 0)
		return r;
	/* Held by us now: no lab can be using this name. */
	r = netns_remove_path(path);
	if (r >= 0) /* the namespace is gone: so goes its lock */
		unlink(lock_path);
	close(lock_fd);
	return r;
}

/*
 * Reaps every lab named in dir: entries NAME+suffix. The namespace
 * directory finds killed labs; the lock directory also finds labs killed
 * between taking the lock and making the namespace (or between removing it
 * and the lock). Returns the first error; counts and names what it removed.
 */
static int reap_dir(const char *dir, const char *suffix, const char *netns_dir,
		    const char *lock_dir, char (*names)[TS_LAB_NAME_LEN], size_t n_names,
		    size_t *removed)
{
	size_t slen = strlen(suffix);
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char name[TS_LAB_NAME_LEN];
		size_t len = strlen(de->d_name);
		int k;

		if (len < slen || len - slen >= sizeof(name) ||
		    strcmp(de->d_name + len - slen, suffix) != 0)
			continue;
		memcpy(name, de->d_name, len - slen);
		name[len - slen] = '\0';
		if (!is_lab_name(name))
			continue;
		k = reap_lab(name, netns_dir, lock_dir);
		if (k < 0 && r == 0)
			r = k;
		if (k <= 0)
			continue;
		if (*removed < n_names)
			memcpy(names[*removed], name, len - slen + 1);
		(*removed)++;
	}
	closedir(d);
	return r;
}

int ts_lab_cleanup_stale(const char *netns_dir, const char *lock_dir,
			 char (*ret_names)[TS_LAB_NAME_LEN], size_t n_names, size_t *ret_removed)
{
	size_t removed = 0;
	int r, k;

	if (!netns_dir)
		netns_dir = TS_LAB_NETNS_DIR;
	if (!lock_dir)
		lock_dir = TS_LAB_LOCK_DIR;
	r = reap_dir(netns_dir, "", netns_dir, lock_dir, ret_names, n_names, &removed);
	k = reap_dir(lock_dir, ".lock", netns_dir, lock_dir, ret_names, n_names, &removed);
	*ret_removed = removed;
	return r < 0 ? r : k;
}
