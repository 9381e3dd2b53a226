/* SPDX-License-Identifier: MIT */
/*
 * tcpstate explain [STATE...] | ADDR:PORT | [ADDR]:PORT | :PORT | INODE
 *
 * A page per state from the table of lib/state_info.c, with the current
 * values of the settings that bound it, read in the target namespace; or the
 * story of live sockets: who holds them, what the kernel says about them, and
 * what that means.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_filter.h"
#include "output.h"
#include "tcpstate/state_info.h"
#include "tcpstate/sysctl.h"
#include "tcpstate/util.h"

#define LABEL_WIDTH 14
#define MAX_SETTINGS 32
#define SETTING_VALUE_MAX 128

enum query_kind {
	QUERY_ENDPOINT, /* ADDR:PORT */
	QUERY_PORT,     /* :PORT */
	QUERY_INODE,
};

struct query {
	const char *text;
	enum query_kind kind;
	int family;
	struct in6_addr addr; /* IPv4: first 4 bytes */
	uint16_t port;
	uint64_t inode;
};

/* One setting, read once. */
struct setting {
	const char *name;
	char value[SETTING_VALUE_MAX];
	int err; /* 0: value is valid */
};

struct explain_ctx {
	const char *netns;
	bool json;
	unsigned width;
	struct ts_sysctl *sysctl; /* NULL: could not open, see sysctl_err */
	int sysctl_err;
	struct setting settings[MAX_SETTINGS];
	size_t n_settings;
};

/* A small bounded text buffer for the sentences we compose. */
struct text {
	char buf[2048];
	size_t len;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= sizeof(t->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	t->len += (size_t)n;
	if (t->len >= sizeof(t->buf))
		t->len = sizeof(t->buf) - 1;
}

static void explain_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate explain [STATE...] [OPTIONS]\n"
		"       tcpstate explain ADDR:PORT | [ADDR6]:PORT | :PORT | INODE [OPTIONS]\n"
		"\n"
		"With states (default: all 13, in the order a connection lives them), prints\n"
		"what each state means, which side closed first, who must act, what ends it,\n"
		"the current value of every setting that bounds it, typical causes, and how to\n"
		"see it. States are named as for 'list --state'; groups such as 'closing' work.\n"
		"\n"
		"With a socket (1.2.3.4:80, [::1]:80, :80 for a port at either end, or a socket\n"
		"inode as shown by 'list --json' and /proc/PID/fd), tells the story of each live\n"
		"socket that matches: state, both ends, the processes and fds holding it, its\n"
		"timer, how long since data moved, its queues, and what that means.\n"
		"\n"
		"  -N, --netns NS   another network namespace: a name in /run/netns, a path or\n"
		"                   a pid (default: your own); settings are read there too\n"
		"  -j, --json       one JSON document\n"
		"  -h, --help       this text\n"
		"\n"
		"Examples:\n"
		"  tcpstate explain close-wait\n"
		"  tcpstate explain closing --netns tslab-1a2b3c4d\n"
		"  tcpstate explain 127.0.0.1:8080\n"
		"  tcpstate explain 4711 --json\n"
		"\n"
		"Exit status: 0 success, 1 error or no socket matched, 2 usage error.\n");
}

static unsigned terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 80;
	if (ws.ws_col < 60)
		return 60;
	return ws.ws_col > 100 ? 100 : ws.ws_col;
}

/* ---- argument parsing ---- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Returns 1 when tok is a socket query (filled in), 0 when it does not look
 * like one (it may be a state), -1 when it looks like one but is malformed
 * (reported).
 */
static int query_parse(const char *tok, struct query *q)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *port;
	size_t alen;

	memset(q, 0, sizeof(*q));
	q->text = tok;
	if (all_digits(tok)) {
		q->kind = QUERY_INODE;
		if (ts_parse_u64(tok, 1, UINT64_MAX, &q->inode) < 0) {
			cli_error("bad socket inode '%s' (a number from 1 up)", tok);
			return -1;
		}
		return 1;
	}
	if (tok[0] == '[') {
		const char *end = strchr(tok, ']');

		if (!end || end[1] != ':') {
			cli_error("bad socket '%s' (write an IPv6 one as [ADDR]:PORT)", tok);
			return -1;
		}
		alen = (size_t)(end - tok - 1);
		port = end + 2;
		if (alen == 0 || alen >= sizeof(addr)) {
			cli_error("bad IPv6 address in '%s'", tok);
			return -1;
		}
		memcpy(addr, tok + 1, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET6, addr, &q->addr) != 1) {
			cli_error("bad IPv6 address in '%s'", tok);
			return -1;
		}
		q->family = AF_INET6;
		q->kind = QUERY_ENDPOINT;
	} else if (tok[0] == ':') {
		if (strchr(tok + 1, ':')) {
			cli_error("bad socket '%s' (write an IPv6 one in brackets: [ADDR]:PORT)", tok);
			return -1;
		}
		port = tok + 1;
		q->kind = QUERY_PORT;
	} else {
		const char *colon = strrchr(tok, ':');

		if (!colon)
			return 0; /* a word: a state, or nothing */
		if (strchr(tok, ':') != colon) {
			cli_error("bad socket '%s' (write an IPv6 one in brackets: [ADDR]:PORT)", tok);
			return -1;
		}
		alen = (size_t)(colon - tok);
		port = colon + 1;
		if (alen == 0 || alen >= sizeof(addr)) {
			cli_error("bad socket '%s' (ADDR:PORT)", tok);
			return -1;
		}
		memcpy(addr, tok, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET, addr, &q->addr) != 1) {
			cli_error("bad IPv4 address in '%s'", tok);
			return -1;
		}
		q->family = AF_INET;
		q->kind = QUERY_ENDPOINT;
	}
	if (ts_parse_port(port, &q->port) < 0) {
		cli_error("bad port in '%s' (a number from 1 to 65535)", tok);
		return -1;
	}
	return 1;
}

