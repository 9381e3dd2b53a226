/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "tcpstate/procinfo.h"

/* /proc/PID/cgroup may be long (many v1 hierarchies): bounded anyway. */
#define SMALL_FILE_MAX (64 * 1024)

/* Reads a whole small file at dirfd/name into buf (NUL-terminated); returns the length or -errno. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static int parse_limit_value(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (strncmp(s, "unlimited", 9) == 0) {
		*ret = TS_PROCINFO_UNLIMITED;
		return 9;
	}
	if (!isdigit((unsigned char)*s))
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EBADMSG;
	*ret = v;
	return (int)(end - s);
}

int ts_procinfo_parse_limits(const char *text, uint64_t *ret_soft, uint64_t *ret_hard)
{
	static const char key[] = "Max open files";
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, sizeof(key) - 1) == 0) {
			uint64_t soft, hard;
			int n;

			p += sizeof(key) - 1;
			while (*p == ' ' || *p == '\t')
				p++;
			n = parse_limit_value(p, &soft);
			if (n < 0)
				return n;
			p += n;
			while (*p == ' ' || *p == '\t')
				p++;
			n = parse_limit_value(p, &hard);
			if (n < 0)
				return n;
			*ret_soft = soft;
			*ret_hard = hard;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -EBADMSG;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* A run of at least 32 hex digits at the start of s (container ids are 64). */
static size_t hex_run(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && isxdigit((unsigned char)s[i]))
		i++;
	return i >= 32 ? i : 0;
}

static void copy_n(char *dst, size_t size, const char *src, size_t n)
{
	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One path component: container id or unit. Later components win (deepest). */
static void cgroup_component(const char *c, size_t len, char *unit, size_t unit_size,
			     char *container, size_t container_size)
{
	static const char *const scope_prefixes[] = {
		"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-",
	};
	size_t h;

	for (size_t i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]); i++) {
		size_t pl = strlen(scope_prefixes[i]);

		if (starts_with(c, len, scope_prefixes[i]) && (h = hex_run(c + pl, len - pl))) {
			copy_n(container, container_size, c + pl, h);
			return;
		}
	}
	if ((h = hex_run(c, len)) && h == len) { /* cgroupfs driver: /docker/ID, /kubepods/.../ID */
		copy_n(container, container_size, c, h);
		return;
	}
	if (starts_with(c, len, "lxc.payload.")) {
		copy_n(container, container_size, c + 12, len - 12);
		return;
	}
	if (ends_with(c, len, ".service") || ends_with(c, len, ".scope") ||
	    ends_with(c, len, ".socket"))
		copy_n(unit, unit_size, c, len);
}

int ts_procinfo_parse_cgroup(const char *text, char *unit, size_t unit_size,
			     char *container, size_t container_size)
{
	const char *line = text;

	if (unit_size)
		unit[0] = '\0';
	if (container_size)
		container[0] = '\0';
	/* Lines "ID:CONTROLLERS:PATH"; cgroup v2 is "0::PATH". Prefer v2 or name=systemd. */
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

		if (c2) {
			size_t ctl_len = (size_t)(c2 - c1 - 1);
			bool wanted = ctl_len == 0 || (ctl_len == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0);

			if (wanted) {
				const char *p = c2 + 1, *end = line + len;

				while (p < end) {
					const char *slash = memchr(p, '/', (size_t)(end - p));
					const char *cend = slash ? slash : end;

					if (cend > p)
						cgroup_component(p, (size_t)(cend - p), unit, unit_size,
								 container, container_size);
					p = cend + 1;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return 0;
}

static int count_fds(int piddir, uint32_t *ret)
{
	int fd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	struct statfs sfs;
	struct stat st;
	uint32_t n = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	/* Since Linux 6.2 a procfs fd directory's size is its number of open
	 * fds: no walk of 15000 entries per process. Older kernels say 0. */
	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC && fstat(fd, &st) == 0 &&
	    st.st_size > 0 && st.st_size <= UINT32_MAX) {
		*ret = (uint32_t)st.st_size;
		close(fd);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return -e;
	}
	errno = 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (errno) {
		int e = errno;

		closedir(d);
		return -e;
	}
	closedir(d);
	*ret = n;
	return 0;
}

static int read_cmdline(int piddir, char *buf, size_t size)
{
	ssize_t n = read_small(piddir, "cmdline", buf, size);

	if (n < 0)
		return (int)n;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || (unsigned char)buf[i] < 0x20)
			buf[i] = ' ';
	buf[n] = '\0';
	return 0;
}

int ts_procinfo_parse_stat(const char *text, pid_t *ret_ppid, uint64_t *ret_start_ticks)
{
	const char *p = strrchr(text, ')');
	unsigned long long start = 0;
	char *end;
	long ppid;

	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -EBADMSG;
	/* Field 3 is the state (one character), field 4 the ppid. */
	errno = 0;
	ppid = strtol(p + 4, &end, 10);
	if (errno || end == p + 4 || ppid < 0)
		return -EBADMSG;
	/* Fields 5..21, then 22: starttime. */
	p = end;
	for (int field = 5; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EBADMSG;
		if (field == 22) {
			errno = 0;
			start = strtoull(p, &end, 10);
			if (errno || end == p)
				return -EBADMSG;
			break;
		}
		while (*p && *p != ' ')
			p++;
	}
	*ret_ppid = (pid_t)ppid;
	*ret_start_ticks = start;
	return 0;
}

/* The inode of the initial pid namespace (PROC_PID_INIT_INO, include/linux/proc_ns.h). */
#define PID_NS_INIT_INO 0xEFFFFFFCu

int ts_pidns_is_initial(const char *proc_root, bool *ret, uint64_t *ret_inode)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/self/ns/pid", proc_root ? proc_root : "/proc");
	if (stat(path, &st) < 0)
		return -errno;
	*ret = st.st_ino == PID_NS_INIT_INO;
	if (ret_inode)
		*ret_inode = st.st_ino;
	return 0;
}

