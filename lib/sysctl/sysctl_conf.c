/* SPDX-License-Identifier: MIT */
/*
 * sysctl configuration files (systemd-sysctl / `sysctl --system` order)
 * and the values the kernel accepts. Their lint is in sysctl_lint.c, the
 * tuning advice of `tcpstate tune` in tune_advice.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/array.h"
#include "sysctl/sysctl_internal.h"
#include "tcpstate/util.h"

#define LINE_TEXT_MAX 200
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
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

static int add_bad(struct ts_sysctl_conf *c, const char *file, size_t file_idx, unsigned line,
		   const char *text, const char *why)
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
	b->file_idx = file_idx;
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
		return add_bad(c, file, c->n_files - 1, line, key, "too many settings; the rest is ignored");
	if (array_grow((void **)&c->entries, &p->cap_entries, c->n_entries + 1, sizeof(*c->entries)) < 0)
		return -ENOMEM;
	e = &c->entries[c->n_entries];
	memset(e, 0, sizeof(*e));
	e->key = strdup(key);
	e->value = strdup(value);
	e->file = strdup(file);
	e->file_idx = c->n_files - 1; /* parse_fd() added it first */
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
		return add_bad(c, path, c->n_files - 1, lineno, s, "not an assignment (key = value)");
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
		return add_bad(c, path, c->n_files - 1, lineno, s, "no key before '='");
	}
	if (strlen(value) >= TS_SYSCTL_VALUE_MAX) {
		free(*comment);
		*comment = NULL;
		return add_bad(c, path, c->n_files - 1, lineno, key, "value too long");
	}
	for (const char *q = key; *q; q++)
		if (isspace((unsigned char)*q)) {
			free(*comment);
			*comment = NULL;
			*eq = '=';
			return add_bad(c, path, c->n_files - 1, lineno, s, "space inside the key");
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

int ts_sysctl_conf_parse_fd(struct ts_sysctl_conf *c, int fd, const char *path)
{
	char *line = NULL, *comment = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int dfd, r = 0;

	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	f = fdopen(dfd, "r");
	if (!f) {
		r = -errno;
		close(dfd);
		return r;
	}
	r = add_file_name(c, path);
	while (r == 0) {
		ssize_t n = getline(&line, &cap, f);

		if (n < 0)
			break;
		lineno++;
		if ((size_t)n != strlen(line)) {
			r = add_bad(c, path, c->n_files - 1, lineno, "", "NUL byte in the line");
			continue;
		}
		r = parse_line(c, path, lineno, line, &comment);
	}
	if (r == 0 && ferror(f))
		r = add_bad(c, path, c->n_files - 1, lineno + 1, "",
			    "read error; the rest of the file is ignored");
	free(comment);
	free(line);
	fclose(f);
	return r;
}

/* pathfd (O_PATH) reopened for reading; it must be a regular file. */
static int reopen_regular(int pathfd)
{
	char proc[64];
	struct stat st;
	int fd;

	if (fstat(pathfd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	/* Through the fd, not the path again: the same inode, no second lookup. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADFD;
	}
	return fd;
}

int ts_sysctl_conf_open(const char *path)
{
	int pfd = open(path, O_PATH | O_CLOEXEC), fd;

	if (pfd < 0)
		return -errno;
	fd = reopen_regular(pfd);
	close(pfd);
	return fd;
}

int ts_sysctl_conf_parse_file(struct ts_sysctl_conf *c, const char *path)
{
	int fd = ts_sysctl_conf_open(path), r;

	if (fd < 0)
		return fd;
	r = ts_sysctl_conf_parse_fd(c, fd, path);
	close(fd);
	return r;
}

/* ---- the directories ---- */

struct conf_root {
	int fd;             /* O_PATH of the root directory */
	bool slash;         /* the root is "/": plain openat() will do without openat2 */
	const char *prefix; /* "" for "/", else the root as given, for the names shown */
};

/*
 * rel (relative to the root, no leading '/') opened with every symlink
 * resolved inside the root, as systemd-sysctl --root and chroot would.
 */
static int open_in_root(const struct conf_root *root, const char *rel, int flags)
{
	struct open_how how = {
		/* openat2 refuses O_PATH with any flag it ignores (O_NOCTTY) */
		.flags = (uint64_t)(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	for (int tries = 0; tries < 8; tries++) {
		fd = syscall(SYS_openat2, root->fd, rel, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN) /* EAGAIN: a rename raced the lookup */
			break;
	}
	if (fd < 0 && errno == ENOSYS) {
		if (!root->slash)
			return -EOPNOTSUPP;
		fd = openat(root->fd, rel, flags | O_CLOEXEC | O_NOCTTY);
	}
	return fd < 0 ? -errno : (int)fd;
}

struct conf_file {
	char *name;
	size_t dir;
};

/* By name, then by directory: the earliest directory comes first and masks the rest. */
static int conf_file_cmp(const void *a, const void *b)
{
	const struct conf_file *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : x->dir < y->dir ? -1 : x->dir > y->dir;
}

/*
 * The TS_SYSCTL_CONF_FILES_MAX first files by name, whatever order readdir
 * gives: a max-heap of that size, so memory stays bounded however many
 * files a directory holds.
 */
struct conf_heap {
	struct conf_file *v;
	size_t n, cap;
	size_t dropped;
	struct conf_file first_dropped; /* the least of those left out */
};

static void heap_swap(struct conf_file *a, struct conf_file *b)
{
	struct conf_file t = *a;

	*a = *b;
	*b = t;
}

static void heap_sift_down(struct conf_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && conf_file_cmp(&h->v[l], &h->v[m]) > 0)
			m = l;
		if (r < h->n && conf_file_cmp(&h->v[r], &h->v[m]) > 0)
			m = r;
		if (m == i)
			return;
		heap_swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

static void heap_note_dropped(struct conf_heap *h, struct conf_file *f)
{
	h->dropped++;
	if (!h->first_dropped.name || conf_file_cmp(f, &h->first_dropped) < 0) {
		free(h->first_dropped.name);
		h->first_dropped = *f;
	} else {
		free(f->name);
	}
	f->name = NULL;
}

/* Takes f->name. */
static int heap_push(struct conf_heap *h, struct conf_file *f)
{
	if (h->n < TS_SYSCTL_CONF_FILES_MAX) {
		size_t i = h->n;

		if (array_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)) < 0) {
			free(f->name);
			return -ENOMEM;
		}
		h->v[h->n++] = *f;
		while (i > 0 && conf_file_cmp(&h->v[(i - 1) / 2], &h->v[i]) < 0) {
			heap_swap(&h->v[(i - 1) / 2], &h->v[i]);
			i = (i - 1) / 2;
		}
		return 0;
	}
	if (conf_file_cmp(f, &h->v[0]) >= 0) {
		heap_note_dropped(h, f);
		return 0;
	}
	heap_swap(f, &h->v[0]);
	heap_note_dropped(h, f);
	heap_sift_down(h, 0);
	return 0;
}

static bool ends_with_conf(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".conf") == 0 && name[0] != '.';
}

static const char *const conf_dirs[] = {
	"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d",
};

static int list_dir(const struct conf_root *root, size_t d, struct conf_heap *h)
{
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;

	fd = open_in_root(root, conf_dirs[d], O_RDONLY | O_DIRECTORY);
	if (fd == -EOPNOTSUPP || fd == -ENOMEM)
		return fd;
	if (fd < 0)
		return 0; /* missing or unreadable: as systemd-sysctl */
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(dir))) {
		struct conf_file f = { .dir = d };

		if (!ends_with_conf(de->d_name))
			continue;
		f.name = strdup(de->d_name);
		r = f.name ? heap_push(h, &f) : -ENOMEM;
	}
	closedir(dir);
	return r;
}

/* A symlink whose target is /dev/null masks its name, wherever the root is. */
static bool is_dev_null_link(const struct conf_root *root, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char dir[PATH_MAX], target[16];
	ssize_t n = -1;
	int dfd;

	if (!slash || (size_t)(slash - rel) >= sizeof(dir))
		return false;
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	dfd = open_in_root(root, dir, O_PATH | O_DIRECTORY);
	if (dfd < 0)
		return false;
	n = readlinkat(dfd, slash + 1, target, sizeof(target) - 1);
	close(dfd);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "/dev/null") == 0;
}