/* ---- settings ---- */

static const struct setting *setting_get(struct explain_ctx *c, const char *name)
{
	struct setting *s;

	for (size_t i = 0; i < c->n_settings; i++)
		if (strcmp(c->settings[i].name, name) == 0)
			return &c->settings[i];
	if (c->n_settings >= MAX_SETTINGS) {
		static struct setting overflow;

		overflow.name = name;
		overflow.err = -ENOBUFS;
		return &overflow;
	}
	s = &c->settings[c->n_settings++];
	s->name = name;
	if (!c->sysctl)
		s->err = c->sysctl_err;
	else
		s->err = ts_sysctl_read(c->sysctl, name, s->value, sizeof(s->value));
	if (s->err == 0)
		for (char *p = s->value; *p; p++)
			if (*p == '\t')
				*p = ' ';
	return s;
}

/* The value as text, or "unavailable" for use inside a sentence. */
static const char *setting_value(struct explain_ctx *c, const char *name)
{
	const struct setting *s = setting_get(c, name);

	return s->err ? "unavailable" : s->value;
}

/* ---- text output ---- */

static bool is_unit(const char *w, size_t n)
{
	static const char *const units[] = { "s", "ms", "min", "h", "d" };

	while (n > 0 && strchr(",.;:)", w[n - 1]))
		n--;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && strncmp(w, units[i], n) == 0)
			return true;
	return false;
}

/*
 * Length of the next piece that must not be broken across lines: a word, a
 * `command` in backquotes with what sticks to it, or a number with its unit.
 */
static size_t piece_len(const char *p)
{
	size_t n = strcspn(p, " ");

	if (*p == '`') {
		const char *end = strchr(p + 1, '`');

		if (end)
			return (size_t)(end + 1 - p) + strcspn(end + 1, " ");
	}
	if (n > 0 && isdigit((unsigned char)p[0]) && strspn(p, "0123456789.") == n && p[n] == ' ') {
		size_t m = strcspn(p + n + 1, " ");

		if (is_unit(p + n + 1, m))
			return n + 1 + m;
	}
	return n;
}

/* "  Label         text wrapped at width, continued under the text". */
static void field(FILE *f, unsigned width, const char *label, const char *text)
{
	unsigned indent = 2 + LABEL_WIDTH, col;
	const char *p = text;

	fprintf(f, "  %-*s", LABEL_WIDTH, label);
	col = indent;
	if (strlen(label) >= LABEL_WIDTH) {
		fputc(' ', f);
		col = 2 + (unsigned)strlen(label) + 1;
	}
	for (bool first = true; *p;) {
		size_t n;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		n = piece_len(p);
		if (!first && col + 1 + n > width) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
			first = true;
		}
		if (!first) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, n, f);
		col += (unsigned)n;
		p += n;
		first = false;
	}
	fputc('\n', f);
}

static const char *actor_name(enum ts_actor a)
{
	switch (a) {
	case TS_ACTOR_NOBODY:
		return "nobody";
	case TS_ACTOR_THIS_PROGRAM:
		return "this_program";
	case TS_ACTOR_PEER_PROGRAM:
		return "peer_program";
	case TS_ACTOR_KERNEL_TIMER:
		return "kernel_timer";
	case TS_ACTOR_NETWORK:
		return "network";
	}
	return "unknown";
}

static void settings_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info,
			  const char *label)
{
	bool first = true;

	if (!info->sysctls || !info->sysctls[0]) {
		field(f, c->width, label,
		      "none: no sysctl bounds this state and no kernel timer ends it.");
		return;
	}
	for (const char *const *n = info->sysctls; *n; n++) {
		const struct setting *s = setting_get(c, *n);
		const struct ts_sysctl_info *k = ts_sysctl_lookup(*n);
		struct text t = { .len = 0 };

		if (s->err)
			text_add(&t, "%s = unavailable (%s)", *n, strerror(-s->err));
		else
			text_add(&t, "%s = %s", *n, s->value);
		if (k && k->kernel_default && !s->err && strcmp(k->kernel_default, s->value) != 0)
			text_add(&t, " (kernel default %s)", k->kernel_default);
		field(f, c->width, first ? label : "", t.buf);
		first = false;
	}
}

static void page_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info)
{
	fprintf(f, "%s\n", ts_state_name(info->state));
	field(f, c->width, "Meaning", info->meaning);
	field(f, c->width, "Closed first", info->closed_first);
	field(f, c->width, "Who must act", info->who_must_act);
	field(f, c->width, "What ends it", info->ends_it);
	settings_text(f, c, info, "Settings");
	field(f, c->width, "Causes", info->causes);
	field(f, c->width, "How to see", info->how_to_see);
}

/* ---- JSON output ---- */

