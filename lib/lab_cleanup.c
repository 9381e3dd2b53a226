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
 * 1 when the lab called name is dead (its lock is free, or missing: a lab
 * takes the lock before it makes the namespace and drops it after removing
 * it), with *ret_lock_fd holding the lock (or -1); 0 when it is alive;
 * negative errno.
 */
static int lab_dead(const char *lock_path, int *ret_lock_fd)
{
	int fd = open(lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	*ret_lock_fd = -1;
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? 0 : -e;
	}
	*ret_lock_fd = fd;
	return 1;
}

int ts_lab_cleanup_stale(const char *netns_dir, const char *lock_dir,
			 char (*ret_names)[TS_LAB_NAME_LEN], size_t n_names)
{
	DIR *d;
	struct dirent *de;
	int removed = 0, r = 0;

	if (!netns_dir)
		netns_dir = TS_LAB_NETNS_DIR;
	if (!lock_dir)
		lock_dir = TS_LAB_LOCK_DIR;
	d = opendir(netns_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX], lock_path[PATH_MAX];
		int lock_fd, dead;

		if (!is_lab_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", netns_dir, de->d_name);
		snprintf(lock_path, sizeof(lock_path), "%s/%s.lock", lock_dir, de->d_name);
		dead = lab_dead(lock_path, &lock_fd);
		if (dead < 0) {
			r = dead;
			continue;
		}
		if (!dead)
			continue;
		/* Not mounted any more (a removal racing with us) is fine. */
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && r == 0)
			r = -errno;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
		if (lock_fd >= 0) {
			unlink(lock_path);
			close(lock_fd);
		}
		if ((size_t)removed < n_names) /* is_lab_name(): it fits */
			memcpy(ret_names[removed], de->d_name, strlen(de->d_name) + 1);
		removed++;
	}
	closedir(d);
	return removed > 0 ? removed : r;
}
