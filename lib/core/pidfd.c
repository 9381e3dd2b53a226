/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/pidfd.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

int pidfd_fd_copy(pid_t pid, int fd)
{
	int pidfd, r;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	r = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (r < 0)
		r = -errno;
	close(pidfd);
	return r;
}

int socket_fd_identity_check(int fd, uint64_t inode, uint64_t cookie)
{
	uint64_t got = 0;
	socklen_t len = sizeof(got);
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || (uint64_t)st.st_ino != inode)
		return -ESTALE;
	if (cookie == 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &got, &len) < 0)
		return -errno;
	return got == cookie ? 0 : -ESTALE;
}