static json_object *settings_json(struct explain_ctx *c, const struct ts_state_info *info)
{
	json_object *arr = json_object_new_array();

	for (const char *const *n = info->sysctls; n && *n; n++) {
		const struct setting *s = setting_get(c, *n);
		const struct ts_sysctl_info *k = ts_sysctl_lookup(*n);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(*n));
		json_object_object_add(o, "value", s->err ? NULL : json_object_new_string(s->value));
		json_object_object_add(o, "error", s->err ? json_object_new_string(strerror(-s->err)) : NULL);
		json_object_object_add(o, "kernel_default",
				       k && k->kernel_default ? json_object_new_string(k->kernel_default) : NULL);
		json_object_object_add(o, "what", k && k->what ? json_object_new_string(k->what) : NULL);
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *page_json(struct explain_ctx *c, const struct ts_state_info *info)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "state", json_object_new_string(ts_state_name(info->state)));
	json_object_object_add(o, "meaning", json_object_new_string(info->meaning));
	json_object_object_add(o, "closed_first", json_object_new_string(info->closed_first));
	json_object_object_add(o, "actor", json_object_new_string(actor_name(info->actor)));
	json_object_object_add(o, "who_must_act", json_object_new_string(info->who_must_act));
	json_object_object_add(o, "ends_it", json_object_new_string(info->ends_it));
	json_object_object_add(o, "settings", settings_json(c, info));
	json_object_object_add(o, "causes", json_object_new_string(info->causes));
	json_object_object_add(o, "how_to_see", json_object_new_string(info->how_to_see));
	return o;
}

/* ---- the story of one socket ---- */

static void fmt_duration(char *buf, size_t size, uint32_t ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%u ms", ms);
	else if (ms < 120000)
		snprintf(buf, size, "%.1f s", ms / 1000.0);
	else if (ms < 7200000)
		snprintf(buf, size, "%u min %u s", ms / 60000, ms / 1000 % 60);
	else if (ms < 172800000)
		snprintf(buf, size, "%u h %u min", ms / 3600000, ms / 60000 % 60);
	else
		snprintf(buf, size, "%u d %u h", ms / 86400000, ms / 3600000 % 24);
}

static bool addr_is_any(int family, const struct in6_addr *a)
{
	static const struct in6_addr any;

	return memcmp(a, &any, family == AF_INET ? 4 : 16) == 0;
}

/* Same address, counting an IPv4-mapped IPv6 address as its IPv4 one. */
static bool addr_same(int sfamily, const struct in6_addr *sa, int qfamily, const struct in6_addr *qa)
{
	if (sfamily == qfamily)
		return memcmp(sa, qa, sfamily == AF_INET ? 4 : 16) == 0;
	if (sfamily == AF_INET6 && IN6_IS_ADDR_V4MAPPED(sa))
		return memcmp(&sa->s6_addr[12], qa, 4) == 0;
	if (qfamily == AF_INET6 && IN6_IS_ADDR_V4MAPPED(qa))
		return memcmp(&qa->s6_addr[12], sa, 4) == 0;
	return false;
}

static bool query_match(const struct query *q, const struct ts_socket *s)
{
	bool remote = s->flags & TS_SOCK_REMOTE_VALID;

	switch (q->kind) {
	case QUERY_INODE:
		return s->inode == q->inode;
	case QUERY_PORT:
		return s->local_port == q->port || (remote && s->remote_port == q->port);
	case QUERY_ENDPOINT:
		/* A wildcard local address (a listener on *:PORT) answers for every address. */
		if (s->local_port == q->port &&
		    (addr_is_any(s->family, &s->local_addr) ||
		     addr_same(s->family, &s->local_addr, q->family, &q->addr)))
			return true;
		return remote && s->remote_port == q->port &&
		       addr_same(s->family, &s->remote_addr, q->family, &q->addr);
	}
	return false;
}

static bool is_orphan(const struct ts_socket *s)
{
	static const ts_state_mask_t closing = TS_STATE_BIT(TS_STATE_FIN_WAIT_1) |
		TS_STATE_BIT(TS_STATE_FIN_WAIT_2) | TS_STATE_BIT(TS_STATE_LAST_ACK) |
		TS_STATE_BIT(TS_STATE_CLOSING);

	/* A socket its program closed has no struct socket left: inode 0. */
	return !(s->flags & TS_SOCK_FROM_FD) && s->inode == 0 && (closing & TS_STATE_BIT(s->state));
}

static bool in_accept_queue(const struct ts_socket *s)
{
	/* Not accepted yet: no struct socket either. */
	return !(s->flags & TS_SOCK_FROM_FD) && s->inode == 0 &&
	       (s->state == TS_STATE_ESTABLISHED || s->state == TS_STATE_CLOSE_WAIT);
}

/* "python3 (pid 12, fd 5)" [+ " and 2 other holders"], or NULL when none. */
static const char *holder(char *buf, size_t size, const struct ts_snapshot *snap,
			  const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	const struct ts_process *p;
	int n;

	if (!o)
		return NULL;
	p = ts_snapshot_process(snap, o->process_index);
	n = snprintf(buf, size, "%s (pid %d, fd %d)", p ? p->comm : "?", (int)o->pid, o->fd);
	if (s->owner_count > 1 && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " and %u other holder%s", s->owner_count - 1,
			 s->owner_count == 2 ? "" : "s");
	return buf;
}

