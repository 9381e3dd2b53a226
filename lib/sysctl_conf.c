/* SPDX-License-Identifier: MIT */
/*
 * sysctl configuration files (systemd-sysctl / `sysctl --system` order),
 * their lint, and the tuning advice of `tcpstate tune`.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sysctl_conf.h"
#include "tcpstate/util.h"

#define LINE_TEXT_MAX 200
#define CONF_FILES_MAX 4096
#define CONF_ENTRIES_MAX 100000

/* ---- growable arrays ---- */

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	p = realloc(*v, nc * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = nc;
	return 0;
}

struct conf_priv {
	struct ts_sysctl_conf pub;
	size_t cap_files, cap_entries, cap_bad;
};

int ts_sysctl_conf_new(struct ts_sysctl_conf **ret)
{
	struct conf_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ret = &p->pub;
	return 0;
}

struct ts_sysctl_conf *ts_sysctl_conf_free(struct ts_sysctl_conf *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i]);
	for (size_t i = 0; i < c->n_entries; i++) {
		free(c->entries[i].key);
		free(c->entries[i].value);
		free(c->entries[i].file);
		free(c->entries[i].comment);
	}
	for (size_t i = 0; i < c->n_bad; i++) {
		free(c->bad[i].file);
		free(c->bad[i].text);
	}
	free(c->files);
	free(c->entries);
	free(c->bad);
	free(c);
	return NULL;
}

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

void ts_sysctl_key_normalize(char *key)
{
	char *first = strpbrk(key, "./");

	/* systemd: when the first separator is '/', '/' and '.' swap roles. */
	if (!first || *first != '/')
		return;
	for (char *p = key; *p; p++) {
		if (*p == '/')
			*p = '.';
		else if (*p == '.')
			*p = '/';
	}
}

static int add_bad(struct ts_sysctl_conf *c, const char *file, unsigned line, const char *text,
		   const char *why)
{
	struct conf_priv *p = (struct conf_priv *)c;
	struct ts_sysctl_conf_bad_line *b;

	if (c->n_bad >= CONF_ENTRIES_MAX)
		return 0;
	if (grow((void **)&c->bad, &p->cap_bad, c->n_bad, sizeof(*c->bad)) < 0)
		return -ENOMEM;
	b = &c->bad[c->n_bad];
	b->file = strdup(file);
	b->text = strndup(text, LINE_TEXT_MAX);
	b->line = line;
	b->why = why;
	if (!b->file || !b->text) {
		free(b->file);
		free(b->text);
		return -ENOMEM;
	}
	c->n_bad++;
	return 0;
}

static int append_comment(char **comment, const char *text)
{
	size_t old = *comment ? strlen(*comment) : 0, add = strlen(text);
	char *n;

	if (old > 4096)
		return 0; /* a long banner: the end is what matters less */
	n = realloc(*comment, old + add + 2);
	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = '\n';
	memcpy(n + old, text, add + 1);
	*comment = n;
	return 0;
}

static int add_entry(struct ts_sysctl_conf *c, const char *file, unsigned line, const char *key,
		     const char *value, bool ignore_errors, char **comment)
{
	struct conf_priv *p = (struct conf_priv *)c;
	struct ts_sysctl_conf_entry *e;

	if (c->n_entries >= CONF_ENTRIES_MAX)
		return add_bad(c, file, line, key, "too many settings; the rest is ignored");
	if (grow((void **)&c->entries, &p->cap_entries, c->n_entries, sizeof(*c->entries)) < 0)
		return -ENOMEM;
	e = &c->entries[c->n_entries];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	e->value = strdup(value);
	e->file = strdup(file);
	e->line = line;
	e->ignore_errors = ignore_errors;
	if (!e->key || !e->value || !e->file) {
		free(e->key);
		free(e->value);
		free(e->file);
		return -ENOMEM;
	}
	e->comment = *comment; /* handed over */
	*comment = NULL;
	ts_sysctl_key_normalize(e->key);
	c->n_entries++;
	return 0;
}

