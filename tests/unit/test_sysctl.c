/* SPDX-License-Identifier: MIT */
/* ts_sysctl_* on fake /proc/sys trees, the known table, sysctl.d parsing, lint and advice. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sysctl/sysctl_internal.h"
#include "tcpstate/sysctl.h"

/* ---- a temporary tree ---- */

static char tmp_root[PATH_MAX / 2];

static void tree_path(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%s/%s", tmp_root, rel);
}

/* Creates rel (and its parent directories) holding content. */
static void tree_file(const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	tree_path(path, sizeof(path), rel);
	for (char *p = path + strlen(tmp_root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	f = fopen(path, "we");
	if (!f)
		fail_msg("create %s: %s", path, strerror(errno));
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void tree_symlink(const char *target, const char *rel)
{
	char path[PATH_MAX];

	tree_path(path, sizeof(path), rel);
	if (symlink(target, path) < 0)
		fail_msg("symlink %s: %s", path, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static int setup_tree(void **state)
{
	(void)state;
	snprintf(tmp_root, sizeof(tmp_root), "%s/tstune-unit-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_root))
		return -1;
	return 0;
}

static int teardown_tree(void **state)
{
	(void)state;
	return nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fake /proc/sys with the defaults of a 6.x kernel. */
static void fake_proc_sys(void)
{
	tree_file("sys/net/ipv4/tcp_fin_timeout", "60\n");
	tree_file("sys/net/ipv4/tcp_keepalive_time", "7200\n");
	tree_file("sys/net/ipv4/tcp_retries2", "15\n");
	tree_file("sys/net/ipv4/tcp_orphan_retries", "0\n");
	tree_file("sys/net/ipv4/tcp_max_tw_buckets", "1000\n");
	tree_file("sys/net/ipv4/tcp_tw_reuse", "2\n");
	tree_file("sys/net/ipv4/ip_local_port_range", "32768\t60999\n");
	tree_file("sys/net/ipv4/tcp_max_syn_backlog", "128\n");
	tree_file("sys/net/ipv4/tcp_syncookies", "1\n");
	tree_file("sys/net/ipv4/tcp_syn_retries", "6\n");
	tree_file("sys/net/ipv4/conf/eth0.100/rp_filter", "1\n");
	tree_file("sys/net/core/somaxconn", "4096\n");
	tree_file("sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait", "60\n");
	tree_file("sys/fs/nr_open", "1048576\n");
	tree_file("sys/kernel/weird", "-12\n");
}

static struct ts_sysctl *open_fake(void)
{
	char root[PATH_MAX];
	struct ts_sysctl *s = NULL;

	tree_path(root, sizeof(root), "sys");
	assert_int_equal(ts_sysctl_open(NULL, root, &s), 0);
	assert_non_null(s);
	return s;
}

/* ---- reading and writing ---- */

static void test_read(void **state)
{
	struct ts_sysctl *s;
	char buf[64], small[4];
	int64_t v = 12345;

	(void)state;
	fake_proc_sys();
	s = open_fake();
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.tcp_fin_timeout", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "60");
	assert_int_equal(ts_sysctl_read_int(s, "net.ipv4.tcp_fin_timeout", &v), 0);
	assert_int_equal(v, 60);
	assert_int_equal(ts_sysctl_read_int(s, "kernel.weird", &v), 0);
	assert_int_equal(v, -12);

	/* multi-field values keep the kernel's tab */
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.ip_local_port_range", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "32768\t60999");
	v = 7;
	assert_int_equal(ts_sysctl_read_int(s, "net.ipv4.ip_local_port_range", &v), -EBADMSG);
	assert_int_equal(v, 7); /* untouched on failure */

	assert_int_equal(ts_sysctl_read(s, "net.ipv4.tcp_no_such_thing", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(ts_sysctl_read_int(s, "net.ipv4.tcp_no_such_thing", &v), -ENOENT);
	assert_int_equal(ts_sysctl_read(s, "net.core.somaxconn", small, sizeof(small)), -ENOBUFS);
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.conf.eth0/100.rp_filter", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sysctl_read_rel(s, "net/ipv4/conf/eth0.100/rp_filter", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	ts_sysctl_free(s);
	assert_null(ts_sysctl_free(NULL));
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = {
		"", ".", "net", /* "net" is a directory: fine as a name, checked below */
		"net..ipv4", ".net.ipv4", "net.ipv4.", "net/ipv4/tcp_fin_timeout", "../etc/passwd",
		"net.IPv4.tcp_fin_timeout", "net.ipv4.tcp fin", "net.ipv4.*", "net.ipv4.\n",
	};
	struct ts_sysctl *s;
	char buf[64];

	(void)state;
	fake_proc_sys();
	s = open_fake();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = ts_sysctl_read(s, bad[i], buf, sizeof(buf));

		if (strcmp(bad[i], "net") == 0) {
			assert_int_equal(r, -EISDIR);
			continue;
		}
		if (r != -EINVAL)
			fail_msg("'%s' gave %d, not -EINVAL", bad[i], r);
		assert_int_equal(ts_sysctl_write(s, bad[i], "1"), -EINVAL);
	}
	assert_true(ts_sysctl_name_valid("fs.file-max"));
	assert_true(ts_sysctl_name_valid("net.ipv4.tcp_fin_timeout"));
	assert_false(sysctl_relpath_valid("net/../../etc"));
	assert_false(sysctl_relpath_valid("/net/ipv4"));
	assert_false(sysctl_relpath_valid("net//ipv4"));
	assert_false(sysctl_relpath_valid("net/./ipv4"));
	ts_sysctl_free(s);
}

static void test_write(void **state)
{
	struct ts_sysctl *s;
	char buf[64];

	(void)state;
	fake_proc_sys();
	s = open_fake();
	assert_int_equal(ts_sysctl_write(s, "net.ipv4.tcp_fin_timeout", "5"), 0);
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.tcp_fin_timeout", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "5"); /* shorter than "60": truncated, not overlaid */
	assert_int_equal(ts_sysctl_write(s, "net.ipv4.ip_local_port_range", "10000 65535"), 0);
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.ip_local_port_range", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10000 65535");
	assert_int_equal(ts_sysctl_write(s, "net.ipv4.tcp_fin_timeout", "1\n2"), -EINVAL);
	/* no such setting: never created */
	assert_int_equal(ts_sysctl_write(s, "net.ipv4.tcp_tw_recycle", "1"), -ENOENT);
	ts_sysctl_free(s);
}

static void test_unreadable(void **state)
{
	struct ts_sysctl *s;
	char path[PATH_MAX], buf[64];

	(void)state;
	if (geteuid() == 0)
		skip(); /* root reads mode 000 files of a plain directory */
	fake_proc_sys();
	tree_path(path, sizeof(path), "sys/net/ipv4/tcp_fin_timeout");
	assert_int_equal(chmod(path, 0), 0);
	s = open_fake();
	assert_int_equal(ts_sysctl_read(s, "net.ipv4.tcp_fin_timeout", buf, sizeof(buf)), -EACCES);
	ts_sysctl_free(s);
}

static void test_open_errors(void **state)
{
	struct ts_sysctl *s = (struct ts_sysctl *)0x1;

	(void)state;
	assert_int_equal(ts_sysctl_open("x", "/tmp", &s), -EINVAL);
	assert_int_equal(ts_sysctl_open("tstune-no-such-namespace-here", NULL, &s), -ENOENT);
	assert_ptr_equal(s, (struct ts_sysctl *)0x1); /* untouched on failure */
}

/* ---- the known table ---- */

static void test_known_table(void **state)
{
	size_t n = 0;
	const struct ts_sysctl_info *k = ts_sysctl_known(&n);
	const ts_state_mask_t real = TS_STATE_MASK_ALL & ~TS_STATE_BIT(TS_STATE_UNKNOWN);
	static const char *const required[] = {
		"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_keepalive_intvl",
		"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_retries1", "net.ipv4.tcp_retries2",
		"net.ipv4.tcp_orphan_retries", "net.ipv4.tcp_max_orphans", "net.ipv4.tcp_max_tw_buckets",
		"net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syn_retries",
		"net.ipv4.tcp_synack_retries", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
		"net.core.somaxconn", "net.ipv4.tcp_abort_on_overflow", "fs.nr_open", "fs.file-max",
	};

	(void)state;
	assert_true(n >= sizeof(required) / sizeof(required[0]));
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;

		assert_true(ts_sysctl_name_valid(k[i].name));
		assert_non_null(k[i].what);
		assert_true(strlen(k[i].what) > 10);
		assert_int_equal(k[i].governs & ~real, 0);
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(k[i].name, k[j].name) == 0)
				fail_msg("%s twice", k[i].name);
		assert_ptr_equal(ts_sysctl_lookup(k[i].name), &k[i]);
		if (strncmp(k[i].name, "fs.", 3) == 0)
			assert_false(k[i].per_netns);
		if (k[i].kernel_default)
			if (ts_sysctl_value_check(k[i].name, k[i].kernel_default, &why) < 0)
				fail_msg("default of %s rejected: %s", k[i].name, why);
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		assert_non_null(ts_sysctl_lookup(required[i]));
	assert_false(ts_sysctl_lookup("net.ipv4.tcp_max_orphans")->per_netns);
	assert_true(ts_sysctl_lookup("net.core.somaxconn")->per_netns);
	assert_string_equal(ts_sysctl_lookup("net.ipv4.tcp_fin_timeout")->kernel_default, "60");
	assert_string_equal(ts_sysctl_lookup("net.ipv4.ip_local_port_range")->kernel_default, "32768\t60999");
	assert_string_equal(ts_sysctl_lookup("net.ipv4.tcp_tw_reuse")->kernel_default, "2");
	assert_null(ts_sysctl_lookup("net.ipv4.tcp_max_tw_buckets")->kernel_default);
	assert_true(ts_sysctl_lookup("net.ipv4.tcp_fin_timeout")->governs & TS_STATE_BIT(TS_STATE_FIN_WAIT_2));
	assert_false(ts_sysctl_lookup("net.ipv4.tcp_fin_timeout")->governs & TS_STATE_BIT(TS_STATE_CLOSE_WAIT));
	assert_null(ts_sysctl_lookup("net.ipv4.tcp_tw_recycle"));
	assert_null(ts_sysctl_lookup(NULL));
}

static void test_value_check(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(ts_sysctl_value_check("net.ipv4.tcp_tw_reuse", "1", &why), 0);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.tcp_tw_reuse", "3", &why), -ERANGE);
	assert_non_null(why);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.tcp_tw_reuse", "yes", &why), -EINVAL);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.ip_local_port_range", "1024 65535", &why), 0);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.ip_local_port_range", "40000\t30000", &why), -ERANGE);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.ip_local_port_range", "1024 65536", &why), -ERANGE);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.ip_local_port_range", "1024", &why), -EINVAL);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.tcp_syn_retries", "0", &why), -ERANGE);
	assert_int_equal(ts_sysctl_value_check("net.ipv4.tcp_retries2", "256", &why), -ERANGE);
	assert_int_equal(ts_sysctl_value_check("net.core.somaxconn", "-1", &why), -ERANGE);
	assert_int_equal(ts_sysctl_value_check("kernel.unknown", "anything", &why), 0);
	assert_true(ts_sysctl_value_equal("32768\t60999", " 32768  60999 "));
	assert_false(ts_sysctl_value_equal("32768 60999", "32768 6099"));
	assert_false(ts_sysctl_value_equal("1", "1 2"));
}

