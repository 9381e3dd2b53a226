/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

void output_comm(char out[TS_COMM_LEN], const char *comm)
{
	size_t i;

	for (i = 0; i + 1 < TS_COMM_LEN && comm[i]; i++)
		out[i] = (unsigned char)comm[i] < 0x20 || comm[i] == 0x7f ? '?' : comm[i];
	out[i] = '\0';
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

void output_endpoint(char *buf, size_t size, int family, const struct in6_addr *a, uint16_t port)
{
	char addr[INET6_ADDRSTRLEN];
	char portbuf[8];

	if (addr_is_any(family, a))
		snprintf(addr, sizeof(addr), "*");
	else
		output_addr(addr, sizeof(addr), family, a);
	if (port)
		snprintf(portbuf, sizeof(portbuf), "%u", port);
	else
		snprintf(portbuf, sizeof(portbuf), "*");
	if (family == AF_INET6 && addr[0] != '*')
		snprintf(buf, size, "[%s]:%s", addr, portbuf);
	else
		snprintf(buf, size, "%s:%s", addr, portbuf);
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

static void format_owners(char *buf, size_t size, const struct ts_snapshot *snap,
			  const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_process *p;
	char comm[TS_COMM_LEN];

	if (!o) {
		snprintf(buf, size, "-");
		return;
	}
	p = ts_snapshot_process(snap, o->process_index);
	output_comm(comm, p ? p->comm : "?");
	if (s->owner_count > 1)
		snprintf(buf, size, "%s/%d/fd%d +%u", comm, (int)o->pid, o->fd, s->owner_count - 1);
	else
		snprintf(buf, size, "%s/%d/fd%d", comm, (int)o->pid, o->fd);
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
		char local[64], peer[64], timer[48], owners[96];
		int len;

		output_endpoint(local, sizeof(local), s->family, &s->local_addr, s->local_port);
		if (s->flags & TS_SOCK_REMOTE_VALID)
			output_endpoint(peer, sizeof(peer), s->family, &s->remote_addr, s->remote_port);
		else
			snprintf(peer, sizeof(peer), "-");
		format_timer(timer, sizeof(timer), s);
		format_owners(owners, sizeof(owners), snap, s);
		if (show_netns) {
			const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);

			fprintf(f, "%-16.16s ", ns ? ns->name : "?");
		}
		len = snprintf(line, sizeof(line), "%-12s %7u %7u %-*s %-*s %-14s %s",
			       ts_state_name((enum ts_state)s->state), s->recv_q, s->send_q,
			       ep_w, local, ep_w, peer, timer, owners);
		if (width && len > (int)width)
			len = (int)width;
		fwrite(line, 1, (size_t)len, f);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}
