/* SPDX-License-Identifier: MIT */
/* A namespace's TCP socket counts (see sockstat.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/sockstat.h"

#define SOCKSTAT_MAX_BYTES 4096 /* ~300 bytes on Linux 6.x */

/* The value after " KEY " on the line starting with PREFIX; -EBADMSG when absent. */
static int field(const char *text, const char *prefix, const char *key, long *ret)
{
	size_t plen = strlen(prefix), klen = strlen(key);
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > plen && strncmp(line, prefix, plen) == 0) {
			const char *p = line + plen;

			while (p < line + len) {
				char *num_end;
				long v;

				while (p < line + len && *p == ' ')
					p++;
				if ((size_t)(line + len - p) > klen && strncmp(p, key, klen) == 0 &&
				    p[klen] == ' ') {
					errno = 0;
					v = strtol(p + klen + 1, &num_end, 10);
					if (errno || num_end == p + klen + 1 || v < 0 ||
					    (num_end < line + len && *num_end != ' '))
						return -EBADMSG;
					*ret = v;
					return 0;
				}
				while (p < line + len && *p != ' ')
					p++;
			}
			return -EBADMSG;
		}
		line = end ? end + 1 : NULL;
	}
	return -EBADMSG;
}

int sockstat_tcp_parse(const char *sockstat, const char *sockstat6, struct sockstat_tcp *ret)
{
	struct sockstat_tcp s = { 0 };
	int r = field(sockstat, "TCP:", "inuse", &s.inuse);

	if (r == 0)
		r = field(sockstat, "TCP:", "tw", &s.tw);
	if (r == 0 && sockstat6)
		r = field(sockstat6, "TCP6:", "inuse", &s.inuse6);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

/* The file's text, NUL-terminated, in buf. 0 or -errno (-EFBIG: too long). */
static int read_text(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size - 1) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	buf[len] = '\0';
	return 0;
}

int sockstat_tcp_read(struct sockstat_tcp *ret)
{
	char text[SOCKSTAT_MAX_BYTES], text6[SOCKSTAT_MAX_BYTES];
	int r = read_text("/proc/thread-self/net/sockstat", text, sizeof(text));
	bool have6;

	if (r < 0)
		return r;
	r = read_text("/proc/thread-self/net/sockstat6", text6, sizeof(text6));
	if (r < 0 && r != -ENOENT) /* ENOENT: no IPv6 */
		return r;
	have6 = r == 0;
	return sockstat_tcp_parse(text, have6 ? text6 : NULL, ret);
}

bool sockstat_tcp_none(const struct sockstat_tcp *s)
{
	return s->inuse == 0 && s->tw == 0 && s->inuse6 == 0;
}
