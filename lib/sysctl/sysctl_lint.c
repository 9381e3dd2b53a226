/* SPDX-License-Identifier: MIT */
/* The lint of the sysctl configuration files (see sysctl_conf.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "sysctl/sysctl_internal.h"

const char *ts_lint_kind_name(enum ts_lint_kind k)
{
	static const char *const names[] = {
		[TS_LINT_MALFORMED] = "malformed",
		[TS_LINT_REMOVED] = "removed",
		[TS_LINT_FIN_TIMEOUT] = "fin-timeout",
		[TS_LINT_CONNTRACK_CLOSE_WAIT] = "conntrack-close-wait",
		[TS_LINT_UNKNOWN_KEY] = "unknown-key",
		[TS_LINT_BAD_VALUE] = "bad-value",
		[TS_LINT_NOT_IN_EFFECT] = "not-in-effect",
		[TS_LINT_OVERRIDDEN] = "overridden",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *ts_lint_severity_name(enum ts_lint_severity s)
{
	return s == TS_LINT_ERROR ? "error" : s == TS_LINT_WARNING ? "warning" : "info";
}

struct lint_list {
	struct ts_lint_finding *v;
	size_t n, cap;
	size_t *order; /* sort keys: file index */
	size_t order_cap;
};

static int lint_add(struct lint_list *l, size_t file_idx, enum ts_lint_kind kind,
		    enum ts_lint_severity sev, const char *file, unsigned line, const char *key,
		    const char *value, const char *current, const char *fmt, ...)
	__attribute__((format(printf, 10, 11)));

static int lint_add(struct lint_list *l, size_t file_idx, enum ts_lint_kind kind,
		    enum ts_lint_severity sev, const char *file, unsigned line, const char *key,
		    const char *value, const char *current, const char *fmt, ...)
{
	struct ts_lint_finding *f;
	va_list ap;
	int r;

	if (array_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0 ||
	    array_grow((void **)&l->order, &l->order_cap, l->n + 1, sizeof(*l->order)) < 0)
		return -ENOMEM;
	f = &l->v[l->n];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->severity = sev;
	f->line = line;
	f->file = strdup(file);
	f->key = key ? strdup(key) : NULL;
	f->value = value ? strdup(value) : NULL;
	f->current = current ? strdup(current) : NULL;
	va_start(ap, fmt);
	r = vasprintf(&f->message, fmt, ap);
	va_end(ap);
	if (r < 0)
		f->message = NULL;
	l->order[l->n] = file_idx;
	l->n++; /* freed as a whole on failure */
	if (!f->file || (key && !f->key) || (value && !f->value) || (current && !f->current) ||
	    !f->message)
		return -ENOMEM;
	return 0;
}

void ts_lint_findings_free(struct ts_lint_finding *f, size_t n)
{
	if (!f)
		return;
	for (size_t i = 0; i < n; i++) {
		free(f[i].file);
		free(f[i].key);
		free(f[i].value);
		free(f[i].current);
		free(f[i].message);
	}
	free(f);
}

static bool mentions_close_wait(const char *text)
{
	static const char *const words[] = { "close_wait", "close-wait", "closewait", "close wait" };

	if (!text)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(text, words[i]))
			return true;
	return false;
}

static bool has_glob(const char *key)
{
	return strpbrk(key, "*?[") != NULL;
}

/* The dotted key back to its path under /proc/sys. */
static void key_to_rel(const char *key, char *rel, size_t size)
{
	snprintf(rel, size, "%s", key);
	for (char *p = rel; *p; p++) {
		if (*p == '.')
			*p = '/';
		else if (*p == '/')
			*p = '.';
	}
}

/*
 * last[i]: the index of the last entry setting the same key as entry i (i
 * itself when none comes after it). Sorting the indices by (key, index)
 * groups each key: O(n log n), where a scan per entry was quadratic.
 */
struct key_ref {
	const char *key;
	size_t idx;
};

static int key_ref_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int last_settings(const struct ts_sysctl_conf *c, size_t **ret)
{
	struct key_ref *refs;
	size_t *last;

	last = calloc(c->n_entries + 1, sizeof(*last));
	refs = calloc(c->n_entries + 1, sizeof(*refs));
	if (!last || !refs) {
		free(last);
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_entries; i++)
		refs[i] = (struct key_ref){ c->entries[i].key, i };
	qsort(refs, c->n_entries, sizeof(*refs), key_ref_cmp);
	for (size_t g = 0; g < c->n_entries;) {
		size_t end = g;

		while (end + 1 < c->n_entries && strcmp(refs[end + 1].key, refs[g].key) == 0)
			end++;
		for (size_t k = g; k <= end; k++)
			last[refs[k].idx] = refs[end].idx;
		g = end + 1;
	}
	free(refs);
	*ret = last;
	return 0;
}

static int lint_entry(const struct ts_sysctl_conf *c, size_t i, const size_t *last,
		      struct ts_sysctl *live, struct lint_list *l)
{
	const struct ts_sysctl_conf_entry *e = &c->entries[i], *later;
	const struct ts_sysctl_info *info = ts_sysctl_find(e->key);
	enum ts_sysctl_id id = info ? info->id : _TS_SYSCTL_ID_MAX;
	size_t fi = e->file_idx;
	enum ts_lint_severity sev;
	char rel[PATH_MAX / 2], cur[TS_SYSCTL_VALUE_MAX];
	const char *why = NULL;
	bool bad_value = false;
	int r;

#define ADD(kind, sev_, current, ...) \
	do { \
		r = lint_add(l, fi, kind, sev_, e->file, e->line, e->key, e->value, current, __VA_ARGS__); \
		if (r < 0) \
			return r; \
	} while (0)

