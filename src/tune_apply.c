/* SPDX-License-Identifier: MIT */
/* tcpstate tune: --write, --apply and --revert, and the files they write. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "term_safe.h"
#include "tune.h"

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, then rename (or link, when an existing file must be kept). */
static int write_atomic(const char *path, const char *data, bool no_replace)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), tmp[PATH_MAX];
	size_t len = strlen(data), off = 0;
	int fd = -1, dfd, r = 0;

	if (!dcopy || !bcopy) {
		r = -ENOMEM;
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy)) >=
	    (int)sizeof(tmp)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0644) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		if (no_replace) {
			if (link(tmp, path) < 0)
				r = -errno;
			unlink(tmp);
		} else if (rename(tmp, path) < 0) {
			r = -errno;
		}
	}
	if (r < 0) {
		unlink(tmp);
		goto out;
	}
	dfd = open(dirname(strcpy(dcopy, path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(dcopy);
	free(bcopy);
	return r;
}

/* A growing text buffer; on allocation failure it stays NULL and reports -ENOMEM. */
struct text {
	char *s;
	size_t len;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *more;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	char *s = realloc(t->s, t->len + (size_t)n + 1);

	if (!s) {
		free(more);
		t->failed = true;
		return;
	}
	memcpy(s + t->len, more, (size_t)n + 1);
	t->s = s;
	t->len += (size_t)n;
	free(more);
}

/* For people (with the zone), or for a file name. */
static void timestamp(char *buf, size_t size, bool for_file)
{
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;

	if (localtime_r(&now, &tm))
		n = for_file ? strftime(buf, size, "%Y%m%dT%H%M%S", &tm)
			     : strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm);
	if (n == 0)
		snprintf(buf, size, "%lld", (long long)now);
}

/* ---- --write ---- */

int tune_write_dropin(const struct tune_args *ta, const struct tune_audit *a)
{
	struct text t = { 0 };
	char when[64], val[128], w1[PATH_MAX + 8], w2[PATH_MAX + 8];
	int r;

	timestamp(when, sizeof(when), false);
	text_add(&t, "# Written by tcpstate tune on %s for network namespace %s.\n", when, a->netns_name);
	if (ta->netns && a->netns_kind == TS_NETNS_NAMED)
		text_add(&t, "# These are per-namespace settings: apply inside it, e.g.\n"
			     "#   ip netns exec %s sysctl -p %s\n",
			     cli_shell_word(a->netns_name, w1, sizeof(w1)),
			     cli_shell_word(ta->write, w2, sizeof(w2)));
	else if (ta->netns && a->netns_reopen[0])
		text_add(&t, "# These are per-namespace settings: apply inside it, e.g.\n"
			     "#   nsenter --net=%s sysctl -p %s\n",
			     cli_shell_word(a->netns_reopen, w1, sizeof(w1)),
			     cli_shell_word(ta->write, w2, sizeof(w2)));
	else if (ta->netns)
		text_add(&t, "# These are per-namespace settings: apply them inside that namespace\n"
			     "# (no process is known in it now to name it by).\n");
	else
		text_add(&t, "# Apply with: sysctl -p %s (or copy it to /etc/sysctl.d/)\n", ta->write);
	text_add(&t, "# %s\n", TUNE_CLOSE_WAIT_NOTE);
	if (a->n_changes == 0)
		text_add(&t, "#\n# Nothing to change: no audited setting is behind what the sockets show.\n");
	for (size_t i = 0; i < a->n_changes; i++) {
		tune_sanitize(val, sizeof(val), a->changes[i].from);
		text_add(&t, "\n# %s (was %s)\n", a->changes[i].reason, val);
		tune_sanitize(val, sizeof(val), a->changes[i].to);
		text_add(&t, "%s = %s\n", a->changes[i].name, val);
	}
	for (size_t i = 0; i < a->n_host_skipped; i++)
		text_add(&t, "\n# Left out: %s is host-wide, not a setting of this namespace.\n",
			 a->host_skipped[i]);
	if (t.failed) {
		free(t.s);
		cli_error("out of memory");
		return -1;
	}
	r = write_atomic(ta->write, t.s, false);
	free(t.s);
	if (r < 0) {
		cli_error("cannot write %s: %s", ta->write, tune_errno_text(r));
		return -1;
	}
	if (!ta->json)
		printf("Wrote %zu setting%s to %s.\n", a->n_changes, a->n_changes == 1 ? "" : "s",
		       ta->write);
	return 0;
}

/* ---- --apply ---- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}

static int save_backup(const struct tune_audit *a, const char *path)
{
	struct text t = { 0 };
	char when[64], val[128];
	int r;

	timestamp(when, sizeof(when), false);
	text_add(&t, "# tcpstate tune backup: the values before --apply.\n"
		     "# Restore with: tcpstate tune --revert %s\n"
		     "# netns: %s\n# netns-inode: %llu\n# taken: %s\n",
		 path, a->netns_name, (unsigned long long)a->netns_inode, when);
	for (size_t i = 0; i < a->n_changes; i++) {
		tune_sanitize(val, sizeof(val), a->changes[i].from);
		text_add(&t, "%s = %s\n", a->changes[i].name, val);
	}
	if (t.failed) {
		free(t.s);
		return -ENOMEM;
	}
	r = write_atomic(path, t.s, true);
	free(t.s);
	return r;
}

int tune_apply(const struct tune_args *ta, struct ts_sysctl *s, const struct tune_audit *a,
	       json_object *applied, char *backup, size_t backup_size)
{
	char from[128], to[128], now[128];
	int r;

	backup[0] = '\0';
	if (a->n_changes == 0) {
		if (!ta->json)
			printf("Nothing to apply; no backup written.\n");
		return 0;
	}
	if (ta->save) {
		if ((size_t)snprintf(backup, backup_size, "%s", ta->save) >= backup_size) {
			cli_error("--save path is too long: %s", ta->save);
			return -1;
		}
	} else {
		char name[64], when[32];

		snprintf(name, sizeof(name), "%s", a->netns_name);
		sanitize(name);
		timestamp(when, sizeof(when), true);
		if (mkdir(TUNE_BACKUP_DIR, 0700) < 0 && errno != EEXIST) {
			cli_error("cannot create %s: %s", TUNE_BACKUP_DIR, strerror(errno));
			return -1;
		}
		snprintf(backup, backup_size, TUNE_BACKUP_DIR "/tune-backup-%s-%s.conf", name, when);
	}
	r = save_backup(a, backup);
	if (r < 0) {
		if (r == -EEXIST)
			cli_error("%s exists: not overwriting a backup (pass another --save FILE)", backup);
		else
			cli_error("cannot save the old values to %s: %s; nothing was changed", backup,
				  tune_errno_text(r));
		backup[0] = '\0';
		return -1;
	}
	if (!ta->json) {
		printf("Saved the old values to %s (undo: tcpstate tune --revert %s)\n", backup, backup);
		printf("Applying in network namespace %s:\n", TERM_SAFE(a->netns_name));
	}
	for (size_t i = 0; i < a->n_changes; i++) {
		const struct tune_change *c = &a->changes[i];
		json_object *e;

		tune_sanitize(from, sizeof(from), c->from);
		tune_sanitize(to, sizeof(to), c->to);
		r = ts_sysctl_write(s, c->name, c->to);
		if (r < 0) {
			cli_error("cannot set %s to %s: %s; %zu of %zu applied (undo: tcpstate tune "
				  "--revert %s)", c->name, to, tune_errno_text(r), i, a->n_changes, backup);
			return -1;
		}
		if (!ta->json)
			printf("  %s: %s -> %s\n", c->name, from, to);
		if (ts_sysctl_read(s, c->name, now, sizeof(now)) == 0 && !ts_sysctl_value_equal(now, c->to))
			cli_warn("%s reads back as '%s', not '%s'", c->name, now, c->to);
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(c->name));
		json_object_object_add(e, "from", json_object_new_string(c->from));
		json_object_object_add(e, "to", json_object_new_string(c->to));
		json_object_array_add(applied, e);
	}
	return 0;
}

/* ---- --revert ---- */

struct backup_header {
	char netns[64];
	uint64_t inode;
	bool has_inode;
};

/* The header of an open backup; the offset is left at the start again. */
static int read_backup_header(int fd, struct backup_header *h)
{
	char *line = NULL;
	size_t cap = 0;
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3), r = 0;
	FILE *f;

	if (dfd < 0)
		return -errno;
	f = fdopen(dfd, "r");
	if (!f) {
		r = -errno;
		close(dfd);
		return r;
	}
	memset(h, 0, sizeof(*h));
	while (getline(&line, &cap, f) > 0) {
		unsigned long long ino;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# netns: ", 9) == 0)
			snprintf(h->netns, sizeof(h->netns), "%s", line + 9);
		else if (sscanf(line, "# netns-inode: %llu", &ino) == 1) {
			h->inode = ino;
			h->has_inode = true;
		}
	}
	if (ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	return r;
}

static uint64_t own_netns_inode(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static uint64_t path_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The backup, checked to be one: header and settings. file is its name, sanitized. 0, or -1 (reported). */
static int revert_read(const struct tune_args *ta, const char *file, struct backup_header *h,
		       struct ts_sysctl_conf **ret_conf)
{
	struct ts_sysctl_conf *conf = NULL;
	struct stat st;
	int fd, r;

	fd = ts_sysctl_conf_open(ta->revert); /* never blocks on a FIFO */
	if (fd == -EISDIR || fd == -EBADFD) {
		cli_error("%s is not a regular file: not a tcpstate backup", file);
		return -1;
	}
	if (fd < 0) {
		cli_error("cannot read %s: %s", file, tune_errno_text(fd));
		return -1;
	}
	r = -1;
	if (fstat(fd, &st) == 0 && st.st_size > TUNE_BACKUP_SIZE_MAX) {
		cli_error("%s is larger than any tcpstate backup (%lld bytes): not read", file,
			  (long long)st.st_size);
		goto out;
	}
	r = read_backup_header(fd, h);
	if (r == 0)
		r = ts_sysctl_conf_new(&conf);
	if (r == 0)
		r = ts_sysctl_conf_parse_fd(conf, fd, ta->revert);
	if (r < 0) {
		cli_error("cannot read %s: %s", file, tune_errno_text(r));
		goto out;
	}
	r = -1;
	if (conf->n_bad) {
		cli_error("%s:%u: %s: not a tcpstate backup", file, conf->bad[0].line, conf->bad[0].why);
		goto out;
	}
	if (conf->n_entries == 0) {
		cli_error("%s holds no setting: not a tcpstate backup", file);
		goto out;
	}
	*ret_conf = conf;
	conf = NULL;
	r = 0;
out:
	ts_sysctl_conf_free(conf);
	close(fd);
	return r;
}

/*
 * Where to restore without --netns: the namespace the backup records, if it
 * is ours or still found under its name. *ret_target: NULL for our own, else
 * a path in pathbuf. 0, or -1 (reported).
 */
static int revert_target(const struct backup_header *h, const char *file, const char *hns,
			 char *pathbuf, size_t size, const char **ret_target)
{
	if (!h->has_inode) {
		cli_error("%s records no namespace: pass --netns", file);
		return -1;
	}
	if (h->inode == own_netns_inode()) {
		*ret_target = NULL;
		return 0;
	}
	if (strcmp(h->netns, "init") == 0)
		snprintf(pathbuf, size, "/proc/1/ns/net");
	else if (h->netns[0] && !strchr(h->netns, '/') && strncmp(h->netns, "net:[", 5) != 0)
		snprintf(pathbuf, size, "/run/netns/%s", h->netns);
	else
		pathbuf[0] = '\0';
	if (!pathbuf[0] || path_inode(pathbuf) != h->inode) {
		cli_error("the namespace of this backup (%s, net:[%llu]) is gone or renamed: "
			  "pass --netns", hns, (unsigned long long)h->inode);
		return -1;
	}
	*ret_target = pathbuf;
	return 0;
}

/*
 * Check everything before changing anything: only the settings tune
 * manages (what --apply saves), never a host-wide one into another
 * namespace or under --netns, only values the kernel would take.
 * own: the target is our own namespace. 0, or -1 (reported).
 */
static int revert_check(const struct tune_args *ta, const struct ts_sysctl_conf *conf,
			const char *file, bool own)
{
	char key[256], val[256];

	for (size_t i = 0; i < conf->n_entries; i++) {
		const struct ts_sysctl_conf_entry *e = &conf->entries[i];
		const struct ts_sysctl_info *info = ts_sysctl_lookup(e->key);
		const char *why = NULL;

		tune_sanitize(key, sizeof(key), e->key);
		tune_sanitize(val, sizeof(val), e->value);
		if (!info) {
			cli_error("%s:%u: %s is not a setting tcpstate tune manages: nothing restored",
				  file, e->line, key);
			return -1;
		}
		if (!info->per_netns && (ta->netns || !own)) {
			cli_error("%s:%u: %s is host-wide: not restored %s; nothing restored", file,
				  e->line, key, ta->netns ? "with --netns (restore it without --netns, "
				  "from the host)" : "into another namespace");
			return -1;
		}
		if (ts_sysctl_value_check(e->key, e->value, &why) < 0) {
			cli_error("%s:%u: the kernel refuses %s = %s (%s): nothing restored", file,
				  e->line, key, val, why);
			return -1;
		}
	}
	return 0;
}

/* One setting: "  NAME: OLD -> NEW" or "(unchanged)", or an object in arr (JSON). */
static void revert_show(const struct tune_args *ta, const struct ts_sysctl_conf_entry *e,
			const char *cur, bool changed, json_object *arr)
{
	char shown[TS_SYSCTL_VALUE_MAX], val[256];
	json_object *o;

	tune_sanitize(shown, sizeof(shown), cur);
	if (!ta->json) {
		tune_sanitize(val, sizeof(val), e->value);
		if (changed)
			printf("  %s: %s -> %s\n", e->key, shown, val);
		else
			printf("  %s: %s (unchanged)\n", e->key, TERM_SAFE(shown));
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(e->key));
	json_object_object_add(o, "from", json_object_new_string(cur));
	json_object_object_add(o, "to", json_object_new_string(e->value));
	json_object_object_add(o, "changed", json_object_new_boolean(changed));
	json_object_array_add(arr, o);
}

/* Writes the values that differ, showing each: EXIT_OK, or EXIT_ERROR (reported). */
static int revert_restore(const struct tune_args *ta, struct ts_sysctl *s,
			  const struct ts_sysctl_conf *conf, const char *file)
{
	char cur[TS_SYSCTL_VALUE_MAX], val[256];
	json_object *root = NULL, *arr = NULL;
	int r, rc = EXIT_ERROR;

	if (ta->json) {
		root = json_object_new_object();
		arr = json_object_new_array();
	} else {
		printf("Restoring %zu setting%s from %s:\n", conf->n_entries,
		       conf->n_entries == 1 ? "" : "s", file);
	}
	for (size_t i = 0; i < conf->n_entries; i++) {
		const struct ts_sysctl_conf_entry *e = &conf->entries[i];
		bool changed;

		r = ts_sysctl_read(s, e->key, cur, sizeof(cur));
		if (r < 0) {
			cli_error("cannot read %s: %s", e->key, tune_errno_text(r));
			goto out;
		}
		changed = !ts_sysctl_value_equal(cur, e->value);
		if (changed) {
			r = ts_sysctl_write(s, e->key, e->value);
			if (r < 0) {
				tune_sanitize(val, sizeof(val), e->value);
				cli_error("cannot set %s to %s: %s", e->key, val, tune_errno_text(r));
				goto out;
			}
		}
		revert_show(ta, e, cur, changed, arr);
	}
	if (root) {
		json_object_object_add(root, "reverted", arr);
		arr = NULL;
		json_object_object_add(root, "file", json_object_new_string(ta->revert));
		term_safe_json_puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN), stdout);
	}
	rc = EXIT_OK;
out:
	json_object_put(arr);
	json_object_put(root);
	return rc;
}