/* When the peer's FIN arrived, for CLOSE_WAIT: no later than the last segment
 * from the peer (its FIN carried an ACK), no earlier than the last data (a
 * bare FIN does not count as data). */
static bool fin_window(const struct ts_socket *s, uint32_t *ret_min, uint32_t *ret_max)
{
	if (s->state != TS_STATE_CLOSE_WAIT || !(s->flags & TS_SOCK_HAS_INFO))
		return false;
	*ret_min = s->info.last_ack_recv_ms;
	*ret_max = s->info.last_data_recv_ms;
	if (*ret_max < *ret_min)
		*ret_max = *ret_min;
	return true;
}

/* States in which the socket has been connected, so that tcp_info's times
 * since the last send and receive mean something. */
static bool connected_once(const struct ts_socket *s)
{
	static const ts_state_mask_t m = TS_STATE_BIT(TS_STATE_ESTABLISHED) |
		TS_STATE_BIT(TS_STATE_FIN_WAIT_1) | TS_STATE_BIT(TS_STATE_FIN_WAIT_2) |
		TS_STATE_BIT(TS_STATE_CLOSE_WAIT) | TS_STATE_BIT(TS_STATE_LAST_ACK) |
		TS_STATE_BIT(TS_STATE_CLOSING) | TS_STATE_BIT(TS_STATE_TIME_WAIT) |
		TS_STATE_BIT(TS_STATE_CLOSED);

	return (m & TS_STATE_BIT(s->state)) != 0;
}

static unsigned retransmissions(const struct ts_socket *s)
{
	if (s->timer_retrans)
		return s->timer_retrans;
	return (s->flags & TS_SOCK_HAS_INFO) ? s->info.retransmits : 0;
}

static void verdict_orphan_or_held(struct text *t, struct explain_ctx *c, const char *who,
				   bool orphan, const char *waiting_for)
{
	if (orphan)
		text_add(t, "Its program has closed it (an orphan); the kernel waits for %s and gives "
			 "up after net.ipv4.tcp_orphan_retries = %s retransmissions (0 means 8, "
			 "about 100 s).", waiting_for, setting_value(c, "net.ipv4.tcp_orphan_retries"));
	else
		text_add(t, "%s still holds it (it called shutdown(), not close()); the kernel waits "
			 "for %s and gives up after net.ipv4.tcp_retries2 = %s (about 15 minutes at "
			 "15), unless TCP_USER_TIMEOUT is set.", who ? who : "A program", waiting_for,
			 setting_value(c, "net.ipv4.tcp_retries2"));
}

/* True when a retry count already exceeds the setting's value (a per-socket limit). */
static bool beyond_limit(struct explain_ctx *c, const char *name, unsigned count)
{
	const struct setting *s = setting_get(c, name);
	uint32_t v;

	return s->err == 0 && ts_parse_u32(s->value, 0, UINT32_MAX, &v) == 0 && count > v;
}