static int parse_line(struct ts_sysctl_conf *c, const char *path, unsigned lineno, char *raw,
		      char **comment)
{
	char *s = strip(raw), *eq, *key, *value;
	bool ignore = false;

	if (*s == '\0') {
		free(*comment); /* a blank line ends the comment block */
		*comment = NULL;
		return 0;
	}
	if (*s == '#' || *s == ';')
		return append_comment(comment, strip(s + 1));

	eq = strchr(s, '=');
	if (!eq) {
		free(*comment);
		*comment = NULL;
		return add_bad(c, path, lineno, s, "not an assignment (key = value)");
	}
	*eq = '\0';
	key = strip(s);
	value = strip(eq + 1);
	if (*key == '-') {
		ignore = true;
		key = strip(key + 1);
	}
	if (*key == '\0' || strspn(key, "./") == strlen(key)) {
		free(*comment);
		*comment = NULL;
		*eq = '=';
		return add_bad(c, path, lineno, s, "no key before '='");
	}
	if (strlen(value) >= TS_SYSCTL_VALUE_MAX) {
		free(*comment);
		*comment = NULL;
		return add_bad(c, path, lineno, key, "value too long");
	}
	for (const char *q = key; *q; q++)
		if (isspace((unsigned char)*q)) {
			free(*comment);
			*comment = NULL;
			*eq = '=';
			return add_bad(c, path, lineno, s, "space inside the key");
		}
	return add_entry(c, path, lineno, key, value, ignore, comment);
}

static int add_file_name(struct ts_sysctl_conf *c, const char *path)
{
	struct conf_priv *p = (struct conf_priv *)c;
	char *d;

	if (grow((void **)&c->files, &p->cap_files, c->n_files, sizeof(*c->files)) < 0)
		return -ENOMEM;
	d = strdup(path);
	if (!d)
		return -ENOMEM;
	c->files[c->n_files++] = d;
	return 0;
}

int ts_sysctl_conf_parse_file(struct ts_sysctl_conf *c, const char *path)
{
	char *line = NULL, *comment = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = add_file_name(c, path);
	while (r == 0) {
		ssize_t n = getline(&line, &cap, f);

		if (n < 0)
			break;
		lineno++;
		if ((size_t)n != strlen(line)) {
			r = add_bad(c, path, lineno, "", "NUL byte in the line");
			continue;
		}
		r = parse_line(c, path, lineno, line, &comment);
	}
	if (r == 0 && ferror(f))
		r = add_bad(c, path, lineno + 1, "", "read error; the rest of the file is ignored");
	free(comment);
	free(line);
	fclose(f);
	return r;
}

/* ---- the directories ---- */

struct conf_file {
	char *name;
	char *path;
};

static int conf_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_file *)a)->name, ((const struct conf_file *)b)->name);
}

static bool ends_with_conf(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".conf") == 0 && name[0] != '.';
}