/* ---- configuration files ---- */

static const struct ts_sysctl_conf_entry *find_entry(const struct ts_sysctl_conf *c, const char *key,
						     size_t nth)
{
	for (size_t i = 0; i < c->n_entries; i++)
		if (strcmp(c->entries[i].key, key) == 0 && nth-- == 0)
			return &c->entries[i];
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void conf_tree(void)
{
	tree_file("etc/sysctl.d/10-a.conf",
		  "# tuning\n"
		  "net.ipv4.tcp_syn_retries = 4\n"
		  "\n"
		  "; semicolon comment\n"
		  "-net.ipv4.tcp_nonexistent=1\n"
		  "net/ipv4/conf/eth0.100/rp_filter = 2\n"
		  "this line is garbage\n"
		  "  = 5\n"
		  "net.core.somaxconn\t=\t  8192   \n");
	tree_file("usr/lib/sysctl.d/10-a.conf", "net.ipv4.masked_by_etc = 1\n");
	tree_file("usr/lib/sysctl.d/20-b.conf", "net.ipv4.tcp_syn_retries = 5\n");
	tree_file("run/sysctl.d/05-c.conf", "net.ipv4.tcp_fin_timeout = 30\n");
	tree_file("lib/sysctl.d/notconf.txt", "net.ipv4.ignored = 1\n");
	tree_file("etc/sysctl.conf", "net.ipv4.tcp_keepalive_time = 600\n");
	tree_symlink("../sysctl.conf", "etc/sysctl.d/99-sysctl.conf");
	tree_symlink("/dev/null", "etc/sysctl.d/30-masked.conf");
	tree_file("usr/lib/sysctl.d/30-masked.conf", "net.ipv4.masked_by_dev_null = 1\n");
}

static void test_conf_parse(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	const struct ts_sysctl_conf_entry *e;

	(void)state;
	conf_tree();
	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);

	/* Order: by file name across directories, /etc/sysctl.conf once (via 99-sysctl.conf). */
	assert_int_equal(c->n_files, 4);
	assert_true(ends_with(c->files[0], "/run/sysctl.d/05-c.conf"));
	assert_true(ends_with(c->files[1], "/etc/sysctl.d/10-a.conf"));
	assert_true(ends_with(c->files[2], "/usr/lib/sysctl.d/20-b.conf"));
	assert_true(ends_with(c->files[3], "/etc/sysctl.d/99-sysctl.conf"));
	assert_null(find_entry(c, "net.ipv4.masked_by_etc", 0));
	assert_null(find_entry(c, "net.ipv4.masked_by_dev_null", 0));
	assert_null(find_entry(c, "net.ipv4.ignored", 0));

	e = find_entry(c, "net.ipv4.tcp_syn_retries", 0);
	assert_non_null(e);
	assert_string_equal(e->value, "4");
	assert_int_equal(e->line, 2);
	assert_string_equal(e->comment, "tuning");
	assert_true(ends_with(e->file, "10-a.conf"));
	e = find_entry(c, "net.ipv4.tcp_syn_retries", 1);
	assert_non_null(e);
	assert_string_equal(e->value, "5"); /* 20-b.conf comes later and wins */

	e = find_entry(c, "net.ipv4.tcp_nonexistent", 0);
	assert_non_null(e);
	assert_true(e->ignore_errors);
	assert_string_equal(e->comment, "semicolon comment");
	e = find_entry(c, "net.ipv4.conf.eth0/100.rp_filter", 0);
	assert_non_null(e);
	assert_string_equal(e->value, "2");
	e = find_entry(c, "net.core.somaxconn", 0);
	assert_non_null(e);
	assert_string_equal(e->value, "8192");
	assert_int_equal(e->line, 9);
	assert_non_null(find_entry(c, "net.ipv4.tcp_keepalive_time", 0));
	assert_null(find_entry(c, "net.ipv4.tcp_keepalive_time", 1));

	assert_int_equal(c->n_bad, 2);
	assert_int_equal(c->bad[0].line, 7);
	assert_true(ends_with(c->bad[0].file, "10-a.conf"));
	assert_string_equal(c->bad[0].text, "this line is garbage");
	assert_int_equal(c->bad[1].line, 8);
	ts_sysctl_conf_free(c);
	assert_null(ts_sysctl_conf_free(NULL));
}