/* One or two sentences on this socket, from its live data and the settings. */
static void verdict(struct text *t, struct explain_ctx *c, const struct ts_snapshot *snap,
		    const struct ts_socket *s)
{
	char who_buf[128], d[32], d2[32];
	const char *who = holder(who_buf, sizeof(who_buf), snap, s);
	const char *holders = who ? who : "The program holding it";
	const struct ts_owner *o = ts_snapshot_owners(snap, s);
	bool orphan = is_orphan(s);
	unsigned rt = retransmissions(s);
	uint32_t lo, hi;

	switch ((enum ts_state)s->state) {
	case TS_STATE_IDLE:
		text_add(t, "%s created this socket and never used it; only close() ends it.", holders);
		break;
	case TS_STATE_BOUND:
		text_add(t, "%s bound port %u and has neither listened nor connected; the port stays "
			 "reserved until it calls close().", holders, s->local_port);
		break;
	case TS_STATE_LISTEN:
		if (s->send_q > 0 && s->recv_q >= s->send_q)
			text_add(t, "The accept queue is full (%u of %u): %s is not calling accept() "
				 "fast enough; new clients stall, or are reset when "
				 "net.ipv4.tcp_abort_on_overflow is 1 (now %s).", s->recv_q, s->send_q,
				 holders, setting_value(c, "net.ipv4.tcp_abort_on_overflow"));
		else if (s->recv_q > 0)
			text_add(t, "%u connection%s wait%s for accept() (backlog %u).", s->recv_q,
				 s->recv_q == 1 ? "" : "s", s->recv_q == 1 ? "s" : "", s->send_q);
		else
			text_add(t, "Nothing waits for accept() (backlog %u): a healthy listener.",
				 s->send_q);
		break;
	case TS_STATE_SYN_SENT:
		text_add(t, "The SYN has been retransmitted %u time%s without an answer. ", rt,
			 rt == 1 ? "" : "s");
		if (beyond_limit(c, "net.ipv4.tcp_syn_retries", rt))
			text_add(t, "That is more than net.ipv4.tcp_syn_retries = %s: this socket has "
				 "its own limit (TCP_SYNCNT or TCP_USER_TIMEOUT).",
				 setting_value(c, "net.ipv4.tcp_syn_retries"));
		else
			text_add(t, "connect() fails after net.ipv4.tcp_syn_retries = %s "
				 "retransmissions, unless the program set TCP_SYNCNT or "
				 "TCP_USER_TIMEOUT.", setting_value(c, "net.ipv4.tcp_syn_retries"));
		break;
	case TS_STATE_SYN_RECEIVED:
		text_add(t, "The SYN-ACK has been retransmitted %u time%s; the entry is dropped after "
			 "net.ipv4.tcp_synack_retries = %s.", rt, rt == 1 ? "" : "s",
			 setting_value(c, "net.ipv4.tcp_synack_retries"));
		break;
	case TS_STATE_ESTABLISHED:
		if (in_accept_queue(s)) {
			text_add(t, "No program has accepted it yet: it waits in the accept queue of the "
				 "listener on port %u, whose program must call accept().", s->local_port);
			break;
		}
		switch ((enum ts_timer)s->timer) {
		case TS_TIMER_RETRANS:
			text_add(t, "%u byte%s are unacknowledged and %u retransmission%s so far; the "
				 "kernel gives up after net.ipv4.tcp_retries2 = %s unless "
				 "TCP_USER_TIMEOUT is set.", s->send_q, s->send_q == 1 ? "" : "s", rt,
				 rt == 1 ? "" : "s", setting_value(c, "net.ipv4.tcp_retries2"));
			break;
		case TS_TIMER_PROBE:
			text_add(t, "The peer advertises a zero window (its program is not reading); "
				 "%u byte%s wait to be sent.", s->send_q, s->send_q == 1 ? "" : "s");
			break;
		case TS_TIMER_KEEPALIVE:
			fmt_duration(d, sizeof(d), s->timer_expires_ms);
			text_add(t, "Keepalive is on: the next check is due in %s, so a vanished peer "
				 "will be noticed.", d);
			break;
		default:
			text_add(t, "No timer runs: without keepalive, if the peer vanished nothing "
				 "will notice.");
			break;
		}
		if (s->flags & TS_SOCK_HAS_INFO) {
			uint32_t quiet = s->info.last_data_sent_ms < s->info.last_data_recv_ms ?
					 s->info.last_data_sent_ms : s->info.last_data_recv_ms;

			fmt_duration(d, sizeof(d), quiet);
			text_add(t, " No data has moved either way for %s.", d);
		}
		if (s->recv_q > 0)
			text_add(t, " %u byte%s wait for %s to read them.", s->recv_q,
				 s->recv_q == 1 ? "" : "s", holders);
		break;
	case TS_STATE_FIN_WAIT_1:
		if (s->send_q > 0)
			text_add(t, "Data still queued ahead of the FIN: %u bytes. ", s->send_q);
		if (s->timer == TS_TIMER_PROBE)
			text_add(t, "The peer advertises a zero window (its program is not reading). ");
		verdict_orphan_or_held(t, c, who, orphan, "the ACK of its FIN");
		break;
	case TS_STATE_FIN_WAIT_2:
		if (orphan) {
			text_add(t, "Its program has closed it (an orphan): the kernel drops it "
				 "net.ipv4.tcp_fin_timeout = %s s after the close unless the peer "
				 "sends its FIN first.", setting_value(c, "net.ipv4.tcp_fin_timeout"));
			if (s->timer) {
				fmt_duration(d, sizeof(d), s->timer_expires_ms);
				text_add(t, " %s left.", d);
			}
		} else {
			text_add(t, "%s still holds it after shutdown(SHUT_WR), so "
				 "net.ipv4.tcp_fin_timeout (%s) does not apply. It ends when the peer's "
				 "program closes its side (there the socket is in CLOSE_WAIT).", holders,
				 setting_value(c, "net.ipv4.tcp_fin_timeout"));
		}
		break;
	case TS_STATE_CLOSE_WAIT:
		if (in_accept_queue(s)) {
			text_add(t, "The peer closed before any program accepted the connection: the "
				 "program listening on port %u must accept() it and close it.",
				 s->local_port);
			break;
		}
		if (o && s->owner_count == 1) {
			const struct ts_process *p = ts_snapshot_process(snap, o->process_index);

			text_add(t, "%s (pid %d) must close fd %d.", p ? p->comm : "The program",
				 (int)o->pid, o->fd);
		} else if (o)
			text_add(t, "%s must all close their descriptors.", who);
		else
			text_add(t, "The program holding it must close it.");
		if (fin_window(s, &lo, &hi)) {
			fmt_duration(d, sizeof(d), lo);
			text_add(t, " The peer closed its side at least %s ago", d);
		} else {
			text_add(t, " The peer has closed its side");
		}
		text_add(t, ", and no kernel timer will ever end this socket.");
		/* Recv-Q counts the peer's FIN until the program reads the end of file. */
		if (s->recv_q > 1)
			text_add(t, " Bytes it has not read yet: %u.", s->recv_q - 1);
		else if (s->recv_q == 0)
			text_add(t, " It has even read the end of file (read() returned 0).");
		break;
	case TS_STATE_LAST_ACK:
		verdict_orphan_or_held(t, c, who, orphan, "the ACK of its FIN");
		break;
	case TS_STATE_CLOSING:
		verdict_orphan_or_held(t, c, who, orphan, "the ACK of its FIN");
		break;
	case TS_STATE_TIME_WAIT:
		fmt_duration(d, sizeof(d), s->timer_expires_ms);
		text_add(t, "Nothing to do: the kernel removes it in %s (of a fixed 60 s).", d);
		break;
	case TS_STATE_CLOSED:
		text_add(t, "The connection is over, but %s still holds the descriptor and must "
			 "close it.", holders);
		break;
	default:
		text_add(t, "%s holds it; run tcpstate as root to tell IDLE, BOUND and CLOSED apart. "
			 "Only close() ends it.", holders);
		break;
	}
	if (rt && s->state != TS_STATE_SYN_SENT && s->state != TS_STATE_SYN_RECEIVED &&
	    s->state != TS_STATE_ESTABLISHED) {
		fmt_duration(d2, sizeof(d2), s->timer_expires_ms);
		text_add(t, " %u retransmission%s so far; next in %s.", rt, rt == 1 ? "" : "s", d2);
	}
}

