/* SPDX-License-Identifier: MIT */
/*
 * netns_resolve_in(): one set of rules for --netns, one error per bad form.
 * A temporary directory stands for /run/netns and another for /proc; their
 * entries are symlinks to this process's own namespace files, so no
 * privilege is needed.
 */
#include <errno.h>
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

#include "core/netns.h"

static char base[64], run_dir[128], proc_dir[128];
static uint64_t own_net;

static void make_link(const char *target, const char *dir, const char *rel)
{
	char path[PATH_MAX], *slash;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = path + strlen(dir) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (symlink(target, path) < 0)
		fail_msg("symlink %s: %s", path, strerror(errno));
}

static int setup(void **state)
{
	struct stat st;

	(void)state;
	snprintf(base, sizeof(base), "/tmp/test_netns.XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(run_dir, sizeof(run_dir), "%s/run", base);
	snprintf(proc_dir, sizeof(proc_dir), "%s/proc", base);
	mkdir(run_dir, 0755);
	mkdir(proc_dir, 0755);
	if (stat("/proc/self/ns/net", &st) < 0)
		return -1;
	own_net = st.st_ino;
	make_link("/proc/self/ns/net", run_dir, "web");
	make_link("/proc/self/ns/mnt", run_dir, "mnt");
	make_link("/etc/hostname", run_dir, "plain");
	make_link("loop-b", run_dir, "loop-a");
	make_link("loop-a", run_dir, "loop-b");
	/* 4242 is a name and a pid: the pid's "namespace" is a mount namespace,
	 * so taking the pid instead of the name fails the test. */
	make_link("/proc/self/ns/net", run_dir, "4242");
	make_link("/proc/self/ns/mnt", proc_dir, "4242/ns/net");
	/* 777 is only a pid. */
	make_link("/proc/self/ns/net", proc_dir, "777/ns/net");
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static int resolve(const char *spec, struct netns_target *t)
{
	int r = netns_resolve_in(spec, run_dir, proc_dir, t);

	if (r == 0 && t->fd >= 0)
		close(t->fd);
	return r;
}

static void test_forms(void **state)
{
	struct netns_target t;
	char path[PATH_MAX];

	(void)state;
	assert_int_equal(resolve("web", &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_NAME);
	assert_int_equal(t.inode, own_net);
	assert_false(t.shadows_pid);

	assert_int_equal(resolve("777", &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_PID);
	assert_int_equal(t.pid, 777);

	snprintf(path, sizeof(path), "%s/web", run_dir);
	assert_int_equal(resolve(path, &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_PATH);
	assert_int_equal(t.pid, 0);
	assert_int_equal(resolve("/proc/self/ns/net", &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_PATH);

	assert_int_equal(netns_resolve_in(NULL, run_dir, NULL, &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_OWN);
	assert_int_equal(t.fd, -1);
}

static void test_digit_name_wins_over_pid(void **state)
{
	struct netns_target t;

	(void)state;
	assert_int_equal(resolve("4242", &t), 0);
	assert_int_equal(t.form, TS_NETNS_FORM_NAME);
	assert_int_equal(t.inode, own_net);
	assert_true(t.shadows_pid);
	assert_int_equal(t.pid, 0);
}

static void test_bad_forms(void **state)
{
	struct netns_target t = { .fd = -7 };
	char name[NAME_MAX + 2], *path;

	(void)state;
	assert_int_equal(resolve("", &t), -EINVAL);
	assert_int_equal(resolve(".", &t), -EINVAL);
	assert_int_equal(resolve("..", &t), -EINVAL);
	assert_int_equal(resolve("nosuch", &t), -ENOENT);
	assert_int_equal(resolve("/nonexistent/ns", &t), -ENOENT);
	assert_int_equal(resolve("999", &t), -ESRCH);
	assert_int_equal(resolve("0", &t), -ERANGE);
	assert_int_equal(resolve("99999999999", &t), -ERANGE);
	assert_int_equal(resolve("mnt", &t), -EMEDIUMTYPE);
	assert_int_equal(resolve("/proc/self/ns/mnt", &t), -EMEDIUMTYPE);
	assert_int_equal(resolve("/proc/self/ns/pid", &t), -EMEDIUMTYPE);
	assert_int_equal(resolve("plain", &t), -ENOTTY);
	assert_int_equal(resolve("/dev/null", &t), -ENOTTY);
	assert_int_equal(resolve("/tmp", &t), -ENOTTY);
	assert_int_equal(resolve("loop-a", &t), -ELOOP);
	assert_int_equal(resolve("/etc/hostname/x", &t), -ENOTDIR);

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0'; /* NAME_MAX + 1 bytes */
	assert_int_equal(resolve(name, &t), -ENAMETOOLONG);

	/* A path that would have been cut at PATH_MAX is refused, never opened short. */
	path = malloc(PATH_MAX + 32);
	assert_non_null(path);
	memset(path, '/', PATH_MAX + 20);
	strcpy(path + PATH_MAX + 20 - strlen("proc/self/ns/net"), "proc/self/ns/net");
	assert_int_equal(resolve(path, &t), -ENAMETOOLONG);
	free(path);
	assert_int_equal(t.fd, -7); /* untouched on every error */
}

static void test_lookup_closes_and_reports(void **state)
{
	struct ts_netns_ref ref;

	(void)state;
	assert_int_equal(ts_netns_lookup("/proc/self/ns/net", NULL, &ref), 0);
	assert_int_equal(ref.form, TS_NETNS_FORM_PATH);
	assert_int_equal(ref.inode, own_net);
	assert_int_equal(ts_netns_lookup("/proc/self/ns/mnt", NULL, &ref), -EMEDIUMTYPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_digit_name_wins_over_pid),
		cmocka_unit_test(test_bad_forms),
		cmocka_unit_test(test_lookup_closes_and_reports),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
