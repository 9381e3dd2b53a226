/* SPDX-License-Identifier: MIT */
/*
 * sysctl configuration files (systemd-sysctl / `sysctl --system` order)
 * and the values the kernel accepts. Their lint is in sysctl_lint.c, the
 * tuning advice of `tcpstate tune` in tune_advice.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "array.h"
#include "sysctl_conf.h"
#include "tcpstate/util.h"

#define LINE_TEXT_MAX 200
#define CONF_FILES_MAX 4096
#define CONF_ENTRIES_MAX 100000

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
	if (array_grow((void **)&c->bad, &p->cap_bad, c->n_bad + 1, sizeof(*c->bad)) < 0)
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
	if (array_grow((void **)&c->entries, &p->cap_entries, c->n_entries + 1, sizeof(*c->entries)) < 0)
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

	if (array_grow((void **)&c->files, &p->cap_files, c->n_files + 1, sizeof(*c->files)) < 0)
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
			r = array_grow((void **)&files, &cap, n + 1, sizeof(*files));
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

int sysctl_parse_i64(const char *s, int64_t *ret)
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
int sysctl_parse_fields(const char *value, int64_t *v, size_t max, size_t *ret_n)
{
	char buf[128], *save = NULL, *tok;
	size_t n = 0;

	if (strlen(value) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == max || sysctl_parse_i64(tok, &v[n]) < 0)
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
		if (sysctl_parse_fields(value, v, r->kind == R_PORT_RANGE ? 2 : 1, &n) < 0 || n == 0 ||
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