static void test_conf_empty_root(void **state)
{
	struct ts_sysctl_conf *c = NULL;

	(void)state;
	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);
	assert_int_equal(c->n_files, 0);
	assert_int_equal(c->n_entries, 0);
	ts_sysctl_conf_free(c);
}

static void test_key_normalize(void **state)
{
	char a[] = "net/ipv4/conf/eth0.100/rp_filter", b[] = "net.ipv4.tcp_fin_timeout",
	     d[] = "net.ipv4.conf.eth0/100.rp_filter";

	(void)state;
	ts_sysctl_key_normalize(a);
	assert_string_equal(a, "net.ipv4.conf.eth0/100.rp_filter");
	ts_sysctl_key_normalize(b);
	assert_string_equal(b, "net.ipv4.tcp_fin_timeout");
	ts_sysctl_key_normalize(d); /* dotted first: left alone */
	assert_string_equal(d, "net.ipv4.conf.eth0/100.rp_filter");
}

/* ---- lint ---- */

static const struct ts_lint_finding *find_lint(const struct ts_lint_finding *f, size_t n,
					       enum ts_lint_kind kind, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].kind == kind && (!key || (f[i].key && strcmp(f[i].key, key) == 0)))
			return &f[i];
	return NULL;
}

static size_t count_lint(const struct ts_lint_finding *f, size_t n, enum ts_lint_kind kind)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += f[i].kind == kind;
	return k;
}