int ts_sysctl_conf_load(const char *root, struct ts_sysctl_conf **ret)
{
	static const char *const dirs[] = {
		"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d",
		"/usr/lib/sysctl.d", "/lib/sysctl.d",
	};
	struct ts_sysctl_conf *c;
	struct conf_file *files = NULL;
	size_t n = 0, cap = 0;
	char path[PATH_MAX];
	struct {
		dev_t dev;
		ino_t ino;
	} *seen = NULL;
	size_t n_seen = 0;
	struct stat st;
	int r;

	if (!root || strcmp(root, "/") == 0)
		root = "";
	r = ts_sysctl_conf_new(&c);
	if (r < 0)
		return r;

	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]) && r == 0; d++) {
		struct dirent *de;
		DIR *dir;

		snprintf(path, sizeof(path), "%s%s", root, dirs[d]);
		dir = opendir(path);
		if (!dir)
			continue;
		while (r == 0 && (de = readdir(dir)) && n < CONF_FILES_MAX) {
			bool dup = false;

			if (!ends_with_conf(de->d_name))
				continue;
			for (size_t i = 0; i < n && !dup; i++)
				dup = strcmp(files[i].name, de->d_name) == 0;
			if (dup)
				continue; /* masked by the same name in an earlier directory */
			r = grow((void **)&files, &cap, n, sizeof(*files));
			if (r < 0)
				break;
			files[n].name = strdup(de->d_name);
			if (asprintf(&files[n].path, "%s%s/%s", root, dirs[d], de->d_name) < 0)
				files[n].path = NULL;
			if (!files[n].name || !files[n].path) {
				free(files[n].name);
				free(files[n].path);
				r = -ENOMEM;
				break;
			}
			n++;
		}
		closedir(dir);
	}
	if (r < 0)
		goto out;
	if (n)
		qsort(files, n, sizeof(*files), conf_file_cmp);

	seen = calloc(n + 1, sizeof(*seen));
	if (!seen) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= n && r == 0; i++) {
		char etc_conf[PATH_MAX];
		const char *p;
		bool dup = false;

		if (i < n) {
			p = files[i].path;
		} else {
			snprintf(etc_conf, sizeof(etc_conf), "%s/etc/sysctl.conf", root);
			p = etc_conf;
		}
		if (stat(p, &st) < 0) {
			if (i < n) /* a dangling link in sysctl.d deserves a word */
				r = add_bad(c, p, 0, "", "cannot be read (dangling link?)");
			continue;
		}
		if (S_ISCHR(st.st_mode) || S_ISDIR(st.st_mode))
			continue; /* masked with /dev/null, or not a file */
		for (size_t k = 0; k < n_seen && !dup; k++)
			dup = seen[k].dev == st.st_dev && seen[k].ino == st.st_ino;
		if (dup)
			continue; /* e.g. 99-sysctl.conf -> ../sysctl.conf */
		seen[n_seen].dev = st.st_dev;
		seen[n_seen].ino = st.st_ino;
		n_seen++;
		r = ts_sysctl_conf_parse_file(c, p);
		if (r == -ENOMEM)
			break;
		if (r < 0)
			r = add_bad(c, p, 0, "", "cannot be read");
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(files[i].name);
		free(files[i].path);
	}
	free(files);
	free(seen);
	if (r < 0) {
		ts_sysctl_conf_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* ---- values the kernel accepts ---- */

enum range_kind { R_INT, R_U8, R_PORT_RANGE };

static const struct value_range {
	const char *name;
	enum range_kind kind;
	int64_t min, max;
	const char *why;
} ranges[] = {
	{ "net.ipv4.tcp_tw_reuse", R_U8, 0, 2, "tcp_tw_reuse is 0, 1 or 2" },
	{ "net.ipv4.tcp_syn_retries", R_U8, 1, 127, "tcp_syn_retries is 1 to 127" },
	{ "net.ipv4.tcp_synack_retries", R_U8, 0, 255, "a number from 0 to 255" },
	{ "net.ipv4.tcp_retries1", R_U8, 0, 255, "a number from 0 to 255" },
	{ "net.ipv4.tcp_retries2", R_U8, 0, 255, "a number from 0 to 255" },
	{ "net.ipv4.tcp_orphan_retries", R_U8, 0, 255, "a number from 0 to 255" },
	{ "net.ipv4.tcp_keepalive_probes", R_U8, 0, 255, "a number from 0 to 255" },
	{ "net.ipv4.tcp_syncookies", R_U8, 0, 255, "a number from 0 to 255 (meaningful: 0, 1, 2)" },
	{ "net.ipv4.tcp_abort_on_overflow", R_U8, 0, 255, "a number from 0 to 255 (meaningful: 0, 1)" },
	/* seconds stored as jiffies in an int: INT_MAX / HZ, HZ up to 1000 */
	{ "net.ipv4.tcp_fin_timeout", R_INT, INT_MIN / 1000, INT_MAX / 1000, "seconds, at most 2147483" },
	{ "net.ipv4.tcp_keepalive_time", R_INT, INT_MIN / 1000, INT_MAX / 1000, "seconds, at most 2147483" },
	{ "net.ipv4.tcp_keepalive_intvl", R_INT, INT_MIN / 1000, INT_MAX / 1000, "seconds, at most 2147483" },
	{ "net.core.somaxconn", R_INT, 0, INT_MAX, "a number from 0 to 2147483647" },
	{ "net.ipv4.tcp_max_syn_backlog", R_INT, INT_MIN, INT_MAX, "an int" },
	{ "net.ipv4.tcp_max_tw_buckets", R_INT, INT_MIN, INT_MAX, "an int" },
	{ "net.ipv4.tcp_max_orphans", R_INT, INT_MIN, INT_MAX, "an int" },
	{ "fs.nr_open", R_INT, 64, 2147483584, "a number from 64 to 2147483584" },
	{ "fs.file-max", R_INT, 0, INT64_MAX, "a number from 0 up" },
	{ "net.ipv4.ip_local_port_range", R_PORT_RANGE, 1024, 65535,
	  "two ports LOW HIGH, 1024 <= LOW <= HIGH <= 65535 (LOW may be lower only when "
	  "net.ipv4.ip_unprivileged_port_start is)" },
};

static int parse_i64(const char *s, int64_t *ret)
{
	uint64_t v;

	if (*s == '-') {
		if (ts_parse_u64(s + 1, 0, (uint64_t)INT64_MAX, &v) < 0)
			return -EINVAL;
		*ret = -(int64_t)v;
		return 0;
	}
	if (ts_parse_u64(s, 0, INT64_MAX, &v) < 0)
		return -EINVAL;
	*ret = (int64_t)v;
	return 0;
}

/* Splits value into at most max whitespace-separated integers. */
static int parse_fields(const char *value, int64_t *v, size_t max, size_t *ret_n)
{
	char buf[128], *save = NULL, *tok;
	size_t n = 0;

	if (strlen(value) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == max || parse_i64(tok, &v[n]) < 0)
			return -EINVAL;
		n++;
	}
	*ret_n = n;
	return 0;
}