static bool gone(int err)
{
	return err == -ENOENT || err == -ESRCH;
}

/* /proc/PID as a directory fd: -EINVAL for a bad pid, -ESRCH when gone. */
static int open_piddir(const char *proc_root, pid_t pid)
{
	char path[4096];
	int fd;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%d", proc_root ? proc_root : "/proc", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ESRCH : -errno;
	return fd;
}

int ts_procinfo_thread_group(const char *proc_root, pid_t pid, pid_t *ret_tgid)
{
	char buf[4096];
	const char *line;
	ssize_t n;
	pid_t tgid;
	int piddir = open_piddir(proc_root, pid);

	if (piddir < 0)
		return piddir;
	n = read_small(piddir, "status", buf, sizeof(buf));
	close(piddir);
	if (n < 0)
		return gone((int)n) ? -ESRCH : (int)n;
	line = strstr(buf, "\nTgid:");
	if (!line || sscanf(line, "\nTgid: %d", &tgid) != 1 || tgid <= 0)
		return -EBADMSG;
	*ret_tgid = tgid;
	return 0;
}

int ts_procinfo_read(const char *proc_root, pid_t pid, struct ts_procinfo *ret)
{
	struct ts_procinfo pi = { .pid = pid };
	char *buf;
	ssize_t n;
	int piddir = open_piddir(proc_root, pid);

	if (piddir < 0)
		return piddir;
	buf = malloc(SMALL_FILE_MAX);
	if (!buf) {
		close(piddir);
		return -ENOMEM;
	}

	n = read_small(piddir, "limits", buf, SMALL_FILE_MAX);
	if (n < 0)
		pi.nofile_err = (int)n;
	else
		pi.nofile_err = ts_procinfo_parse_limits(buf, &pi.nofile_soft, &pi.nofile_hard);

	pi.fd_err = count_fds(piddir, &pi.fd_count);
	pi.cmdline_err = read_cmdline(piddir, pi.cmdline, sizeof(pi.cmdline));

	n = read_small(piddir, "stat", buf, SMALL_FILE_MAX);
	if (n < 0)
		pi.stat_err = (int)n;
	else
		pi.stat_err = ts_procinfo_parse_stat(buf, &pi.ppid, &pi.start_ticks);

	n = read_small(piddir, "cgroup", buf, SMALL_FILE_MAX);
	if (n < 0)
		pi.cgroup_err = (int)n;
	else
		ts_procinfo_parse_cgroup(buf, pi.unit, sizeof(pi.unit), pi.container,
					 sizeof(pi.container));
	free(buf);

	/* Every part gone: the process exited while we read it. */
	if (gone(pi.nofile_err) && gone(pi.fd_err) && gone(pi.cmdline_err)) {
		close(piddir);
		return -ESRCH;
	}
	close(piddir);
	*ret = pi;
	return 0;
}