static void test_lint(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	struct ts_lint_finding *f = NULL;
	const struct ts_lint_finding *x;
	struct ts_sysctl *live;
	size_t n = 0;

	(void)state;
	fake_proc_sys();
	tree_file("etc/sysctl.d/50-old.conf",
		  "net.ipv4.tcp_tw_recycle = 1\n"
		  "# lower it to fix the CLOSE_WAIT pile-up\n"
		  "net.ipv4.tcp_fin_timeout = 10\n"
		  "net.netfilter.nf_conntrack_tcp_timeout_close_wait = 10\n"
		  "net.ipv4.tcp_nonexistent = 1\n"
		  "-net.ipv4.tcp_nonexistent_quiet = 1\n"
		  "net.ipv4.tcp_tw_reuse = 3\n"
		  "net.ipv4.ip_local_port_range = 50000 40000\n"
		  "net.core.somaxconn = 8192\n"
		  "net.ipv4.ip_local_port_range = 32768 60999\n"
		  "net/ipv4/conf/eth0.100/rp_filter = 1\n"
		  "net.ipv4.conf.*.rp_filter = 2\n"
		  "not an assignment\n");
	tree_file("etc/sysctl.d/60-plain.conf",
		  "net.ipv4.tcp_fin_timeout = 60\n"
		  "net.ipv4.tcp_syn_retries = 6\n");
	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);
	live = open_fake();
	assert_int_equal(ts_sysctl_conf_lint(c, live, &f, &n), 0);

	for (size_t i = 0; i < n; i++)
		print_message("  %s:%u %s %s: %s\n", f[i].file, f[i].line, ts_lint_kind_name(f[i].kind),
			      ts_lint_severity_name(f[i].severity), f[i].message);

	x = find_lint(f, n, TS_LINT_REMOVED, "net.ipv4.tcp_tw_recycle");
	assert_non_null(x);
	assert_int_equal(x->severity, TS_LINT_ERROR);
	assert_int_equal(x->line, 1);
	assert_non_null(strstr(x->message, "4.12"));
	assert_non_null(strstr(x->message, "NAT"));
	/* reported once, not also as an unknown key */
	assert_null(find_lint(f, n, TS_LINT_UNKNOWN_KEY, "net.ipv4.tcp_tw_recycle"));

	x = find_lint(f, n, TS_LINT_FIN_TIMEOUT, "net.ipv4.tcp_fin_timeout");
	assert_non_null(x);
	assert_int_equal(x->line, 3);
	assert_int_equal(x->severity, TS_LINT_WARNING); /* the comment says CLOSE_WAIT */
	assert_non_null(strstr(x->message, "does not end CLOSE_WAIT"));
	assert_int_equal(count_lint(f, n, TS_LINT_FIN_TIMEOUT), 2);
	for (size_t i = 0; i < n; i++)
		if (f[i].kind == TS_LINT_FIN_TIMEOUT && ends_with(f[i].file, "60-plain.conf"))
			assert_int_equal(f[i].severity, TS_LINT_INFO);

	assert_non_null(find_lint(f, n, TS_LINT_CONNTRACK_CLOSE_WAIT,
				  "net.netfilter.nf_conntrack_tcp_timeout_close_wait"));

	x = find_lint(f, n, TS_LINT_UNKNOWN_KEY, "net.ipv4.tcp_nonexistent");
	assert_non_null(x);
	assert_int_equal(x->severity, TS_LINT_WARNING);
	x = find_lint(f, n, TS_LINT_UNKNOWN_KEY, "net.ipv4.tcp_nonexistent_quiet");
	assert_non_null(x);
	assert_int_equal(x->severity, TS_LINT_INFO);

	x = find_lint(f, n, TS_LINT_BAD_VALUE, "net.ipv4.tcp_tw_reuse");
	assert_non_null(x);
	assert_int_equal(x->severity, TS_LINT_ERROR);
	x = find_lint(f, n, TS_LINT_BAD_VALUE, "net.ipv4.ip_local_port_range");
	assert_non_null(x);
	assert_int_equal(x->line, 8);
	assert_int_equal(count_lint(f, n, TS_LINT_BAD_VALUE), 2);

	x = find_lint(f, n, TS_LINT_NOT_IN_EFFECT, "net.core.somaxconn");
	assert_non_null(x);
	assert_string_equal(x->current, "4096");
	/* same fields, tab vs space: in effect; the fake rp_filter is 1: in effect */
	assert_null(find_lint(f, n, TS_LINT_NOT_IN_EFFECT, "net.ipv4.ip_local_port_range"));
	assert_null(find_lint(f, n, TS_LINT_NOT_IN_EFFECT, "net.ipv4.conf.eth0/100.rp_filter"));
	assert_null(find_lint(f, n, TS_LINT_UNKNOWN_KEY, "net.ipv4.conf.eth0/100.rp_filter"));
	/* globs are not checked against the kernel */
	assert_null(find_lint(f, n, TS_LINT_UNKNOWN_KEY, "net.ipv4.conf.*.rp_filter"));
	/* fin_timeout 10 in 50-old is overridden by 60-plain; 60 is in effect */
	x = find_lint(f, n, TS_LINT_OVERRIDDEN, "net.ipv4.tcp_fin_timeout");
	assert_non_null(x);
	assert_int_equal(x->line, 3);
	assert_non_null(strstr(x->message, "60-plain.conf:1"));
	assert_null(find_lint(f, n, TS_LINT_NOT_IN_EFFECT, "net.ipv4.tcp_fin_timeout"));
	assert_null(find_lint(f, n, TS_LINT_NOT_IN_EFFECT, "net.ipv4.tcp_syn_retries"));

	x = find_lint(f, n, TS_LINT_MALFORMED, NULL);
	assert_non_null(x);
	assert_int_equal(x->line, 13);
	assert_true(ends_with(x->file, "50-old.conf"));

	/* file order, then line order */
	for (size_t i = 1; i < n; i++)
		if (strcmp(f[i - 1].file, f[i].file) == 0)
			assert_true(f[i - 1].line <= f[i].line);
	assert_true(ends_with(f[n - 1].file, "60-plain.conf"));

	ts_lint_findings_free(f, n);
	/* without a live kernel: only the static rules */
	assert_int_equal(ts_sysctl_conf_lint(c, NULL, &f, &n), 0);
	assert_int_equal(count_lint(f, n, TS_LINT_UNKNOWN_KEY), 0);
	assert_int_equal(count_lint(f, n, TS_LINT_NOT_IN_EFFECT), 0);
	assert_int_equal(count_lint(f, n, TS_LINT_REMOVED), 1);
	ts_lint_findings_free(f, n);
	ts_sysctl_free(live);
	ts_sysctl_conf_free(c);
}