int ts_sysctl_value_check(const char *name, const char *value, const char **ret_why)
{
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct value_range *r = &ranges[i];
		int64_t v[3];
		size_t n;

		if (strcmp(r->name, name) != 0)
			continue;
		if (parse_fields(value, v, r->kind == R_PORT_RANGE ? 2 : 1, &n) < 0 || n == 0 ||
		    (r->kind == R_PORT_RANGE && n != 2)) {
			*ret_why = r->why;
			return -EINVAL;
		}
		if (r->kind == R_PORT_RANGE) {
			if (v[0] < r->min || v[1] > r->max || v[0] > v[1]) {
				*ret_why = r->why;
				return -ERANGE;
			}
			return 0;
		}
		if (v[0] < r->min || v[0] > r->max) {
			*ret_why = r->why;
			return -ERANGE;
		}
		return 0;
	}
	return 0;
}

bool ts_sysctl_value_equal(const char *a, const char *b)
{
	for (;;) {
		while (isspace((unsigned char)*a))
			a++;
		while (isspace((unsigned char)*b))
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		while (*a && *b && !isspace((unsigned char)*a) && !isspace((unsigned char)*b)) {
			if (*a != *b)
				return false;
			a++;
			b++;
		}
		if ((*a && !isspace((unsigned char)*a)) || (*b && !isspace((unsigned char)*b)))
			return false;
	}
}

/* ---- lint ---- */

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

	if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0 ||
	    grow((void **)&l->order, &l->order_cap, l->n, sizeof(*l->order)) < 0)
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

static size_t file_index(const struct ts_sysctl_conf *c, const char *file)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (strcmp(c->files[i], file) == 0)
			return i;
	return c->n_files; /* unreadable files: after the rest */
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

