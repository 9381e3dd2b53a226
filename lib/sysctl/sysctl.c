/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/netns.h"
#include "sysctl/sysctl_internal.h"
#include "tcpstate/sysctl.h"
#include "tcpstate/util.h"

#define PROC_SYS "/proc/sys"
#define NAME_MAX_LEN 255

struct ts_sysctl {
	struct netns_target ns; /* fd -1: the caller's namespace */
	char root[PATH_MAX];
};

int ts_sysctl_open(const char *netns, const char *root, struct ts_sysctl **ret)
{
	struct ts_sysctl *s;
	int r;

	if (netns && root)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ns.fd = -1;
	if (snprintf(s->root, sizeof(s->root), "%s", root ? root : PROC_SYS) >= (int)sizeof(s->root)) {
		free(s);
		return -ENAMETOOLONG;
	}
	if (netns) {
		r = netns_resolve(netns, NULL, &s->ns);
		if (r < 0) {
			free(s);
			return r;
		}
	}
	*ret = s;
	return 0;
}

struct ts_sysctl *ts_sysctl_free(struct ts_sysctl *s)
{
	if (!s)
		return NULL;
	if (s->ns.fd >= 0)
		close(s->ns.fd);
	free(s);
	return NULL;
}

bool ts_sysctl_name_valid(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN || name[0] == '.' || name[len - 1] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-' || *p == '.'))
			return false;
		if (p[0] == '.' && p[1] == '.')
			return false;
	}
	return true;
}

bool sysctl_relpath_valid(const char *rel)
{
	const char *p = rel;

	if (!rel || !*rel || strlen(rel) > PATH_MAX / 2)
		return false;
	/* Every component: non-empty, not "." or "..". */
	for (;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!end)
			return true;
		p = end + 1;
	}
}

/* net.* resolves in the namespace of the opening thread; host-wide ones
 * (fs.*, tcp_max_orphans, which exists only in the initial namespace) are
 * read where the caller is. */
static bool needs_netns(const struct ts_sysctl *s, const char *rel)
{
	if (s->ns.fd < 0 || strncmp(rel, "net/", 4) != 0)
		return false;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		const struct ts_sysctl_info *info = ts_sysctl_info((enum ts_sysctl_id)id);

		if (strcmp(info->path + strlen(PROC_SYS "/"), rel) == 0)
			return info->per_netns;
	}
	return true;
}

static int open_rel(struct ts_sysctl *s, const char *rel, int flags)
{
	char path[PATH_MAX];
	int saved, fd, r;

	if (!sysctl_relpath_valid(rel))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s", s->root, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (!needs_netns(s, rel)) {
		fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
		return fd < 0 ? -errno : fd;
	}
	r = netns_enter(&s->ns, &saved);
	if (r < 0)
		return r;
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	r = fd < 0 ? -errno : 0;
	if (netns_leave(saved) < 0) {
		/* This thread is stranded in the other namespace: say so loudly. */
		if (fd >= 0)
			close(fd);
		return -ENOTRECOVERABLE;
	}
	return r < 0 ? r : fd;
}

static int name_to_rel(const char *name, char *rel, size_t size)
{
	if (!ts_sysctl_name_valid(name))
		return -EINVAL;
	if (strlen(name) >= size)
		return -EINVAL;
	snprintf(rel, size, "%s", name);
	for (char *p = rel; *p; p++)
		if (*p == '.')
			*p = '/';
	return 0;
}

int sysctl_read_rel(struct ts_sysctl *s, const char *rel, char *buf, size_t size)
{
	size_t len = 0;
	int fd, r = 0;

	if (size == 0)
		return -ENOBUFS;
	fd = open_rel(s, rel, O_RDONLY);
	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t n;

		if (len + 1 >= size) {
			char c;

			/* Full: fine only if the file ends here. */
			n = read(fd, &c, 1);
			if (n < 0 && errno == EINTR)
				continue;
			r = n == 0 ? 0 : n < 0 ? -errno : -ENOBUFS;
			break;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	return 0;
}

int sysctl_write_rel(struct ts_sysctl *s, const char *rel, const char *value)
{
	size_t len = strlen(value);
	char *line;
	ssize_t n;
	int fd, r = 0;

	if (strchr(value, '\n'))
		return -EINVAL;
	line = malloc(len + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, value, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	fd = open_rel(s, rel, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		free(line);
		return fd;
	}
	/* /proc/sys takes the whole value in one write at offset 0. */
	do
		n = write(fd, line, len + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len + 1)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	free(line);
	return r;
}

int ts_sysctl_read(struct ts_sysctl *s, const char *name, char *buf, size_t size)
{
	char rel[NAME_MAX_LEN + 1];
	int r = name_to_rel(name, rel, sizeof(rel));

	if (r < 0)
		return r;
	return sysctl_read_rel(s, rel, buf, size);
}

int ts_sysctl_read_int(struct ts_sysctl *s, const char *name, int64_t *ret)
{
	char buf[64];
	uint64_t v;
	int r = ts_sysctl_read(s, name, buf, sizeof(buf));

	if (r == -ENOBUFS)
		return -EBADMSG;
	if (r < 0)
		return r;
	if (buf[0] == '-') {
		if (ts_parse_u64(buf + 1, 0, (uint64_t)INT64_MAX + 1, &v) < 0)
			return -EBADMSG;
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return 0;
	}
	if (ts_parse_u64(buf, 0, INT64_MAX, &v) < 0)
		return -EBADMSG;
	*ret = (int64_t)v;
	return 0;
}

int ts_sysctl_write(struct ts_sysctl *s, const char *name, const char *value)
{
	char rel[NAME_MAX_LEN + 1];
	int r = name_to_rel(name, rel, sizeof(rel));

	if (r < 0)
		return r;
	return sysctl_write_rel(s, rel, value);
}

uint64_t ts_sysctl_netns_inode(const struct ts_sysctl *s)
{
	return s->ns.fd >= 0 ? s->ns.inode : 0;
}
