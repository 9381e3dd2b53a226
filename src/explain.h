/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internal to `tcpstate explain`: cmd_explain.c (options, arguments, the
 * flow), explain_facts.c (the settings, counters and listeners read in the
 * target namespace, once each), explain_text.c (sentences,
 * wrapped fields, durations), explain_pages.c (a page per state),
 * explain_query.c (a socket query: parsed, matched), explain_verdict.c
 * (what a live socket's data means) and explain_story.c
 * (which sockets match a query, and the story of one as text and JSON).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <json-c/json.h>

#include "tcpstate/sysctl_registry.h"
#include "tcpstate/listener.h"
#include "tcpstate/netstat.h"
#include "tcpstate/snapshot.h"
#include "tcpstate/state_info.h"
#include "tcpstate/sysctl.h"

#define EXPLAIN_MAX_SETTINGS 32
#define EXPLAIN_SETTING_VALUE_MAX 128

enum explain_query_kind {
	EXPLAIN_QUERY_ENDPOINT, /* ADDR:PORT */
	EXPLAIN_QUERY_PORT,     /* :PORT */
	EXPLAIN_QUERY_INODE,
};

struct explain_query {
	const char *text;
	enum explain_query_kind kind;
	int family;
	struct in6_addr addr; /* IPv4: first 4 bytes */
	uint16_t port;
	uint64_t inode;
};

/* One setting, read once. */
struct explain_setting {
	const char *name;
	char value[EXPLAIN_SETTING_VALUE_MAX];
	int err; /* 0: value is valid */
};

struct explain_ctx {
	const char *netns;
	char netns_shown[192]; /* which namespace --netns resolved to, for the text */
	bool json;
	unsigned width;
	struct ts_sysctl *sysctl; /* NULL: could not open, see sysctl_err */
	int sysctl_err;
	struct explain_setting settings[EXPLAIN_MAX_SETTINGS];
	size_t n_settings;
	/* The namespace's counters, read on first use (netstat_err < 0: unavailable). */
	bool netstat_read;
	int netstat_err;
	struct ts_netstat netstat;
	/* The last listener asked about (a SYN_RECEIVED socket's), by namespace inode and port. */
	bool listener_read;
	uint64_t listener_netns;
	uint16_t listener_port;
	struct explain_listener {
		bool found;            /* the listener is in a snapshot */
		uint32_t recv_q, send_q;
		int defer_err;         /* 0: defer_s is valid */
		uint32_t defer_s;      /* TCP_DEFER_ACCEPT, 0: off */
	} listener;
};

/* A small bounded text buffer for the sentences we compose. */
struct explain_text {
	char buf[2048];
	size_t len;
};

/* ---- explain_facts.c ---- */

/* The setting read once in c's namespace (err set when unreadable); never NULL. */
const struct explain_setting *explain_setting_get(struct explain_ctx *c, const char *name);
/* The value as text, or "unavailable" for use inside a sentence. */
const char *explain_setting_value(struct explain_ctx *c, enum ts_sysctl_id id);
/* The counters of c's namespace, or NULL when they cannot be read. */
const struct ts_netstat *explain_netstat(struct explain_ctx *c);
/* The listener of s (SYN_RECEIVED): looked up in snap, else in a snapshot of its port. */
const struct explain_listener *explain_listener(struct explain_ctx *c, const struct ts_snapshot *snap,
					      const struct ts_socket *s);

/* ---- explain_text.c ---- */

/* Appends to t; what does not fit is dropped. */
void explain_text_add(struct explain_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "  Label         text wrapped at width, continued under the text". */
void explain_field(FILE *f, unsigned width, const char *label, const char *text);
/* "850 ms", "12.5 s", "3 min 4 s", "2 h 5 min", "3 d 1 h". */
void explain_fmt_duration(char *buf, size_t size, uint32_t ms);

/* ---- explain_pages.c ---- */

const char *explain_actor_name(enum ts_actor a);
/* One field line per setting that bounds the state, the first under label. */
void explain_settings_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info,
			   const char *label);
json_object *explain_settings_json(struct explain_ctx *c, const struct ts_state_info *info);
void explain_page_text(FILE *f, struct explain_ctx *c, const struct ts_state_info *info);
json_object *explain_page_json(struct explain_ctx *c, const struct ts_state_info *info);

/* ---- explain_verdict.c ---- */

/* CLOSE_WAIT: how long ago the peer's FIN arrived, at least and at most. */
bool explain_fin_window(const struct ts_socket *s, uint32_t *ret_min, uint32_t *ret_max);
/* One or two sentences on this socket, from its live data and the settings. */
void explain_verdict(struct explain_text *t, struct explain_ctx *c, const struct ts_snapshot *snap,
		     const struct ts_socket *s);

/* ---- explain_query.c ---- */

/*
 * 1 when tok is a socket query (q filled in), 0 when it does not look like
 * one (it may be a state), -1 when it looks like one but is malformed
 * (reported).
 */
int explain_query_parse(const char *tok, struct explain_query *q);
/* Whether s answers q; a listener on a wildcard address answers every address. */
bool explain_query_match(const struct explain_query *q, const struct ts_socket *s);

/* ---- explain_story.c ---- */

void explain_story_text(FILE *f, struct explain_ctx *c, const struct ts_snapshot *snap,
			const struct ts_socket *s, const struct explain_query *q);
json_object *explain_story_json(struct explain_ctx *c, const struct ts_snapshot *snap,
				const struct ts_socket *s, const struct explain_query *q);
