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

#include "lab-internal.h"

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

/* Lock files whose lab died between taking the lock and making its
 * namespace (or between removing it and the lock): nothing else finds them. */
static int remove_orphan_locks(const char *netns_dir, const char *lock_dir)
{
	DIR *d = opendir(lock_dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char name[TS_LAB_NAME_LEN], path[PATH_MAX], lock_path[PATH_MAX];
		size_t len = strlen(de->d_name);
		int lock_fd, dead;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".lock") != 0 ||
		    len - 5 >= sizeof(name))
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if (!is_lab_name(name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", netns_dir, name);
		snprintf(lock_path, sizeof(lock_path), "%s/%s", lock_dir, de->d_name);
		dead = lab_dead(lock_path, &lock_fd);
		if (dead < 0 && r == 0)
			r = dead;
		if (dead <= 0)
			continue;
		/* Held by us now: no lab can be using this name. */
		if (access(path, F_OK) < 0 && errno == ENOENT)
			unlink(lock_path);
		close(lock_fd);
	}
	closedir(d);
	return r;
}

int ts_lab_cleanup_stale(const char *netns_dir, const char *lock_dir,
			 char (*ret_names)[TS_LAB_NAME_LEN], size_t n_names, size_t *ret_removed)
{
	DIR *d;
	struct dirent *de;
	size_t removed = 0;
	int r = 0, k;

	if (!netns_dir)
		netns_dir = TS_LAB_NETNS_DIR;
	if (!lock_dir)
		lock_dir = TS_LAB_LOCK_DIR;
	*ret_removed = 0;
	d = opendir(netns_dir);
	if (!d && errno != ENOENT)
		return -errno;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX], lock_path[PATH_MAX];
		int lock_fd, dead;

		if (!is_lab_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", netns_dir, de->d_name);
		snprintf(lock_path, sizeof(lock_path), "%s/%s.lock", lock_dir, de->d_name);
		dead = lab_dead(lock_path, &lock_fd);
		if (dead < 0 && r == 0)
			r = dead;
		if (dead <= 0)
			continue;
		k = netns_remove_path(path);
		if (k < 0 && r == 0)
			r = k;
		if (k >= 0) /* the namespace is gone: so goes its lock */
			unlink(lock_path);
		close(lock_fd);
		if (k <= 0)
			continue;
		if (removed < n_names) /* is_lab_name(): it fits */
			memcpy(ret_names[removed], de->d_name, strlen(de->d_name) + 1);
		removed++;
	}
	if (d)
		closedir(d);
	k = remove_orphan_locks(netns_dir, lock_dir);
	if (k < 0 && r == 0)
		r = k;
	*ret_removed = removed;
	return r;
}