	if (id == TS_SYSCTL_TCP_TW_RECYCLE) {
		ADD(TS_LINT_REMOVED, TS_LINT_ERROR, NULL,
		    "tcp_tw_recycle was removed in Linux %s: the kernel has no such setting "
		    "(sysctl -p fails on it, systemd-sysctl skips it). It dropped connections of "
		    "clients behind NAT. Delete the line; for outgoing connections see tcp_tw_reuse.",
		    info->removed_in);
		return 0;
	}
	if (id == TS_SYSCTL_TCP_FIN_TIMEOUT) {
		bool cw = mentions_close_wait(e->comment);

		ADD(TS_LINT_FIN_TIMEOUT, cw ? TS_LINT_WARNING : TS_LINT_INFO, NULL,
		    "tcp_fin_timeout bounds only FIN_WAIT_2 of orphaned sockets (closed by their "
		    "program, waiting for the peer's FIN); it does not end CLOSE_WAIT, which lasts "
		    "until the program calls close() ('tcpstate doctor' names it).%s",
		    cw ? " The comment above it says it is meant for CLOSE_WAIT: it will not help." : "");
	}
	if (id == TS_SYSCTL_NF_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT ||
	    id == TS_SYSCTL_IP_CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT) {
		ADD(TS_LINT_CONNTRACK_CLOSE_WAIT, TS_LINT_WARNING, NULL,
		    "a connection-tracking timer: how long the firewall remembers a flow it saw in "
		    "CLOSE_WAIT. It does not touch the socket: CLOSE_WAIT ends only when the program "
		    "calls close().");
	}
	if (ts_sysctl_value_check(e->key, e->value, &why) < 0) {
		bad_value = true;
		ADD(TS_LINT_BAD_VALUE, e->ignore_errors ? TS_LINT_WARNING : TS_LINT_ERROR, NULL,
		    "the kernel refuses '%s': %s.%s", e->value, why,
		    e->ignore_errors ? " The leading '-' hides the failure." : "");
	}

	later = last[i] != i ? &c->entries[last[i]] : NULL;
	if (later) {
		ADD(TS_LINT_OVERRIDDEN, TS_LINT_INFO, NULL, "overridden by %s:%u (%s = %s)",
		    later->file, later->line, later->key, later->value);
	}

	if (!live || has_glob(e->key))
		return 0;
	key_to_rel(e->key, rel, sizeof(rel));
	r = sysctl_read_rel(live, rel, cur, sizeof(cur));
	if (r == -ENOENT || r == -ENOTDIR || r == -EINVAL) {
		bool module = strncmp(e->key, "net.netfilter.", 14) == 0 ||
			      strncmp(e->key, "net.bridge.", 11) == 0;

		sev = e->ignore_errors ? TS_LINT_INFO : TS_LINT_WARNING;
		ADD(TS_LINT_UNKNOWN_KEY, sev, NULL,
		    "this kernel has no %s (no file under /proc/sys): %s%s", e->key,
		    e->ignore_errors ? "ignored (the line starts with '-')"
				     : "systemd-sysctl skips it, sysctl -p reports an error",
		    module ? "; its module may not be loaded when the files are applied" : "");
		return 0;
	}
	if (r < 0 || later || bad_value)
		return 0; /* write-only, unreadable, or not the value that counts */
	if (!ts_sysctl_value_equal(cur, e->value)) {
		for (char *p = cur; *p; p++)
			if (*p == '\t')
				*p = ' ';
		ADD(TS_LINT_NOT_IN_EFFECT, TS_LINT_WARNING, cur,
		    "in effect now: %s; the file says %s. It was not applied since it changed "
		    "(sysctl --system), or something set it later.", cur, e->value);
	}
#undef ADD
	return 0;
}

struct sort_item {
	size_t file_idx;
	unsigned line;
	size_t seq;
};

static int sort_item_cmp(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->file_idx != y->file_idx)
		return x->file_idx < y->file_idx ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int ts_sysctl_conf_lint(const struct ts_sysctl_conf *c, struct ts_sysctl *live,
			struct ts_lint_finding **ret, size_t *ret_n)
{
	struct lint_list l = { 0 };
	struct sort_item *items = NULL;
	struct ts_lint_finding *sorted = NULL;
	size_t *last = NULL;
	int r;

	r = last_settings(c, &last);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_bad && r == 0; i++) {
		const struct ts_sysctl_conf_bad_line *b = &c->bad[i];

		r = lint_add(&l, b->file_idx, TS_LINT_MALFORMED, TS_LINT_ERROR, b->file,
			     b->line, NULL, NULL, NULL, "%s%s%s%s", b->why, *b->text ? ": '" : "",
			     b->text, *b->text ? "'" : "");
	}
	for (size_t i = 0; i < c->n_entries && r == 0; i++)
		r = lint_entry(c, i, last, live, &l);
	if (r < 0)
		goto fail;

	if (l.n) {
		items = malloc(l.n * sizeof(*items));
		sorted = malloc(l.n * sizeof(*sorted));
		if (!items || !sorted) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < l.n; i++)
			items[i] = (struct sort_item){ l.order[i], l.v[i].line, i };
		qsort(items, l.n, sizeof(*items), sort_item_cmp);
		for (size_t i = 0; i < l.n; i++)
			sorted[i] = l.v[items[i].seq];
	}
	free(items);
	free(last);
	free(l.v);
	free(l.order);
	*ret = sorted;
	*ret_n = l.n;
	return 0;
fail:
	free(items);
	free(last);
	free(sorted);
	ts_lint_findings_free(l.v, l.n);
	free(l.order);
	return r;
}