static void test_conf_parse_file_missing(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	char path[PATH_MAX];

	(void)state;
	assert_int_equal(ts_sysctl_conf_new(&c), 0);
	tree_path(path, sizeof(path), "nope.conf");
	assert_int_equal(ts_sysctl_conf_parse_file(c, path), -ENOENT);
	assert_int_equal(c->n_files, 0);
	ts_sysctl_conf_free(c);
}

/* ---- files the lint must not read, or not hang on ---- */

static bool has_bad_line(const struct ts_sysctl_conf *c, const char *file_suffix, const char *why_part)
{
	for (size_t i = 0; i < c->n_bad; i++)
		if (ends_with(c->bad[i].file, file_suffix) && strstr(c->bad[i].why, why_part))
			return true;
	return false;
}

static bool has_value(const struct ts_sysctl_conf *c, const char *value)
{
	for (size_t i = 0; i < c->n_entries; i++)
		if (strcmp(c->entries[i].value, value) == 0)
			return true;
	return false;
}

/* Symbolic links resolve inside the root, as systemd-sysctl --root does: never outside it. */
static void test_conf_links_stay_in_root(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	char secret[PATH_MAX], root[PATH_MAX];

	(void)state;
	tree_file("outside/secret.conf", "net.ipv4.tcp_fin_timeout = leaked\n");
	tree_file("root/usr/lib/sysctl.d/real.txt", "net.ipv4.tcp_fin_timeout = inside\n");
	tree_file("root/etc/sysctl.d/00-plain.conf", "net.core.somaxconn = 1024\n");
	tree_path(secret, sizeof(secret), "outside/secret.conf");
	tree_path(root, sizeof(root), "root");
	tree_symlink(secret, "root/etc/sysctl.d/10-absolute.conf");
	tree_symlink("../../../outside/secret.conf", "root/etc/sysctl.d/11-dotdot.conf");
	tree_symlink("/usr/lib/sysctl.d/real.txt", "root/etc/sysctl.d/12-inside.conf");
	tree_symlink("/proc/self/root/etc/passwd", "root/etc/sysctl.d/13-proc.conf");
	tree_symlink(secret, "root/etc/sysctl.conf");
	/* a directory link out of the root: listed inside it, so not at all */
	tree_file("outside/sysctl.d/50-dir.conf", "net.ipv4.tcp_fin_timeout = leaked\n");
	tree_path(secret, sizeof(secret), "outside/sysctl.d");
	tree_file("root/run/.keep", "");
	tree_symlink(secret, "root/run/sysctl.d");

	assert_int_equal(ts_sysctl_conf_load(root, &c), 0);
	for (size_t i = 0; i < c->n_bad; i++)
		print_message("  bad %s: %s\n", c->bad[i].file, c->bad[i].why);
	assert_false(has_value(c, "leaked"));
	assert_true(has_value(c, "inside"));   /* an absolute link inside the root is fine */
	assert_true(has_value(c, "1024"));
	assert_true(has_bad_line(c, "10-absolute.conf", "dangling"));
	assert_true(has_bad_line(c, "11-dotdot.conf", "dangling"));
	assert_true(has_bad_line(c, "13-proc.conf", "cannot be read"));
	assert_int_equal(c->n_files, 2);
	ts_sysctl_conf_free(c);
}

