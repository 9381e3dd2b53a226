/* SPDX-License-Identifier: MIT */
/* sockgen (and churn): the network namespace they work in. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockgen.h"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(s), n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, (size_t)len);
	if (n != len) {
		int err = n < 0 ? -errno : -EIO;

		close(fd);
		return err;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int link_up_lo(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out_close_fd;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out_close_fd:
	close(fd);
	return err;
}

/* Sysctls under /proc/sys/net are those of the caller's namespace. */
int netns_tune(void)
{
	static const struct { const char *path, *value; bool required; } tab[] = {
		{ "/proc/sys/net/ipv4/ip_local_port_range", EPHEMERAL_RANGE, true },
		/* Reusing a TIME_WAIT tuple on connect() would silently drop one. */
		{ "/proc/sys/net/ipv4/tcp_tw_reuse", "0", true },
		{ "/proc/sys/net/core/somaxconn", "65535", false },
		{ "/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535", false },
		{ "/proc/sys/net/ipv4/tcp_max_tw_buckets", "4000000", false },
	};
	int err;

	err = link_up_lo();
	if (err < 0) {
		fprintf(stderr, "%s: bringing lo up: %s\n", program_invocation_short_name, strerror(-err));
		return err;
	}
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		err = write_file(tab[i].path, tab[i].value);
		if (err < 0) {
			fprintf(stderr, "%s: %s %s: %s\n", program_invocation_short_name,
				tab[i].required ? "error:" : "warning:",
				tab[i].path, strerror(-err));
			if (tab[i].required)
				return err;
		}
	}
	return 0;
}

int netns_enter(const char *name)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Create a namespace the way 'ip netns add' does, so 'ip netns exec' finds
 * it: a bind mount of our /proc/self/ns/net on /run/netns/NAME, with
 * /run/netns a shared mount so other mount namespaces see it.
 */
int netns_create(char *name, size_t size, char *path, size_t psize)
{
	uint32_t r;
	int fd;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return -errno;
	snprintf(name, size, "tsbench-%08" PRIx32, r);
	snprintf(path, psize, NETNS_RUN_DIR "/%s", name);

	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL)
			return -errno;
		/* Not a mount point yet: make it one, then shared. */
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
		    mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
			return -errno;
	}
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	if (unshare(CLONE_NEWNET) < 0 ||
	    mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		int err = -errno;

		unlink(path);
		return err;
	}
	return 0;
}

void netns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0)
		fprintf(stderr, "sockgen: umount %s: %s\n", path, strerror(errno));
	if (unlink(path) < 0)
		fprintf(stderr, "sockgen: unlink %s: %s\n", path, strerror(errno));
}