int tune_revert(const struct tune_args *ta)
{
	struct ts_sysctl_conf *conf = NULL;
	struct ts_sysctl *s = NULL;
	struct backup_header h;
	const char *target = ta->netns;
	char pathbuf[PATH_MAX], file[PATH_MAX], hns[sizeof(h.netns)];
	bool own;
	int rc = EXIT_ERROR;

	/* Everything from the file (and its name) is shown sanitized. */
	tune_sanitize(file, sizeof(file), ta->revert);
	if (revert_read(ta, file, &h, &conf) < 0)
		return EXIT_ERROR;
	tune_sanitize(hns, sizeof(hns), h.netns);
	if (!target && revert_target(&h, file, hns, pathbuf, sizeof(pathbuf), &target) < 0)
		goto out;
	if (tune_open_sysctl(target, &s) < 0)
		goto out;
	own = !target || ts_sysctl_netns_inode(s) == own_netns_inode();
	if (ta->netns && h.has_inode && ts_sysctl_netns_inode(s) != h.inode &&
	    !(own && h.inode == own_netns_inode()))
		cli_warn("restoring into %s; the backup was taken in %s (net:[%llu])", ta->netns,
			 hns, (unsigned long long)h.inode);
	if (revert_check(ta, conf, file, own) == 0)
		rc = revert_restore(ta, s, conf, file);
out:
	ts_sysctl_free(s);
	ts_sysctl_conf_free(conf);
	return rc;
}