/* A FIFO, a directory or a device named *.conf is never read: no hang, a word for the first two. */
static void test_conf_not_regular(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	char path[PATH_MAX];

	(void)state;
	tree_file("etc/sysctl.d/10-ok.conf", "net.core.somaxconn = 1024\n");
	tree_path(path, sizeof(path), "etc/sysctl.d/20-fifo.conf");
	assert_int_equal(mkfifo(path, 0600), 0);
	tree_path(path, sizeof(path), "etc/sysctl.conf");
	assert_int_equal(mkfifo(path, 0600), 0);
	tree_path(path, sizeof(path), "etc/sysctl.d/30-dir.conf");
	assert_int_equal(mkdir(path, 0700), 0);
	tree_symlink("/dev/zero", "etc/sysctl.d/40-dev.conf"); /* inside the root: dangling */

	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);
	assert_int_equal(c->n_files, 1);
	assert_int_equal(c->n_entries, 1);
	assert_true(has_bad_line(c, "20-fifo.conf", "FIFO"));
	assert_true(has_bad_line(c, "etc/sysctl.conf", "FIFO"));
	assert_true(has_bad_line(c, "30-dir.conf", "directory"));
	ts_sysctl_conf_free(c);

	/* the same for one named file (tune --revert) */
	assert_int_equal(ts_sysctl_conf_new(&c), 0);
	tree_path(path, sizeof(path), "etc/sysctl.d/20-fifo.conf");
	assert_int_equal(ts_sysctl_conf_parse_file(c, path), -EBADFD);
	assert_int_equal(ts_sysctl_conf_parse_file(c, "/dev/null"), -EBADFD);
	tree_path(path, sizeof(path), "etc/sysctl.d/30-dir.conf");
	assert_int_equal(ts_sysctl_conf_parse_file(c, path), -EISDIR);
	assert_int_equal(c->n_files, 0);
	ts_sysctl_conf_free(c);
}

/*
 * Past TS_SYSCTL_CONF_FILES_MAX files: the first ones by name are read,
 * whatever order readdir gives and whichever directory holds them, and a
 * bad line names the first one left out.
 */