static bool key_is(const char *key, const char *name)
{
	return strcmp(key, name) == 0;
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

static const struct ts_sysctl_conf_entry *later_setting(const struct ts_sysctl_conf *c, size_t i)
{
	const struct ts_sysctl_conf_entry *last = NULL;

	for (size_t k = i + 1; k < c->n_entries; k++)
		if (strcmp(c->entries[k].key, c->entries[i].key) == 0)
			last = &c->entries[k];
	return last;
}

static int lint_entry(const struct ts_sysctl_conf *c, size_t i, struct ts_sysctl *live,
		      struct lint_list *l)
{
	const struct ts_sysctl_conf_entry *e = &c->entries[i], *later;
	size_t fi = file_index(c, e->file);
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

	if (key_is(e->key, "net.ipv4.tcp_tw_recycle")) {
		ADD(TS_LINT_REMOVED, TS_LINT_ERROR, NULL,
		    "tcp_tw_recycle was removed in Linux 4.12: the kernel has no such setting "
		    "(sysctl -p fails on it, systemd-sysctl skips it). It dropped connections of "
		    "clients behind NAT. Delete the line; for outgoing connections see tcp_tw_reuse.");
		return 0;
	}
	if (key_is(e->key, "net.ipv4.tcp_fin_timeout")) {
		bool cw = mentions_close_wait(e->comment);

		ADD(TS_LINT_FIN_TIMEOUT, cw ? TS_LINT_WARNING : TS_LINT_INFO, NULL,
		    "tcp_fin_timeout bounds only FIN_WAIT_2 of orphaned sockets (closed by their "
		    "program, waiting for the peer's FIN); it does not end CLOSE_WAIT, which lasts "
		    "until the program calls close() ('tcpstate doctor' names it).%s",
		    cw ? " The comment above it says it is meant for CLOSE_WAIT: it will not help." : "");
	}
	if (key_is(e->key, "net.netfilter.nf_conntrack_tcp_timeout_close_wait") ||
	    key_is(e->key, "net.ipv4.netfilter.ip_conntrack_tcp_timeout_close_wait")) {
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

	later = later_setting(c, i);
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
	int r = 0;

	for (size_t i = 0; i < c->n_bad && r == 0; i++) {
		const struct ts_sysctl_conf_bad_line *b = &c->bad[i];

		r = lint_add(&l, file_index(c, b->file), TS_LINT_MALFORMED, TS_LINT_ERROR, b->file,
			     b->line, NULL, NULL, NULL, "%s%s%s%s", b->why, *b->text ? ": '" : "",
			     b->text, *b->text ? "'" : "");
	}
	for (size_t i = 0; i < c->n_entries && r == 0; i++)
		r = lint_entry(c, i, live, &l);
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
	free(l.v);
	free(l.order);
	*ret = sorted;
	*ret_n = l.n;
	return 0;
fail:
	free(items);
	free(sorted);
	ts_lint_findings_free(l.v, l.n);
	free(l.order);
	return r;
}

/* ---- tuning advice ---- */

const char *ts_tune_action_name(enum ts_tune_action a)
{
	switch (a) {
	case TS_TUNE_KEEP:
		return "keep";
	case TS_TUNE_CHANGE:
		return "change";
	case TS_TUNE_CONSIDER:
		return "consider";
	case TS_TUNE_UNAVAILABLE:
		return "unavailable";
	}
	return "?";
}

struct tw_key {
	struct in6_addr addr;
	uint16_t port;
	uint8_t family;
};

static int tw_key_cmp(const void *a, const void *b)
{
	const struct tw_key *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (int)x->family - (int)y->family;
}

int ts_tune_observe(const struct ts_snapshot *snap, uint32_t port_lo, uint32_t port_hi,
		    int64_t somaxconn, struct ts_tune_observed *ret)
{
	size_t n = ts_snapshot_socket_count(snap), n_tw = 0;
	struct ts_tune_observed o;
	uint8_t *listening = calloc(65536 / 8, 1);
	unsigned *syn = calloc(65536, sizeof(*syn));
	struct tw_key *tw = NULL;

	memset(&o, 0, sizeof(o));
	if (!listening || !syn)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);

		if (s->state == TS_STATE_LISTEN)
			listening[s->local_port / 8] |= (uint8_t)(1u << (s->local_port % 8));
		else if (s->state == TS_STATE_TIME_WAIT)
			n_tw++;
	}
	if (n_tw) {
		tw = malloc(n_tw * sizeof(*tw));
		if (!tw)
			goto oom;
	}
	n_tw = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ts_socket *s = ts_snapshot_socket(snap, i);
		bool orphan = s->inode == 0;

		if (s->state < _TS_STATE_MAX)
			o.count[s->state]++;
		switch (s->state) {
		case TS_STATE_FIN_WAIT_2:
			if (orphan)
				o.fin_wait_2_orphans++;
			break;
		case TS_STATE_FIN_WAIT_1:
		case TS_STATE_LAST_ACK:
		case TS_STATE_CLOSING:
			if (orphan)
				o.closing_orphans++;
			else
				o.closing_held++;
			break;
		case TS_STATE_TIME_WAIT:
			if (s->local_port >= port_lo && s->local_port <= port_hi &&
			    !(listening[s->local_port / 8] & (1u << (s->local_port % 8)))) {
				tw[n_tw] = (struct tw_key){ s->remote_addr, s->remote_port, s->family };
				n_tw++;
			}
			break;
		case TS_STATE_LISTEN:
			/* The kernel drops when the queue holds more than the backlog. */
			if (s->send_q > 0 && s->recv_q >= s->send_q) {
				o.listen_full++;
				o.listen_full_port = s->local_port;
				if (somaxconn > 0 && (int64_t)s->send_q >= somaxconn)
					o.listen_at_somaxconn++;
			}
			break;
		case TS_STATE_SYN_RECEIVED:
			syn[s->local_port]++;
			break;
		default:
			break;
		}
	}
	o.tw_outgoing = (unsigned)n_tw;
	if (n_tw) {
		qsort(tw, n_tw, sizeof(*tw), tw_key_cmp);
		for (size_t i = 0, run = 1; i < n_tw; i++, run++) {
			if (i + 1 < n_tw && tw_key_cmp(&tw[i], &tw[i + 1]) == 0)
				continue;
			if (run > o.tw_top_count) {
				o.tw_top_count = (unsigned)run;
				o.tw_top_addr = tw[i].addr;
				o.tw_top_port = tw[i].port;
				o.tw_top_family = tw[i].family;
			}
			run = 0;
		}
	}
	for (unsigned p = 0; p < 65536; p++)
		if (syn[p] > o.syn_recv_top) {
			o.syn_recv_top = syn[p];
			o.syn_recv_top_port = (uint16_t)p;
		}
	free(tw);
	free(syn);
	free(listening);
	*ret = o;
	return 0;