struct seen_inode {
	dev_t dev;
	ino_t ino;
};

/*
 * One file of the configuration: masked, refused (a bad line), or parsed.
 * seen: the inodes read so far (room for one more).
 */
static int load_file(struct ts_sysctl_conf *c, const struct conf_root *root, const char *rel,
		     bool must_exist, struct seen_inode *seen, size_t *n_seen)
{
	char path[PATH_MAX];
	struct stat st;
	int pfd, fd, r;

	if (snprintf(path, sizeof(path), "%s/%s", root->prefix, rel) >= (int)sizeof(path))
		return add_bad(c, path, SIZE_MAX, 0, "", "path too long; not read");
	if (is_dev_null_link(root, rel))
		return 0;
	pfd = open_in_root(root, rel, O_PATH);
	if (pfd == -ENOMEM || pfd == -EOPNOTSUPP)
		return pfd;
	if (pfd < 0) {
		if (!must_exist && pfd == -ENOENT)
			return 0;
		/* e.g. a dangling link, or one that leaves the root through /proc */
		if (pfd != -ENOENT)
			return add_bad(c, path, SIZE_MAX, 0, "", "cannot be read");
		return add_bad(c, path, SIZE_MAX, 0, "",
			       root->slash ? "cannot be read (dangling link?)"
					   : "cannot be read: a dangling link (links resolve inside the "
					     "configuration root, as for systemd-sysctl --root)");
	}
	if (fstat(pfd, &st) < 0) {
		r = add_bad(c, path, SIZE_MAX, 0, "", "cannot be read");
		goto out_close_pfd;
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		r = 0; /* masked, as systemd does with /dev/null */
		goto out_close_pfd;
	}
	if (!S_ISREG(st.st_mode)) {
		r = add_bad(c, path, SIZE_MAX, 0, "",
			    S_ISDIR(st.st_mode) ? "a directory, not a file; not read"
			    : S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file; not read"
						   : "not a regular file; not read");
		goto out_close_pfd;
	}
	for (size_t k = 0; k < *n_seen; k++)
		if (seen[k].dev == st.st_dev && seen[k].ino == st.st_ino) {
			r = 0; /* e.g. 99-sysctl.conf -> ../sysctl.conf */
			goto out_close_pfd;
		}
	seen[*n_seen].dev = st.st_dev;
	seen[*n_seen].ino = st.st_ino;
	(*n_seen)++;
	fd = reopen_regular(pfd);
	if (fd < 0) {
		r = fd == -ENOMEM ? fd : add_bad(c, path, SIZE_MAX, 0, "", "cannot be read");
		goto out_close_pfd;
	}
	r = ts_sysctl_conf_parse_fd(c, fd, path);
	close(fd);
	if (r < 0 && r != -ENOMEM)
		r = add_bad(c, path, SIZE_MAX, 0, "", "cannot be read");
out_close_pfd:
	close(pfd);
	return r;
}