static void timer_text(struct text *t, const struct ts_socket *s)
{
	static const char *const what[_TS_TIMER_MAX] = {
		[TS_TIMER_RETRANS] = "retransmission (on)",
		[TS_TIMER_KEEPALIVE] = "keepalive",
		[TS_TIMER_TIME_WAIT] = "timewait",
		[TS_TIMER_PROBE] = "zero-window probe (persist)",
	};
	char d[32];

	if (s->timer == TS_TIMER_NONE || s->timer >= _TS_TIMER_MAX) {
		text_add(t, "none");
		return;
	}
	fmt_duration(d, sizeof(d), s->timer_expires_ms);
	text_add(t, "%s, fires in %s", what[s->timer], d);
	if (s->timer_retrans)
		text_add(t, ", %u retransmission%s so far", s->timer_retrans,
			 s->timer_retrans == 1 ? "" : "s");
}

static void holders_text(struct text *t, const struct ts_snapshot *snap, const struct ts_socket *s)
{
	const struct ts_owner *o = ts_snapshot_owners(snap, s);

	if (!o) {
		if (is_orphan(s))
			text_add(t, "no process: its program closed it and the kernel finishes it alone");
		else if (in_accept_queue(s))
			text_add(t, "no process yet: it waits in a listener's accept queue");
		else if (s->state == TS_STATE_TIME_WAIT || s->state == TS_STATE_SYN_RECEIVED)
			text_add(t, "no process: the kernel keeps it alone");
		else
			text_add(t, "no process found (run as root to read every process's fds)");
		return;
	}
	for (unsigned k = 0; k < s->owner_count; k++) {
		const struct ts_process *p = ts_snapshot_process(snap, o[k].process_index);

		text_add(t, "%s%s pid %d fd %d", k ? ", " : "", p ? p->comm : "?", (int)o[k].pid,
			 o[k].fd);
	}
}

static void story_text(FILE *f, struct explain_ctx *c, const struct ts_snapshot *snap,
		       const struct ts_socket *s, const struct query *q)
{
	const struct ts_state_info *info = ts_state_info((enum ts_state)s->state);
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
	char local[64], peer[64], d1[32], d2[32], d3[32];
	struct text t = { .len = 0 };
	uint32_t lo, hi;

	output_endpoint(local, sizeof(local), s->family, &s->local_addr, s->local_port);
	if (s->flags & TS_SOCK_REMOTE_VALID)
		output_endpoint(peer, sizeof(peer), s->family, &s->remote_addr, s->remote_port);
	else
		snprintf(peer, sizeof(peer), "-");
	fprintf(f, "%s %s -> %s  (matches %s)\n", ts_state_name((enum ts_state)s->state), local,
		peer, q->text);

	text_add(&t, "%s", local);
	field(f, c->width, "Local", t.buf);
	field(f, c->width, "Peer", s->flags & TS_SOCK_REMOTE_VALID ? peer : "none");
	t.len = 0;
	if (s->inode)
		text_add(&t, "inode %llu", (unsigned long long)s->inode);
	else
		text_add(&t, "no inode (no struct socket)");
	text_add(&t, ", netns %s", ns ? ns->name : "?");
	field(f, c->width, "Socket", t.buf);
	t.len = 0;
	holders_text(&t, snap, s);
	field(f, c->width, "Held by", t.buf);
	t.len = 0;
	timer_text(&t, s);
	field(f, c->width, "Timer", t.buf);
	t.len = 0;
	if (s->state == TS_STATE_LISTEN)
		text_add(&t, "%u waiting for accept(), backlog %u", s->recv_q, s->send_q);
	else if (s->state == TS_STATE_CLOSE_WAIT && s->recv_q > 0)
		text_add(&t, "Recv-Q %u (%u bytes of data the program has not read, plus the "
			 "peer's FIN), Send-Q %u (bytes the peer has not acknowledged)",
			 s->recv_q, s->recv_q - 1, s->send_q);
	else
		text_add(&t, "Recv-Q %u (bytes the program has not read), Send-Q %u (bytes "
			 "the peer has not acknowledged)", s->recv_q, s->send_q);
	field(f, c->width, "Queues", t.buf);
	t.len = 0;
	if (!connected_once(s)) {
		text_add(&t, "none: no connection has carried data in this state");
	} else if (s->flags & TS_SOCK_HAS_INFO) {
		fmt_duration(d1, sizeof(d1), s->info.last_data_sent_ms);
		fmt_duration(d2, sizeof(d2), s->info.last_data_recv_ms);
		fmt_duration(d3, sizeof(d3), s->info.last_ack_recv_ms);
		text_add(&t, "data sent %s ago, data received %s ago, last ACK from the peer %s ago",
			 d1, d2, d3);
	} else {
		text_add(&t, "not reported for this socket (the kernel gives no tcp_info here)");
	}
	field(f, c->width, "Last traffic", t.buf);
	if (fin_window(s, &lo, &hi)) {
		t.len = 0;
		fmt_duration(d1, sizeof(d1), lo);
		fmt_duration(d2, sizeof(d2), hi);
		if (hi - lo < 1000)
			text_add(&t, "arrived at least %s ago (the last segment from the peer)", d1);
		else
			text_add(&t, "arrived at least %s ago (the last segment from the peer) and at "
				 "most %s ago (the last data from it)", d1, d2);
		field(f, c->width, "Peer's FIN", t.buf);
	}
	t.len = 0;
	verdict(&t, c, snap, s);
	field(f, c->width, "In short", t.buf);
	if (!info)
		return;
	field(f, c->width, "Meaning", info->meaning);
	field(f, c->width, "Who must act", info->who_must_act);
	field(f, c->width, "What ends it", info->ends_it);
	settings_text(f, c, info, "Settings");
}

