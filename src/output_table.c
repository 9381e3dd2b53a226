/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "output_fmt.h"
#include "term_safe.h"

void output_comm(char out[TS_COMM_LEN], const char *comm)
{
	term_safe(out, TS_COMM_LEN, comm);
}

void output_addr(char *buf, size_t size, int family, const struct in6_addr *a)
{
	if (!inet_ntop(family, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

static bool addr_is_any(int family, const struct in6_addr *a)
{
	static const struct in6_addr any;

	return memcmp(a, &any, family == AF_INET ? 4 : 16) == 0;
}

char *fmt_endpoint(char *p, int family, const struct in6_addr *a, uint16_t port)
{
	if (addr_is_any(family, a)) {
		*p++ = '*';
	} else if (family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = fmt_u32(p, a->s6_addr[i]);
		}
	} else {
		char addr[INET6_ADDRSTRLEN];

		output_addr(addr, sizeof(addr), family, a);
		*p++ = '[';
		p = fmt_str(p, addr);
		*p++ = ']';
	}
	*p++ = ':';
	if (port)
		return fmt_u32(p, port);
	*p++ = '*';
	return p;
}

void output_endpoint(char *buf, size_t size, int family, const struct in6_addr *a, uint16_t port)
{
	char tmp[64];
	size_t n = (size_t)(fmt_endpoint(tmp, family, a, port) - tmp);

	if (!size)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

static void format_duration(char *buf, size_t size, uint32_t ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%ums", ms);
	else if (ms < 120000)
		snprintf(buf, size, "%.1fs", ms / 1000.0);
	else if (ms < 7200000)
		snprintf(buf, size, "%um", ms / 60000);
	else
		snprintf(buf, size, "%uh", ms / 3600000);
}

static void format_timer(char *buf, size_t size, const struct ts_socket *s)
{
	const char *name = ts_timer_name((enum ts_timer)s->timer);
	char d[16];

	if (!name) {
		snprintf(buf, size, "-");
		return;
	}
	format_duration(d, sizeof(d), s->timer_expires_ms);
	if (s->timer_retrans)
		snprintf(buf, size, "%s(%s,%u)", name, d, s->timer_retrans);
	else
		snprintf(buf, size, "%s(%s)", name, d);
}

static char *fmt_owners(char *p, const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_process *p_;
	char comm[TS_COMM_LEN];

	if (!o) {
		*p++ = '-';
		return p;
	}
	p_ = ts_snapshot_process(snap, o->process_index);
	output_comm(comm, p_ ? p_->comm : "?");
	p = fmt_str(p, comm);
	*p++ = '/';
	if (o->pid < 0)
		*p++ = '-';
	p = fmt_u32(p, o->pid < 0 ? -(uint32_t)o->pid : (uint32_t)o->pid);
	p = fmt_str(p, "/fd");
	if (o->fd < 0)
		*p++ = '-';
	p = fmt_u32(p, o->fd < 0 ? -(uint32_t)o->fd : (uint32_t)o->fd);
	if (s->owner_count > 1) {
		p = fmt_str(p, " +");
		p = fmt_u32(p, s->owner_count - 1);
	}
	return p;
}

int output_table_list(FILE *f, const struct ts_snapshot *snap, bool show_netns, unsigned width)
{
	size_t n = ts_snapshot_socket_count(snap);
	int ep_w = 21; /* fits 255.255.255.255:65535 */
	char line[512];

	/* Widen the address columns only as far as IPv6 needs. */
	for (size_t i = 0; i < n; i++)
		if (ts_snapshot_socket(snap, i)->family == AF_INET6) {
			ep_w = 28;
			break;
		}

	if (show_netns)
		fprintf(f, "%-16s ", "NETNS");
	snprintf(line, sizeof(line), "%-12s %7s %7s %-*s %-*s %-14s %s", "STATE", "RECV-Q", "SEND-Q",
		 ep_w, "LOCAL", ep_w, "PEER", "TIMER", "PROCESS/PID/FD");
	fprintf(f, "%.*s\n", width ? (int)width : (int)sizeof(line), line);

	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		const char *state;
		char *p = line, *col;
		size_t skip = 0;

		if (show_netns) {
			const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
			char name[17];
			size_t nl;

			term_safe(name, sizeof(name), ns ? ns->name : "?");
			nl = strlen(name);

			memcpy(p, name, nl);
			p = fmt_pad(line, p + nl, 16);
			*p++ = ' ';
			skip = (size_t)(p - line); /* --width counts from here, as before */
		}
		col = p;
		state = ts_state_name((enum ts_state)s->state);
		p = fmt_pad(col, fmt_str(p, state ? state : "?"), 12);
		*p++ = ' ';
		p = fmt_u32_right(p, s->recv_q, 7);
		*p++ = ' ';
		p = fmt_u32_right(p, s->send_q, 7);
		*p++ = ' ';
		col = p;
		p = fmt_pad(col, fmt_endpoint(p, s->family, &s->local_addr, s->local_port), ep_w);
		*p++ = ' ';
		col = p;
		if (s->flags & TS_SOCK_REMOTE_VALID)
			p = fmt_endpoint(p, s->family, &s->remote_addr, s->remote_port);
		else
			*p++ = '-';
		p = fmt_pad(col, p, ep_w);
		*p++ = ' ';
		col = p;
		if (s->timer) {
			char timer[48];

			format_timer(timer, sizeof(timer), s);
			p = fmt_str(p, timer);
		} else {
			*p++ = '-';
		}
		p = fmt_pad(col, p, 14);
		*p++ = ' ';
		p = fmt_owners(p, snap, s);
		if (width && (size_t)(p - line) - skip > width)
			p = line + skip + width;
		*p++ = '\n';
		fwrite_unlocked(line, 1, (size_t)(p - line), f);
	}
	return ferror(f) ? -1 : 0;
}