int ts_sysctl_conf_load(const char *root_dir, struct ts_sysctl_conf **ret)
{
	struct conf_root root = { .fd = -1 };
	struct conf_heap h = { 0 };
	struct seen_inode *seen = NULL;
	struct ts_sysctl_conf *c;
	size_t n_seen = 0;
	int r;

	root.slash = !root_dir || strcmp(root_dir, "/") == 0;
	root.prefix = root.slash ? "" : root_dir;
	root.fd = open(root.slash ? "/" : root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root.fd < 0)
		return -errno;
	r = ts_sysctl_conf_new(&c);
	if (r < 0)
		goto out_close_root;

	for (size_t d = 0; d < sizeof(conf_dirs) / sizeof(conf_dirs[0]) && r == 0; d++)
		r = list_dir(&root, d, &h);
	if (r < 0)
		goto out;
	if (h.n)
		qsort(h.v, h.n, sizeof(*h.v), conf_file_cmp);

	seen = calloc(h.n + 1, sizeof(*seen));
	if (!seen) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < h.n && r == 0; i++) {
		char rel[PATH_MAX];

		if (i > 0 && strcmp(h.v[i - 1].name, h.v[i].name) == 0)
			continue; /* masked by the same name in an earlier directory */
		snprintf(rel, sizeof(rel), "%s/%s", conf_dirs[h.v[i].dir], h.v[i].name);
		r = load_file(c, &root, rel, true, seen, &n_seen);
	}
	if (r == 0 && h.dropped) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s/%s", root.prefix, conf_dirs[h.first_dropped.dir],
			 h.first_dropped.name);
		r = add_bad(c, path, SIZE_MAX, 0, "", "not read, nor any file after it by name: "
			    "tcpstate reads the first " STRINGIFY(TS_SYSCTL_CONF_FILES_MAX)
			    " sysctl.d files");
	}
	if (r == 0)
		r = load_file(c, &root, "etc/sysctl.conf", false, seen, &n_seen);
out:
	for (size_t i = 0; i < h.n; i++)
		free(h.v[i].name);
	free(h.v);
	free(h.first_dropped.name);
	free(seen);
	if (r < 0) {
		ts_sysctl_conf_free(c);
		goto out_close_root;
	}
	*ret = c;
out_close_root:
	close(root.fd);
	return r;
}

/* ---- values the kernel accepts ---- */

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
	const struct ts_sysctl_info *info = ts_sysctl_find(name);
	bool range;
	int64_t v[3];
	size_t n;

	if (!info || info->shape == TS_SYSCTL_SHAPE_UNCHECKED)
		return 0;
	range = info->shape == TS_SYSCTL_SHAPE_RANGE;
	if (sysctl_parse_fields(value, v, range ? 2 : 1, &n) < 0 || n == 0 || (range && n != 2)) {
		*ret_why = info->range_text;
		return -EINVAL;
	}
	if (range ? v[0] < info->min || v[1] > info->max || v[0] > v[1]
		  : v[0] < info->min || v[0] > info->max) {
		*ret_why = info->range_text;
		return -ERANGE;
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