static json_object *addr_json(int family, const struct in6_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	output_addr(buf, sizeof(buf), family, a);
	return json_object_new_string(buf);
}

static json_object *story_json(struct explain_ctx *c, const struct ts_snapshot *snap,
			       const struct ts_socket *s, const struct query *q)
{
	const struct ts_state_info *info = ts_state_info((enum ts_state)s->state);
	const struct ts_netns *ns = ts_snapshot_netns(snap, s->netns_index);
	const struct ts_owner *ow = ts_snapshot_owners(snap, s);
	bool remote = s->flags & TS_SOCK_REMOTE_VALID;
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	struct text t = { .len = 0 };
	uint32_t lo, hi;

	json_object_object_add(o, "query", json_object_new_string(q->text));
	json_object_object_add(o, "state", json_object_new_string(ts_state_name((enum ts_state)s->state)));
	json_object_object_add(o, "family", json_object_new_string(s->family == AF_INET6 ? "inet6" : "inet"));
	json_object_object_add(o, "local_addr", addr_json(s->family, &s->local_addr));
	json_object_object_add(o, "local_port", json_object_new_int(s->local_port));
	json_object_object_add(o, "remote_addr", remote ? addr_json(s->family, &s->remote_addr) : NULL);
	json_object_object_add(o, "remote_port", remote ? json_object_new_int(s->remote_port) : NULL);
	json_object_object_add(o, "inode", json_object_new_int64((int64_t)s->inode));
	json_object_object_add(o, "netns", json_object_new_string(ns ? ns->name : "?"));
	for (unsigned k = 0; ow && k < s->owner_count; k++) {
		const struct ts_process *p = ts_snapshot_process(snap, ow[k].process_index);
		json_object *e = json_object_new_object();

		json_object_object_add(e, "pid", json_object_new_int(ow[k].pid));
		json_object_object_add(e, "fd", json_object_new_int(ow[k].fd));
		json_object_object_add(e, "comm", json_object_new_string(p ? p->comm : "?"));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "owners", arr);
	json_object_object_add(o, "orphan", json_object_new_boolean(is_orphan(s)));
	json_object_object_add(o, "in_accept_queue", json_object_new_boolean(in_accept_queue(s)));
	if (ts_timer_name((enum ts_timer)s->timer)) {
		json_object *tm = json_object_new_object();

		json_object_object_add(tm, "kind", json_object_new_string(ts_timer_name((enum ts_timer)s->timer)));
		json_object_object_add(tm, "expires_ms", json_object_new_int64(s->timer_expires_ms));
		json_object_object_add(tm, "retransmits", json_object_new_int(s->timer_retrans));
		json_object_object_add(o, "timer", tm);
	} else {
		json_object_object_add(o, "timer", NULL);
	}
	json_object_object_add(o, "recv_q", json_object_new_int64(s->recv_q));
	json_object_object_add(o, "send_q", json_object_new_int64(s->send_q));
	if ((s->flags & TS_SOCK_HAS_INFO) && connected_once(s)) {
		json_object *i = json_object_new_object();

		json_object_object_add(i, "last_data_sent_ms", json_object_new_int64(s->info.last_data_sent_ms));
		json_object_object_add(i, "last_data_recv_ms", json_object_new_int64(s->info.last_data_recv_ms));
		json_object_object_add(i, "last_ack_recv_ms", json_object_new_int64(s->info.last_ack_recv_ms));
		json_object_object_add(i, "retransmits", json_object_new_int(s->info.retransmits));
		json_object_object_add(i, "total_retrans", json_object_new_int64(s->info.total_retrans));
		json_object_object_add(o, "tcp_info", i);
	} else {
		json_object_object_add(o, "tcp_info", NULL);
	}
	if (fin_window(s, &lo, &hi)) {
		json_object *w = json_object_new_object();

		json_object_object_add(w, "at_least_ms", json_object_new_int64(lo));
		json_object_object_add(w, "at_most_ms", json_object_new_int64(hi));
		json_object_object_add(o, "peer_fin_ago", w);
	}
	verdict(&t, c, snap, s);
	json_object_object_add(o, "summary", json_object_new_string(t.buf));
	if (info) {
		json_object_object_add(o, "actor", json_object_new_string(actor_name(info->actor)));
		json_object_object_add(o, "who_must_act", json_object_new_string(info->who_must_act));
		json_object_object_add(o, "ends_it", json_object_new_string(info->ends_it));
		json_object_object_add(o, "settings", settings_json(c, info));
	}
	return o;
}