static void test_conf_too_many_files(void **state)
{
	struct ts_sysctl_conf *c = NULL;
	char rel[64], content[64];
	const size_t total = TS_SYSCTL_CONF_FILES_MAX + 4;

	(void)state;
	/* in a later directory, first by name */
	tree_file("usr/lib/sysctl.d/00-first.conf", "net.core.somaxconn = 1024\n");
	for (size_t i = 1; i < total; i++) {
		snprintf(rel, sizeof(rel), "etc/sysctl.d/%05zu.conf", i);
		snprintf(content, sizeof(content), "net.test.k%zu = %zu\n", i, i);
		tree_file(rel, content);
	}
	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);
	assert_int_equal(c->n_files, TS_SYSCTL_CONF_FILES_MAX);
	assert_true(ends_with(c->files[0], "/usr/lib/sysctl.d/00-first.conf"));
	for (size_t i = 1; i < c->n_files; i++) {
		snprintf(rel, sizeof(rel), "/etc/sysctl.d/%05zu.conf", i);
		assert_true(ends_with(c->files[i], rel));
	}
	snprintf(rel, sizeof(rel), "/etc/sysctl.d/%05d.conf", TS_SYSCTL_CONF_FILES_MAX);
	assert_int_equal(c->n_bad, 1);
	assert_true(ends_with(c->bad[0].file, rel));
	assert_non_null(strstr(c->bad[0].why, "first 4096"));
	assert_int_equal(c->bad[0].file_idx, SIZE_MAX);
	ts_sysctl_conf_free(c);
}

/*
 * 100,000 lines over 1,000 keys: every line but the last of its key is
 * "overridden", naming that last line. (The lint once searched the rest
 * of the file for each line: quadratic.)
 */
static void test_lint_many_duplicates(void **state)
{
	enum { LINES = 100000, KEYS = 1000 };
	struct ts_sysctl_conf *c = NULL;
	struct ts_lint_finding *f = NULL;
	size_t n = 0, overridden = 0;
	char path[PATH_MAX], want[64];
	FILE *out;

	(void)state;
	tree_file("etc/sysctl.d/50-big.conf", "");
	tree_path(path, sizeof(path), "etc/sysctl.d/50-big.conf");
	out = fopen(path, "we");
	assert_non_null(out);
	for (unsigned i = 0; i < LINES; i++)
		fprintf(out, "net.test.k%u = %u\n", i % KEYS, i);
	assert_int_equal(fclose(out), 0);

	assert_int_equal(ts_sysctl_conf_load(tmp_root, &c), 0);
	assert_int_equal(c->n_entries, LINES);
	assert_int_equal(ts_sysctl_conf_lint(c, NULL, &f, &n), 0);
	for (size_t i = 0; i < n; i++) {
		unsigned line = f[i].line, last;

		if (f[i].kind != TS_LINT_OVERRIDDEN)
			continue;
		overridden++;
		/* line L (1-based) sets key (L-1) % KEYS; its last setting is on line LINES-KEYS+key+1 */
		last = LINES - KEYS + (line - 1) % KEYS + 1;
		assert_true(line < last);
		snprintf(want, sizeof(want), "50-big.conf:%u (net.test.k%u = %u)", last, (line - 1) % KEYS,
			 last - 1);
		if (!strstr(f[i].message, want))
			fail_msg("line %u: '%s' lacks '%s'", line, f[i].message, want);
		if (i > 0)
			assert_true(f[i - 1].line <= line); /* still in file order */
	}
	assert_int_equal(overridden, LINES - KEYS);
	ts_lint_findings_free(f, n);
	ts_sysctl_conf_free(c);
}

/* ---- advice ---- */

static const struct ts_tune_row *row_of(const struct ts_tune_row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].info->name, name) == 0)
			return &rows[i];
	fail_msg("no row %s", name);
	return NULL;
}

static void test_advice_nothing(void **state)
{
	struct ts_tune_observed o;
	struct ts_tune_row *rows = NULL;
	struct ts_sysctl *s;
	size_t n = 0, known_n;

	(void)state;
	fake_proc_sys();
	s = open_fake();
	memset(&o, 0, sizeof(o));
	o.count[TS_STATE_CLOSE_WAIT] = 5000; /* no sysctl is the answer to this */
	assert_int_equal(ts_tune_advise(s, &o, &rows, &n), 0);
	ts_sysctl_known(&known_n);
	assert_int_equal(n, known_n);
	for (size_t i = 0; i < n; i++) {
		assert_true(rows[i].action == TS_TUNE_KEEP || rows[i].action == TS_TUNE_UNAVAILABLE);
		assert_true(rows[i].reason[0] != '\0');
	}
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_fin_timeout")->action, TS_TUNE_KEEP);
	assert_non_null(strstr(row_of(rows, n, "net.ipv4.tcp_fin_timeout")->reason, "CLOSE_WAIT"));
	/* absent from the fake tree */
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_max_orphans")->action, TS_TUNE_UNAVAILABLE);
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_max_orphans")->read_errno, ENOENT);
	free(rows);
	ts_sysctl_free(s);
}