oom:
	free(tw);
	free(syn);
	free(listening);
	return -ENOMEM;
}

static void set_reason(struct ts_tune_row *row, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(struct ts_tune_row *row, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(row->reason, sizeof(row->reason), fmt, ap);
	va_end(ap);
}

static void recommend(struct ts_tune_row *row, enum ts_tune_action a, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void recommend(struct ts_tune_row *row, enum ts_tune_action a, const char *fmt, ...)
{
	va_list ap;

	row->action = a;
	va_start(ap, fmt);
	vsnprintf(row->recommended, sizeof(row->recommended), fmt, ap);
	va_end(ap);
}

static bool row_int(const struct ts_tune_row *row, int64_t *v)
{
	return row->action != TS_TUNE_UNAVAILABLE && parse_i64(row->current, v) == 0;
}

static int64_t cur_int(struct ts_tune_row *rows, size_t n, const char *name, int64_t dflt)
{
	int64_t v;

	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].info->name, name) == 0 && row_int(&rows[i], &v))
			return v;
	return dflt;
}

static void advise_one(struct ts_tune_row *row, struct ts_tune_row *rows, size_t n,
		       const struct ts_tune_observed *o)
{
	const char *name = row->info->name + (strncmp(row->info->name, "net.ipv4.", 9) == 0 ? 9 : 0);
	unsigned tw = o->count[TS_STATE_TIME_WAIT];
	unsigned syn_sent = o->count[TS_STATE_SYN_SENT];
	int64_t v = 0;
	bool have = row_int(row, &v);

	row->action = TS_TUNE_KEEP;
	row->recommended[0] = '\0';

	if (strcmp(name, "tcp_fin_timeout") == 0) {
		if (o->fin_wait_2_orphans >= TS_TUNE_MANY_ORPHANS && have && v > 30) {
			recommend(row, TS_TUNE_CHANGE, "30");
			set_reason(row, "%u orphaned FIN_WAIT_2 sockets (closed by their program, the "
				   "peer has not sent its FIN) each last tcp_fin_timeout; 30 s "
				   "halves that. It does not touch CLOSE_WAIT.", o->fin_wait_2_orphans);
		} else {
			set_reason(row, "%u orphaned FIN_WAIT_2 socket%s: nothing to shorten%s",
				   o->fin_wait_2_orphans, o->fin_wait_2_orphans == 1 ? "" : "s",
				   o->count[TS_STATE_CLOSE_WAIT] ? "; CLOSE_WAIT is not governed by it" : "");
		}
	} else if (strcmp(name, "tcp_max_tw_buckets") == 0) {
		unsigned buckets = tw + o->fin_wait_2_orphans;

		if (have && v > 0 && (int64_t)buckets * 4 >= v * 3) {
			int64_t nv = v * 2 > (int64_t)buckets * 2 ? v * 2 : (int64_t)buckets * 2;

			recommend(row, TS_TUNE_CHANGE, "%" PRId64, nv > INT_MAX ? INT_MAX : nv);
			set_reason(row, "%u TIME_WAIT (and orphaned FIN_WAIT_2) sockets, near the limit "
				   "of %" PRId64 ": beyond it new ones are destroyed at once ('time wait "
				   "bucket table overflow')", buckets, v);
		} else {
			set_reason(row, "%u TIME_WAIT sockets, well below the limit", tw);
		}
	} else if (strcmp(name, "ip_local_port_range") == 0 || strcmp(name, "tcp_tw_reuse") == 0) {
		int64_t f[2];
		size_t nf = 0;
		int64_t range = 28232;
		bool busy;

		if (strcmp(name, "tcp_tw_reuse") == 0) {
			char pr[128] = "";

			for (size_t i = 0; i < n; i++)
				if (strcmp(rows[i].info->name, "net.ipv4.ip_local_port_range") == 0)
					snprintf(pr, sizeof(pr), "%s", rows[i].current);
			if (parse_fields(pr, f, 2, &nf) == 0 && nf == 2 && f[1] >= f[0])
				range = f[1] - f[0] + 1;
		} else if (parse_fields(row->current, f, 2, &nf) == 0 && nf == 2 && f[1] >= f[0]) {
			range = f[1] - f[0] + 1;
		}
		busy = o->tw_top_count >= 32 && (int64_t)o->tw_top_count * 2 >= range;
		if (!busy) {
			set_reason(row, "%u outgoing TIME_WAIT sockets, at most %u to one destination, "
				   "of %" PRId64 " ephemeral ports", o->tw_outgoing, o->tw_top_count, range);
		} else if (strcmp(name, "tcp_tw_reuse") == 0) {
			if (have && v != 1) {
				recommend(row, TS_TUNE_CHANGE, "1");
				set_reason(row, "%u TIME_WAIT sockets to one destination use up %u%% of the "
					   "%" PRId64 " ephemeral ports: 1 lets connect() reuse a TIME_WAIT "
					   "port (timestamps keep it safe). Only outgoing connections are "
					   "affected.", o->tw_top_count,
					   (unsigned)(o->tw_top_count * 100 / range), range);
			} else {
				set_reason(row, "already 1; reuse connections (keep-alive, pooling) to "
					   "make fewer TIME_WAIT");
			}
		} else if (nf == 2 && (f[0] > 10000 || f[1] < 65535)) {
			recommend(row, TS_TUNE_CHANGE, "10000 65535");
			set_reason(row, "%u TIME_WAIT sockets to one destination use up %u%% of the "
				   "%" PRId64 " ephemeral ports: widen the range (for outgoing "
				   "connections; keep the ports your servers listen on out of it)",
				   o->tw_top_count, (unsigned)(o->tw_top_count * 100 / range), range);
		} else {
			set_reason(row, "already wide; reuse connections (keep-alive, pooling) instead");
		}
	} else if (strcmp(name, "tcp_orphan_retries") == 0) {
		int64_t eff = have && v == 0 ? 8 : v;

		if (o->closing_orphans >= TS_TUNE_MANY_ORPHANS && have && eff > 3) {
			recommend(row, TS_TUNE_CHANGE, "3");
			set_reason(row, "%u orphaned FIN_WAIT_1/LAST_ACK/CLOSING sockets wait out %" PRId64
				   " retransmissions to a peer that does not answer; 3 ends them sooner "
				   "(orphans only)", o->closing_orphans, eff);
		} else {
			set_reason(row, "%u orphaned FIN_WAIT_1/LAST_ACK/CLOSING sockets", o->closing_orphans);
		}
	} else if (strcmp(name, "tcp_retries2") == 0) {
		if (o->closing_held >= TS_TUNE_MANY_HELD_CLOSING && have && v > 8) {
			recommend(row, TS_TUNE_CONSIDER, "8");
			set_reason(row, "%u FIN_WAIT_1/LAST_ACK/CLOSING sockets still held by programs "
				   "wait out tcp_retries2 (%" PRId64 "); 8 (~100 s) ends them sooner but "
				   "also drops ESTABLISHED connections sooner when a peer is unreachable: "
				   "with care, not applied by tcpstate", o->closing_held, v);
		} else {
			set_reason(row, "%u held FIN_WAIT_1/LAST_ACK/CLOSING sockets", o->closing_held);
		}
	} else if (strcmp(name, "tcp_max_orphans") == 0) {
		unsigned orphans = o->fin_wait_2_orphans + o->closing_orphans;

		if (have && v > 0 && (int64_t)orphans * 2 >= v) {
			recommend(row, TS_TUNE_CHANGE, "%" PRId64, v * 2 > INT_MAX ? INT_MAX : v * 2);
			set_reason(row, "%u orphaned sockets, half the host-wide limit or more: beyond "
				   "it orphans are reset at once ('too many orphaned sockets')", orphans);
		} else {
			set_reason(row, "%u orphaned sockets in this namespace", orphans);
		}
	} else if (strcmp(name, "net.core.somaxconn") == 0) {
		if (o->listen_at_somaxconn && have) {
			recommend(row, TS_TUNE_CHANGE, "%" PRId64, v < 2048 ? 4096 : (v > INT_MAX / 2 ? INT_MAX : v * 2));
			set_reason(row, "%u listener%s with a full accept queue whose backlog is capped "
				   "at somaxconn (port %u): raise it, and the program's listen() "
				   "backlog (the queue is the smaller of the two)",
				   o->listen_at_somaxconn, o->listen_at_somaxconn == 1 ? "" : "s",
				   o->listen_full_port);
		} else if (o->listen_full) {
			set_reason(row, "%u listener%s with a full accept queue (port %u), backlog below "
				   "somaxconn: the program must accept() faster or pass a larger listen() "
				   "backlog", o->listen_full, o->listen_full == 1 ? "" : "s",
				   o->listen_full_port);
		} else {
			set_reason(row, "no listener with a full accept queue");
		}
	} else if (strcmp(name, "tcp_max_syn_backlog") == 0) {
		if (have && v > 0 && (int64_t)o->syn_recv_top * 4 >= v * 3) {
			recommend(row, TS_TUNE_CHANGE, "%" PRId64, v > INT_MAX / 2 ? INT_MAX : v * 2);
			set_reason(row, "%u SYN_RECEIVED on port %u, near the limit of %" PRId64 ": raise it "
				   "(and the program's listen() backlog); keep tcp_syncookies=1",
				   o->syn_recv_top, o->syn_recv_top_port, v);
		} else {
			set_reason(row, "at most %u SYN_RECEIVED on one port", o->syn_recv_top);
		}
	} else if (strcmp(name, "tcp_syncookies") == 0) {
		int64_t backlog = cur_int(rows, n, "net.ipv4.tcp_max_syn_backlog", 0);
		bool pressure = o->listen_full ||
				(backlog > 0 && (int64_t)o->syn_recv_top * 4 >= backlog * 3);

		if (have && v != 1) {
			recommend(row, pressure ? TS_TUNE_CHANGE : TS_TUNE_CONSIDER, "1");
			set_reason(row, "1 answers SYNs with cookies only when the SYN queue overflows%s",
				   pressure ? ", which is happening now" : "");
		} else {
			set_reason(row, "keep 1: cookies answer a SYN flood when the queue overflows");
		}
	} else if (strcmp(name, "tcp_abort_on_overflow") == 0) {
		if (have && v != 0 && o->listen_full) {
			recommend(row, TS_TUNE_CONSIDER, "0");
			set_reason(row, "listeners overflow and clients get resets: 0 lets them retry");
		} else {
			set_reason(row, "keep 0: 1 turns a short overload into resets");
		}
	} else if (strcmp(name, "tcp_syn_retries") == 0 && syn_sent) {
		set_reason(row, "%u SYN_SENT: peers or paths that do not answer; the program can "
			   "bound it itself (TCP_SYNCNT, a connect timeout)", syn_sent);
	} else if (strcmp(name, "tcp_synack_retries") == 0 && o->count[TS_STATE_SYN_RECEIVED]) {
		set_reason(row, "%u SYN_RECEIVED: clients that do not complete the handshake",
			   o->count[TS_STATE_SYN_RECEIVED]);
	} else {
		set_reason(row, "nothing observed that it would change");
	}
}

int ts_tune_advise(struct ts_sysctl *s, const struct ts_tune_observed *obs,
		   struct ts_tune_row **ret, size_t *ret_n)
{
	size_t n;
	const struct ts_sysctl_info *known = ts_sysctl_known(&n);
	struct ts_tune_row *rows = calloc(n, sizeof(*rows));

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r;

		rows[i].info = &known[i];
		r = ts_sysctl_read(s, known[i].name, rows[i].current, sizeof(rows[i].current));
		if (r < 0) {
			rows[i].current[0] = '\0';
			rows[i].read_errno = -r;
			rows[i].action = TS_TUNE_UNAVAILABLE;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].action == TS_TUNE_UNAVAILABLE) {
			set_reason(&rows[i], "%s", rows[i].read_errno == ENOENT
				   ? "not in this kernel or namespace" : strerror(rows[i].read_errno));
			continue;
		}
		advise_one(&rows[i], rows, n, obs);
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}