/* ---- queries ---- */

/* Before each page or story: the namespace note first, then blank lines between. */
static void separate(const struct explain_ctx *c, bool *printed)
{
	if (*printed)
		putchar('\n');
	else if (c->netns)
		printf("Settings are read in network namespace %s.\n\n", c->netns);
	*printed = true;
}

static void query_not_found(const struct explain_ctx *c, const struct query *q)
{
	if (c->netns)
		cli_error("no socket matches '%s' in network namespace '%s'", q->text, c->netns);
	else
		cli_error("no socket matches '%s' in this network namespace", q->text);
}

/*
 * Takes a snapshot for one query and renders its matches (to f, or into
 * arr in JSON mode). Returns the number of matches, or -1 on an error
 * (reported).
 */
static int run_query(struct explain_ctx *c, const struct query *q, FILE *f, json_object *arr,
		     bool *printed)
{
	struct cli_snapshot_args a;
	struct ts_snapshot *snap;
	size_t n;
	int found = 0;

	cli_snapshot_args_init(&a);
	a.opts.netns = c->netns;
	a.opts.owners = TS_OWNERS_PROC;
	a.opts.want_info = true;
	/* Let the kernel select by port; address and wildcard rules are ours. */
	if (q->kind != QUERY_INODE) {
		a.filter.ports[0] = q->port;
		a.filter.n_ports = 1;
	}
	if (cli_snapshot_take(&a, &snap) < 0)
		return -1;
	n = ts_snapshot_socket_count(snap);
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (!query_match(q, s))
			continue;
		found++;
		if (arr) {
			json_object_array_add(arr, story_json(c, snap, s, q));
		} else {
			separate(c, printed);
			story_text(f, c, snap, s, q);
		}
	}
	ts_snapshot_free(snap);
	return found;
}

int cmd_explain(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "netns", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct explain_ctx c = { .width = 80 };
	ts_state_mask_t states = 0;
	struct query *queries = NULL;
	size_t n_queries = 0;
	json_object *doc = NULL, *pages = NULL, *stories = NULL, *unmatched = NULL;
	bool printed = false;
	int opt, r, status = EXIT_OK;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "N:jh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'N':
			c.netns = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			explain_help(stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'tcpstate explain --help'.\n");
			return EXIT_USAGE;
		}
	}

	queries = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*queries));
	if (!queries) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	for (int i = optind; i < argc; i++) {
		ts_state_mask_t m;

		r = query_parse(argv[i], &queries[n_queries]);
		if (r < 0) {
			status = EXIT_USAGE;
			goto out;
		}
		if (r > 0) {
			n_queries++;
			continue;
		}
		if (ts_state_token_parse(argv[i], &m) < 0) {
			cli_error("unknown state or socket '%s' (a state such as close-wait, a group "
				  "such as closing, ADDR:PORT, [ADDR]:PORT, :PORT or an inode number)",
				  argv[i]);
			status = EXIT_USAGE;
			goto out;
		}
		states |= m;
	}
	if (optind >= argc)
		states = TS_STATE_MASK_ALL;
	if (!c.json)
		c.width = terminal_width();

	r = ts_sysctl_open(c.netns, NULL, &c.sysctl);
	if (r < 0) {
		if (c.netns && (r == -ENOENT || r == -EINVAL)) {
			cli_error("no network namespace '%s' (a name in /run/netns, a path or a pid)",
				  c.netns);
			status = EXIT_ERROR;
			goto out;
		}
		c.sysctl = NULL;
		c.sysctl_err = r;
	}

	if (c.json) {
		doc = json_object_new_object();
		pages = json_object_new_array();
		stories = json_object_new_array();
		unmatched = json_object_new_array();
		json_object_object_add(doc, "netns", c.netns ? json_object_new_string(c.netns) : NULL);
	}

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		const struct ts_state_info *info = ts_state_info(ts_state_lifecycle_order(i));

		if (!info || !(states & TS_STATE_BIT(info->state)))
			continue;
		if (c.json) {
			json_object_array_add(pages, page_json(&c, info));
			continue;
		}
		separate(&c, &printed);
		page_text(stdout, &c, info);
	}

	for (size_t i = 0; i < n_queries; i++) {
		r = run_query(&c, &queries[i], stdout, stories, &printed);
		if (r < 0) {
			status = EXIT_ERROR;
			break;
		}
		if (r == 0) {
			query_not_found(&c, &queries[i]);
			if (unmatched)
				json_object_array_add(unmatched, json_object_new_string(queries[i].text));
			status = EXIT_ERROR;
		}
	}

	if (doc) {
		json_object_object_add(doc, "states", pages);
		json_object_object_add(doc, "sockets", stories);
		json_object_object_add(doc, "unmatched", unmatched);
		fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
		fputc('\n', stdout);
	}
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		status = EXIT_ERROR;
	}
out:
	json_object_put(doc);
	ts_sysctl_free(c.sysctl);
	free(queries);
	return status;
}