static void test_advice_observed(void **state)
{
	struct ts_tune_observed o;
	struct ts_tune_row *rows = NULL;
	const struct ts_tune_row *r;
	struct ts_sysctl *s;
	size_t n = 0;

	(void)state;
	fake_proc_sys();
	tree_file("sys/net/ipv4/tcp_syncookies", "0\n");
	s = open_fake();
	memset(&o, 0, sizeof(o));
	o.fin_wait_2_orphans = 500;
	o.fin_wait_2_in_tw = 500;
	o.count[TS_STATE_FIN_WAIT_2] = 500;
	o.count[TS_STATE_TIME_WAIT] = 400;       /* + 500 FIN_WAIT_2 >= 75% of 1000 buckets */
	o.tw_outgoing = 400;
	o.tw_top_count = 20000;                  /* > half of 28232 ports */
	o.closing_orphans = 300;
	o.closing_held = 300;
	o.listen_full = 1;
	o.listen_at_somaxconn = 1;
	o.listen_full_port = 80;
	o.syn_recv_top = 120;                    /* near tcp_max_syn_backlog 128 */
	o.syn_recv_top_port = 80;
	assert_int_equal(ts_tune_advise(s, &o, &rows, &n), 0);

	r = row_of(rows, n, "net.ipv4.tcp_fin_timeout");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "30");
	assert_string_equal(r->current, "60");
	r = row_of(rows, n, "net.ipv4.tcp_max_tw_buckets");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "2000");
	r = row_of(rows, n, "net.ipv4.ip_local_port_range");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "10000 65535");
	r = row_of(rows, n, "net.ipv4.tcp_tw_reuse");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "1");
	assert_non_null(strstr(r->reason, "outgoing"));
	r = row_of(rows, n, "net.ipv4.tcp_orphan_retries");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "3");
	r = row_of(rows, n, "net.ipv4.tcp_retries2");
	assert_int_equal(r->action, TS_TUNE_CONSIDER); /* with care: never applied */
	assert_string_equal(r->recommended, "8");
	r = row_of(rows, n, "net.core.somaxconn");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "8192");
	assert_non_null(strstr(r->reason, "listen() backlog"));
	r = row_of(rows, n, "net.ipv4.tcp_max_syn_backlog");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "256");
	r = row_of(rows, n, "net.ipv4.tcp_syncookies");
	assert_int_equal(r->action, TS_TUNE_CHANGE);
	assert_string_equal(r->recommended, "1");
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;

		if (rows[i].action == TS_TUNE_CHANGE)
			assert_int_equal(ts_sysctl_value_check(rows[i].info->name, rows[i].recommended, &why), 0);
	}
	free(rows);
	ts_sysctl_free(s);
}

static void test_advice_already_tuned(void **state)
{
	struct ts_tune_observed o;
	struct ts_tune_row *rows = NULL;
	struct ts_sysctl *s;
	size_t n = 0;

	(void)state;
	fake_proc_sys();
	tree_file("sys/net/ipv4/tcp_fin_timeout", "20\n");
	tree_file("sys/net/ipv4/ip_local_port_range", "1024\t65535\n");
	tree_file("sys/net/ipv4/tcp_tw_reuse", "1\n");
	s = open_fake();
	memset(&o, 0, sizeof(o));
	o.fin_wait_2_orphans = 500;
	o.fin_wait_2_in_tw = 500;
	o.tw_top_count = 60000;
	o.syn_recv_top = 120;                    /* near tcp_max_syn_backlog 128, but syncookies=1 */
	assert_int_equal(ts_tune_advise(s, &o, &rows, &n), 0);
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_max_syn_backlog")->action, TS_TUNE_KEEP);
	assert_non_null(strstr(row_of(rows, n, "net.ipv4.tcp_max_syn_backlog")->reason, "limits nothing"));
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_fin_timeout")->action, TS_TUNE_KEEP);
	assert_int_equal(row_of(rows, n, "net.ipv4.ip_local_port_range")->action, TS_TUNE_KEEP);
	assert_int_equal(row_of(rows, n, "net.ipv4.tcp_tw_reuse")->action, TS_TUNE_KEEP);
	assert_non_null(strstr(row_of(rows, n, "net.ipv4.tcp_tw_reuse")->reason, "reuse connections"));
	free(rows);
	ts_sysctl_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_bad_names, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_write, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_unreadable, setup_tree, teardown_tree),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_known_table),
		cmocka_unit_test(test_value_check),
		cmocka_unit_test(test_key_normalize),
		cmocka_unit_test_setup_teardown(test_conf_parse, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_conf_empty_root, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_conf_parse_file_missing, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_lint, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_conf_links_stay_in_root, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_conf_not_regular, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_conf_too_many_files, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_lint_many_duplicates, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_advice_nothing, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_advice_observed, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_advice_already_tuned, setup_tree, teardown_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
