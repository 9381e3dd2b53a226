/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Appending formatters for hot paths (one table line per socket): each
 * writes at p and returns the new end. The caller sizes the buffer; no
 * terminating NUL is written. printf costs more than the kernel's dump at
 * 100k sockets, these cost a fraction of it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

static inline char *fmt_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static inline char *fmt_u32(char *p, uint32_t v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Spaces after [start, p) until it is width wide (printf's "%-*s"). */
static inline char *fmt_pad(char *start, char *p, int width)
{
	while (p - start < width)
		*p++ = ' ';
	return p;
}

/* v right-aligned in width columns (printf's "%*u"). */
static inline char *fmt_u32_right(char *p, uint32_t v, int width)
{
	char tmp[10];
	char *end = fmt_u32(tmp, v);
	int n = (int)(end - tmp);

	for (; n < width; width--)
		*p++ = ' ';
	memcpy(p, tmp, (size_t)n);
	return p + n;
}

/*
 * "127.0.0.1:80", "0.0.0.0:80", "[::1]:80", "[::]:80", "127.0.0.1:*"; at most
 * 53 bytes. The IPv6 wildcard of a dual-stack socket (v6only false: it takes
 * IPv4 clients too) is "*:80", as ss prints it; with v6only it is "[::]:80".
 */
char *fmt_endpoint(char *p, int family, const struct in6_addr *a, uint16_t port, bool v6only);
