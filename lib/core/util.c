/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>

#include "tcpstate/util.h"

bool ts_str_is_digits(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int ts_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int ts_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r = ts_parse_u64(s, min, max, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int ts_parse_port(const char *s, uint16_t *ret)
{
	uint32_t v;
	int r = ts_parse_u32(s, 1, 65535, &v);

	if (r < 0)
		return r;
	*ret = (uint16_t)v;
	return 0;
}

int ts_parse_port_or_service(const char *s, uint16_t *ret)
{
	struct servent se, *found = NULL;
	char buf[1024];
	int r = ts_parse_port(s, ret);

	if (r == 0 || ts_str_is_digits(s) || !*s)
		return r; /* a number: 0 and > 65535 are not ports, never names */
	if (getservbyname_r(s, "tcp", &se, buf, sizeof(buf), &found) != 0 || !found ||
	    ntohs((uint16_t)found->s_port) == 0)
		return -ENOENT;
	*ret = ntohs((uint16_t)found->s_port);
	return 0;
}

int ts_parse_pid(const char *s, pid_t *ret)
{
	uint32_t v;
	int r = ts_parse_u32(s, 1, INT_MAX, &v);

	if (r < 0)
		return r;
	*ret = (pid_t)v;
	return 0;
}
