/* SPDX-License-Identifier: MIT */
/* The TcpExt counters of a network namespace (see tcpstate/netstat.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/netns.h"
#include "tcpstate/netstat.h"

#define NETSTAT_MAX_BYTES (256u * 1024u) /* about 6 KiB on Linux 6.x */
#define MAX_FIELDS 512

static const char *const names[_TS_NSTAT_MAX] = {
	[TS_NSTAT_LISTEN_OVERFLOWS] = "ListenOverflows",
	[TS_NSTAT_LISTEN_DROPS] = "ListenDrops",
	[TS_NSTAT_DEFER_ACCEPT_DROP] = "TCPDeferAcceptDrop",
	[TS_NSTAT_SYNCOOKIES_SENT] = "SyncookiesSent",
	[TS_NSTAT_SYNCOOKIES_FAILED] = "SyncookiesFailed",
	[TS_NSTAT_REQQ_FULL_DO_COOKIES] = "TCPReqQFullDoCookies",
	[TS_NSTAT_REQQ_FULL_DROP] = "TCPReqQFullDrop",
	[TS_NSTAT_TIMEWAIT_OVERFLOW] = "TCPTimeWaitOverflow",
	[TS_NSTAT_ABORT_ON_MEMORY] = "TCPAbortOnMemory",
	[TS_NSTAT_ABORT_ON_TIMEOUT] = "TCPAbortOnTimeout",
};

static const char *const nstat_names[_TS_NSTAT_MAX] = {
	[TS_NSTAT_LISTEN_OVERFLOWS] = "TcpExtListenOverflows",
	[TS_NSTAT_LISTEN_DROPS] = "TcpExtListenDrops",
	[TS_NSTAT_DEFER_ACCEPT_DROP] = "TcpExtTCPDeferAcceptDrop",
	[TS_NSTAT_SYNCOOKIES_SENT] = "TcpExtSyncookiesSent",
	[TS_NSTAT_SYNCOOKIES_FAILED] = "TcpExtSyncookiesFailed",
	[TS_NSTAT_REQQ_FULL_DO_COOKIES] = "TcpExtTCPReqQFullDoCookies",
	[TS_NSTAT_REQQ_FULL_DROP] = "TcpExtTCPReqQFullDrop",
	[TS_NSTAT_TIMEWAIT_OVERFLOW] = "TcpExtTCPTimeWaitOverflow",
	[TS_NSTAT_ABORT_ON_MEMORY] = "TcpExtTCPAbortOnMemory",
	[TS_NSTAT_ABORT_ON_TIMEOUT] = "TcpExtTCPAbortOnTimeout",
};

const char *ts_netstat_name(enum ts_netstat_counter c)
{
	return (unsigned)c < _TS_NSTAT_MAX ? nstat_names[c] : NULL;
}

/* The line starting at p: its end (the '\n' or the terminating NUL). */
static const char *line_end(const char *p)
{
	const char *e = strchr(p, '\n');

	return e ? e : p + strlen(p);
}

/* The next space-separated token in [*p, end): its start and length; false at the end. */
static bool next_token(const char **p, const char *end, const char **ret, size_t *ret_len)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s >= end)
		return false;
	*ret = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*ret_len = (size_t)(s - *ret);
	*p = s;
	return true;
}

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int counter_of(const char *name, size_t len)
{
	for (int c = 0; c < _TS_NSTAT_MAX; c++)
		if (strlen(names[c]) == len && memcmp(names[c], name, len) == 0)
			return c;
	return -1;
}

/* One header line and its values line, both after "TcpExt:". */
static int parse_group(const char *hp, const char *hend, const char *vp, const char *vend,
		       struct ts_netstat *n)
{
	size_t fields = 0;

	for (;;) {
		const char *name, *val;
		size_t nlen, vlen;
		bool hn = next_token(&hp, hend, &name, &nlen);
		bool hv = next_token(&vp, vend, &val, &vlen);
		uint64_t v;
		int c;

		if (!hn && !hv)
			return 0;
		if (hn != hv || ++fields > MAX_FIELDS)
			return -EBADMSG;
		if (parse_u64(val, vlen, &v) < 0)
			return -EBADMSG;
		c = counter_of(name, nlen);
		if (c >= 0) {
			n->value[c] = v;
			n->have |= 1u << c;
		}
	}
}

int ts_netstat_parse(const char *text, struct ts_netstat *ret)
{
	static const char prefix[] = "TcpExt:";
	const size_t plen = sizeof(prefix) - 1;
	struct ts_netstat n = { .have = 0 };
	bool found = false;
	const char *p = text;

	if (!text)
		return -EINVAL;
	while (*p) {
		const char *end = line_end(p), *vp, *vend;
		int r;

		if ((size_t)(end - p) < plen || memcmp(p, prefix, plen) != 0) {
			p = *end ? end + 1 : end;
			continue;
		}
		/* A header: its values follow on the next line, with the same prefix. */
		if (!*end)
			return -EBADMSG;
		vp = end + 1;
		vend = line_end(vp);
		if ((size_t)(vend - vp) < plen || memcmp(vp, prefix, plen) != 0)
			return -EBADMSG;
		r = parse_group(p + plen, end, vp + plen, vend, &n);
		if (r < 0)
			return r;
		found = true;
		p = *vend ? vend + 1 : vend;
	}
	if (!found)
		return -ENODATA;
	*ret = n;
	return 0;
}

static int read_all(int fd, char **ret)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k;

		if (len + 1 >= cap) {
			char *nb;

			if (cap >= NETSTAT_MAX_BYTES) {
				free(buf);
				return -EFBIG;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		k = read(fd, buf + len, cap - 1 - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

int ts_netstat_read(const char *netns, struct ts_netstat *ret)
{
	struct netns_target t = { .fd = -1 };
	char *text = NULL;
	int fd, saved, r;

	if (netns) {
		r = netns_resolve(netns, NULL, &t);
		if (r < 0)
			return r == -EINVAL ? -ENOENT : r;
	}
	r = netns_enter(&t, &saved);
	if (r < 0)
		goto out_close_ns;
	/* /proc/thread-self/net follows this thread's namespace; /proc/self/net the leader's. */
	fd = open("/proc/thread-self/net/netstat", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	r = fd < 0 ? -errno : 0;
	if (netns_leave(saved) < 0) {
		if (fd >= 0)
			close(fd);
		r = -ENOTRECOVERABLE;
		goto out_close_ns;
	}
	if (r < 0)
		goto out_close_ns;
	r = read_all(fd, &text);
	close(fd);
	if (r == 0)
		r = ts_netstat_parse(text, ret);
	free(text);
out_close_ns:
	if (t.fd >= 0)
		close(t.fd);
	return r;
}
