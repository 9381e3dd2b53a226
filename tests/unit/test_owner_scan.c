/* SPDX-License-Identifier: MIT */
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

#include "snapshot/owner_scan.h"
#include "tcpstate/filter.h"
#include "tcpstate/socket.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a fake /proc in a temporary directory ---- */

struct fake_proc {
	char root[PATH_MAX];
};

static void fp_mkdir(const struct fake_proc *fp, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", fp->root, rel);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", path, strerror(errno));
}

static void fp_file(const struct fake_proc *fp, const char *rel, const char *content)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fp->root, rel);
	f = fopen(path, "we");
	if (!f)
		fail_msg("create %s: %s", path, strerror(errno));
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void fp_link(const struct fake_proc *fp, const char *target, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", fp->root, rel);
	if (symlink(target, path) < 0)
		fail_msg("symlink %s: %s", path, strerror(errno));
}

/* A process: PID/comm and an empty PID/fd. */
static void fp_process(const struct fake_proc *fp, pid_t pid, const char *comm)
{
	char rel[64], content[64];

	fp_mkdir(fp, "%d", (int)pid);
	fp_mkdir(fp, "%d/fd", (int)pid);
	snprintf(rel, sizeof(rel), "%d/comm", (int)pid);
	snprintf(content, sizeof(content), "%s\n", comm);
	fp_file(fp, rel, content);
}

static void fp_socket_fd(const struct fake_proc *fp, pid_t pid, int fd, uint64_t inode)
{
	char target[64];

	snprintf(target, sizeof(target), "socket:[%llu]", (unsigned long long)inode);
	fp_link(fp, target, "%d/fd/%d", (int)pid, fd);
}

/* In $TMPDIR, else /tmp; prefer_shm: /dev/shm (tmpfs) when there is one,
 * for trees of many files (a disk file system takes ~100 us a symlink). */
static struct fake_proc *fp_new(bool prefer_shm)
{
	struct fake_proc *fp = calloc(1, sizeof(*fp));
	const char *dir = getenv("TMPDIR");

	assert_non_null(fp);
	if (!dir || !*dir)
		dir = prefer_shm && access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fp->root, sizeof(fp->root), "%s/tcpstate-proc-XXXXXX", dir);
	assert_non_null(mkdtemp(fp->root));
	return fp;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void fp_free(struct fake_proc *fp)
{
	if (!fp)
		return;
	if (nftw(fp->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", fp->root, strerror(errno));
	free(fp);
}

/* ---- snapshots ---- */

static size_t add_socket(struct ts_snapshot *snap, uint64_t inode, uint8_t state)
{
	struct ts_socket s = {
		.family = AF_INET,
		.state = state,
		.inode = inode,
		.local_port = (uint16_t)(inode & 0xffff),
		.owner_first = UINT32_MAX,
	};

	assert_int_equal(snapshot_socket_append(snap, &s), 0);
	return snap->n_sockets - 1;
}

static const struct ts_owner *owners_of(const struct ts_snapshot *snap, size_t i)
{
	return ts_snapshot_owners(snap, &snap->sockets[i]);
}

struct want_owner {
	pid_t pid;
	int fd;
	const char *comm;
};

static bool owner_is(const struct ts_snapshot *snap, const struct ts_owner *o, size_t i,
		     const struct want_owner *w)
{
	const struct ts_process *p = ts_snapshot_process(snap, o->process_index);

	if (o->socket_index != i || o->pid != w->pid || o->fd != w->fd)
		return false;
	if (!p || p->pid != w->pid)
		fail_msg("owner %d:%d: process_index %u is not its process", o->pid, o->fd,
			 o->process_index);
	if (w->comm && strcmp(p->comm, w->comm) != 0)
		fail_msg("owner %d:%d: comm \"%s\", want \"%s\"", o->pid, o->fd, p->comm, w->comm);
	return true;
}

/* Socket i has exactly these owners; in this order when ordered. */
static void check_owners(const struct ts_snapshot *snap, size_t i, const struct want_owner *w,
			 size_t n, bool ordered)
{
	const struct ts_socket *s = &snap->sockets[i];
	const struct ts_owner *o = owners_of(snap, i);
	bool used[16] = { false };

	assert_true(n <= ARRAY_SIZE(used));
	if (s->owner_count != n)
		fail_msg("socket %zu (inode %llu): %u owners, want %zu", i,
			 (unsigned long long)s->inode, s->owner_count, n);
	if (n == 0) {
		assert_null(o);
		assert_int_equal(s->owner_first, UINT32_MAX);
		return;
	}
	assert_non_null(o);
	assert_true(s->owner_first + n <= snap->n_owners);
	for (size_t k = 0; k < n; k++) {
		size_t j;

		if (ordered) {
			if (!owner_is(snap, &o[k], i, &w[k]))
				fail_msg("socket %zu owner %zu: %d:%d, want %d:%d", i, k, o[k].pid,
					 o[k].fd, w[k].pid, w[k].fd);
			continue;
		}
		for (j = 0; j < n; j++)
			if (!used[j] && owner_is(snap, &o[k], i, &w[j]))
				break;
		if (j == n)
			fail_msg("socket %zu: unexpected owner %d:%d", i, o[k].pid, o[k].fd);
		used[j] = true;
	}
}

static void assert_owners(const struct ts_snapshot *snap, size_t i, const struct want_owner *w,
			  size_t n)
{
	check_owners(snap, i, w, n, false);
}

static bool has_process(const struct ts_snapshot *snap, pid_t pid)
{
	for (size_t i = 0; i < snap->n_processes; i++)
		if (snap->processes[i].pid == pid)
			return true;
	return false;
}

/* Each process is listed once. */
static void assert_processes_unique(const struct ts_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_processes; i++)
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(snap->processes[i].pid, snap->processes[j].pid);
}

/* ---- the small tree ---- */

enum {
	I_A = 1001,    /* 100:3 */
	I_B = 1002,    /* 100:4 */
	I_SHARED = 1003, /* 100:7, 200:2, 200:5 */
	I_C = 1004,    /* 200:6 */
	I_LONG = 1005, /* 600:3 */
	I_FREE = 1006, /* 400:3, behind a chmod 000 fd dir */
	I_NOBODY = 1007, /* held by no process */
	I_UNKNOWN = 9999, /* held, but in no dump */
};

#define I_BIG 0xfffffffffffull /* 800:3: more than 32 bits */

struct small {
	struct fake_proc *fp;
	struct ts_snapshot *snap;
	size_t a, b, shared, c, lng, free_, tw, big, nobody;
};

static int small_setup(void **state)
{
	struct small *t = calloc(1, sizeof(*t));
	struct fake_proc *fp;
	char path[PATH_MAX + 16];

	assert_non_null(t);
	t->fp = fp = fp_new(false);

	fp_process(fp, 100, "nginx");
	fp_link(fp, "/dev/null", "100/fd/0");
	fp_link(fp, "pipe:[555]", "100/fd/1");
	fp_link(fp, "anon_inode:[eventpoll]", "100/fd/2");
	fp_socket_fd(fp, 100, 3, I_A);
	fp_socket_fd(fp, 100, 4, I_B);
	fp_socket_fd(fp, 100, 7, I_SHARED);
	fp_socket_fd(fp, 100, 9, I_UNKNOWN);
	fp_link(fp, "socket:[]", "100/fd/10");
	fp_link(fp, "socket:[12x]", "100/fd/11");
	fp_link(fp, "socket:[99999999999999999999999]", "100/fd/12");
	fp_link(fp, "socket:[0]", "100/fd/13");
	fp_link(fp, "socket:[1001", "100/fd/14");
	fp_link(fp, "/tmp/socket:[1001]", "100/fd/15");
	fp_file(fp, "100/fd/16", "socket:[1001]"); /* not a link */

	fp_process(fp, 200, "sshd");
	fp_socket_fd(fp, 200, 5, I_SHARED);
	fp_socket_fd(fp, 200, 2, I_SHARED); /* the same socket twice (dup) */
	fp_socket_fd(fp, 200, 6, I_C);

	/* vanished between readdir(/proc) and opening fd/: no fd dir */
	fp_mkdir(fp, "300");
	fp_file(fp, "300/comm", "curl\n");

	/* unreadable fd dir (root reads it anyway) */
	fp_process(fp, 400, "secret");
	fp_socket_fd(fp, 400, 3, I_FREE);
	snprintf(path, sizeof(path), "%s/400/fd", fp->root);
	assert_int_equal(chmod(path, 0), 0);

	fp_process(fp, 500, "idle");
	fp_link(fp, "/dev/null", "500/fd/0");

	fp_process(fp, 600, "averyveryverylongname");
	fp_socket_fd(fp, 600, 3, I_LONG);

	/* fd is not a directory */
	fp_mkdir(fp, "700");
	fp_file(fp, "700/comm", "odd\n");
	fp_file(fp, "700/fd", "");

	fp_process(fp, 800, "big");
	fp_socket_fd(fp, 800, 3, I_BIG);

	/* not processes */
	fp_link(fp, "100", "self");
	fp_mkdir(fp, "sys");
	fp_mkdir(fp, "123abc");
	fp_mkdir(fp, "123abc/fd");
	fp_mkdir(fp, "0"); /* no pid */
	fp_mkdir(fp, "0/fd");
	fp_link(fp, "socket:[1001]", "0/fd/3");
	fp_file(fp, "uptime", "1.0 1.0\n");
	fp_mkdir(fp, "99999999999"); /* beyond pid_t */
	fp_mkdir(fp, "99999999999/fd");
	fp_link(fp, "socket:[1001]", "99999999999/fd/3");
	fp_link(fp, "socket:[1001]", "123abc/fd/3");

	t->snap = snapshot_new();
	assert_non_null(t->snap);
	t->a = add_socket(t->snap, I_A, TS_STATE_LISTEN);
	t->tw = add_socket(t->snap, 0, TS_STATE_TIME_WAIT);
	t->b = add_socket(t->snap, I_B, TS_STATE_ESTABLISHED);
	t->shared = add_socket(t->snap, I_SHARED, TS_STATE_LISTEN);
	t->c = add_socket(t->snap, I_C, TS_STATE_CLOSE_WAIT);
	t->lng = add_socket(t->snap, I_LONG, TS_STATE_BOUND);
	t->free_ = add_socket(t->snap, I_FREE, TS_STATE_ESTABLISHED);
	t->big = add_socket(t->snap, I_BIG, TS_STATE_ESTABLISHED);
	t->nobody = add_socket(t->snap, I_NOBODY, TS_STATE_ESTABLISHED);
	*state = t;
	return 0;
}

static int small_teardown(void **state)
{
	struct small *t = *state;
	char path[PATH_MAX + 16];

	/* open the unreadable directory up again, or it cannot be emptied */
	snprintf(path, sizeof(path), "%s/400/fd", t->fp->root);
	(void)chmod(path, 0755);
	ts_snapshot_free(t->snap);
	fp_free(t->fp);
	free(t);
	return 0;
}

static void build_and_finalize(struct small *t, const struct ts_filter *f, bool want_cand,
			       struct owner_scan_result *res)
{
	struct owner_scan_opts o = { .proc_root = t->fp->root, .filter = f, .want_candidates = want_cand };

	memset(res, 0, sizeof(*res));
	assert_int_equal(owner_scan_build(t->snap, &o, res), 0);
	assert_int_equal(snapshot_owners_finalize(t->snap), 0);
	assert_processes_unique(t->snap);
}

static void test_scan_all(void **state)
{
	struct small *t = *state;
	struct owner_scan_result res;
	const struct want_owner shared[] = {
		{ 100, 7, "nginx" }, { 200, 2, "sshd" }, { 200, 5, "sshd" },
	};

	build_and_finalize(t, NULL, false, &res);
	assert_owners(t->snap, t->a, (struct want_owner[]){ { 100, 3, "nginx" } }, 1);
	assert_owners(t->snap, t->b, (struct want_owner[]){ { 100, 4, "nginx" } }, 1);
	assert_owners(t->snap, t->shared, shared, ARRAY_SIZE(shared));
	assert_owners(t->snap, t->c, (struct want_owner[]){ { 200, 6, "sshd" } }, 1);
	/* comm is cut to TASK_COMM_LEN - 1, as the kernel does */
	assert_owners(t->snap, t->lng, (struct want_owner[]){ { 600, 3, "averyveryverylo" } }, 1);
	assert_owners(t->snap, t->big, (struct want_owner[]){ { 800, 3, "big" } }, 1);
	assert_owners(t->snap, t->tw, NULL, 0);
	assert_owners(t->snap, t->nobody, NULL, 0);
	if (geteuid() == 0) {
		/* root reads the chmod 000 directory */
		assert_owners(t->snap, t->free_, (struct want_owner[]){ { 400, 3, "secret" } }, 1);
		assert_int_equal(res.processes_denied, 0);
	} else {
		assert_owners(t->snap, t->free_, NULL, 0);
		assert_int_equal(res.processes_denied, 1);
	}
	assert_int_equal(t->snap->n_owners, geteuid() == 0 ? 9 : 8);

	/* only holders of listed sockets become processes */
	assert_true(has_process(t->snap, 100));
	assert_true(has_process(t->snap, 200));
	assert_true(has_process(t->snap, 600));
	assert_false(has_process(t->snap, 300));
	assert_false(has_process(t->snap, 500));
	assert_false(has_process(t->snap, 700));
	for (size_t i = 0; i < t->snap->n_processes; i++)
		assert_int_equal(t->snap->processes[i].uid, geteuid());

	assert_null(res.candidates);
	assert_int_equal(res.n_candidates, 0);
	free(res.candidates);
}

static void test_scan_candidates_fake_tree(void **state)
{
	struct small *t = *state;
	struct owner_scan_result res;

	/* The fake links are no sockets: nothing answers system.sockprotoname. */
	build_and_finalize(t, NULL, true, &res);
	assert_int_equal(res.n_candidates, 0);
	assert_int_equal(t->snap->sockets[t->shared].owner_count, 3);
	free(res.candidates);
}

static void test_filter_pid(void **state)
{
	struct small *t = *state;
	struct ts_filter f = { .pids = { 200 }, .n_pids = 1 };
	struct owner_scan_result res;

	build_and_finalize(t, &f, false, &res);
	assert_owners(t->snap, t->shared,
		      (struct want_owner[]){ { 200, 2, "sshd" }, { 200, 5, "sshd" } }, 2);
	assert_owners(t->snap, t->c, (struct want_owner[]){ { 200, 6, "sshd" } }, 1);
	assert_owners(t->snap, t->a, NULL, 0);
	assert_owners(t->snap, t->b, NULL, 0);
	assert_owners(t->snap, t->lng, NULL, 0);
	assert_owners(t->snap, t->free_, NULL, 0);
	assert_int_equal(t->snap->n_processes, 1);
	assert_int_equal(t->snap->n_owners, 3);
	free(res.candidates);
}

static void test_filter_pids_missing(void **state)
{
	struct small *t = *state;
	/* gone, vanished mid-scan, not a directory, and one that holds sockets */
	struct ts_filter f = { .pids = { 4242, 300, 700, 600 }, .n_pids = 4 };
	struct owner_scan_result res;

	build_and_finalize(t, &f, false, &res);
	assert_owners(t->snap, t->lng, (struct want_owner[]){ { 600, 3, "averyveryverylo" } }, 1);
	assert_int_equal(t->snap->n_owners, 1);
	assert_int_equal(t->snap->n_processes, 1);
	assert_int_equal(res.processes_denied, 0);
	free(res.candidates);
}

/* Owners of a socket come by pid, then fd, whatever order /proc, the
 * workers or --pid gave them in (owner_map.h). */
static void test_owner_order(void **state)
{
	struct small *t = *state;
	const struct want_owner shared[] = {
		{ 100, 7, "nginx" }, { 200, 2, "sshd" }, { 200, 5, "sshd" },
	};
	struct ts_filter f = { .pids = { 200, 100 }, .n_pids = 2 }; /* descending */
	struct owner_scan_result res;

	build_and_finalize(t, NULL, false, &res);
	check_owners(t->snap, t->shared, shared, ARRAY_SIZE(shared), true);
	free(res.candidates);

	t->snap->n_owners = 0;
	t->snap->n_processes = 0;
	build_and_finalize(t, &f, false, &res);
	check_owners(t->snap, t->shared, shared, ARRAY_SIZE(shared), true);
	assert_owners(t->snap, t->lng, NULL, 0);
	free(res.candidates);
}

static void test_filter_comm(void **state)
{
	struct small *t = *state;
	struct ts_filter f = { .n_comms = 2 };
	struct owner_scan_result res;

	snprintf(f.comms[0], TS_COMM_LEN, "nginx");
	snprintf(f.comms[1], TS_COMM_LEN, "averyveryverylo");
	build_and_finalize(t, &f, false, &res);
	assert_owners(t->snap, t->a, (struct want_owner[]){ { 100, 3, "nginx" } }, 1);
	assert_owners(t->snap, t->shared, (struct want_owner[]){ { 100, 7, "nginx" } }, 1);
	assert_owners(t->snap, t->lng, (struct want_owner[]){ { 600, 3, "averyveryverylo" } }, 1);
	assert_owners(t->snap, t->c, NULL, 0);
	assert_false(has_process(t->snap, 200));
	assert_int_equal(t->snap->n_processes, 2);
	free(res.candidates);
}

static void test_filter_pid_and_comm(void **state)
{
	struct small *t = *state;
	struct ts_filter f = { .pids = { 100, 200 }, .n_pids = 2, .n_comms = 1 };
	struct owner_scan_result res;

	snprintf(f.comms[0], TS_COMM_LEN, "sshd");
	build_and_finalize(t, &f, false, &res);
	assert_owners(t->snap, t->shared,
		      (struct want_owner[]){ { 200, 2, "sshd" }, { 200, 5, "sshd" } }, 2);
	assert_owners(t->snap, t->a, NULL, 0);
	assert_int_equal(t->snap->n_processes, 1);
	free(res.candidates);
}

static void test_no_proc(void **state)
{
	struct small *t = *state;
	struct owner_scan_opts o = { .proc_root = "/nonexistent/tcpstate-proc" };
	struct owner_scan_result res = { .n_candidates = 77 };

	assert_int_equal(owner_scan_build(t->snap, &o, &res), -ENOENT);
	assert_int_equal(res.n_candidates, 77); /* untouched */
	assert_int_equal(t->snap->n_owners, 0);
}

static void test_empty_snapshot(void **state)
{
	struct small *t = *state;
	struct ts_snapshot *snap = snapshot_new();
	struct owner_scan_opts o = { .proc_root = t->fp->root };
	struct owner_scan_result res;

	assert_non_null(snap);
	assert_int_equal(owner_scan_build(snap, &o, &res), 0);
	assert_int_equal(snap->n_owners, 0);
	assert_int_equal(snapshot_owners_finalize(snap), 0);
	free(res.candidates);
	ts_snapshot_free(snap);
}

/* ---- owner_scan_parse_link() ---- */

static void test_parse_socket_link(void **state)
{
	static const struct {
		const char *s;
		uint64_t inode;
	} good[] = {
		{ "socket:[1]", 1 },
		{ "socket:[12345]", 12345 },
		{ "socket:[4026531840]", 4026531840ull },
		{ "socket:[18446744073709551615]", UINT64_MAX },
		{ "socket:[007]", 7 },
	};
	static const char *const bad[] = {
		"", "s", "socket:", "socket:[", "socket:[]", "socket:[12x]", "socket:[x12]",
		"socket:[99999999999999999999999]", "socket:[18446744073709551616]",
		"socket:[0]", "socket:[-1]", "socket:[+1]", "socket:[ 1]", "socket:[1 ]",
		"socket:1", "socket:[1", "socket:1]", "socket[1]", "Socket:[1]", "pipe:[123]",
		"anon_inode:[eventpoll]", "/dev/null", "socket:[1]x", "socket:[[1]]",
		"socket:[0x10]", "socket:[123456789012345678901234567890]",
	};
	uint64_t ino;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		ino = 0;
		if (owner_scan_parse_link(good[i].s, strlen(good[i].s), &ino) != 0)
			fail_msg("rejected \"%s\"", good[i].s);
		assert_true(ino == good[i].inode);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ino = 42;
		if (owner_scan_parse_link(bad[i], strlen(bad[i]), &ino) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(ino == 42); /* untouched */
	}

	/* readlink() does not terminate: only len counts */
	ino = 0;
	assert_int_equal(owner_scan_parse_link("socket:[42]GARBAGE", 11, &ino), 0);
	assert_true(ino == 42);
	assert_int_equal(owner_scan_parse_link("socket:[42]", 10, &ino), -EINVAL);
	assert_int_equal(owner_scan_parse_link("socket:[42]", 0, &ino), -EINVAL);
	/* an exact-size buffer, no NUL after it (ASan sees any overread) */
	{
		char *p = malloc(11);

		assert_non_null(p);
		memcpy(p, "socket:[77]", 11);
		assert_int_equal(owner_scan_parse_link(p, 11, &ino), 0);
		assert_true(ino == 77);
		memcpy(p, "socket:[7]]", 11);
		assert_int_equal(owner_scan_parse_link(p, 11, &ino), -EINVAL);
		free(p);
	}
}

/* ---- snapshot_owners_finalize() ---- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_finalize_random(void **state)
{
	enum { N_SOCK = 3000, N_OWN = 7000 };
	struct ts_snapshot *snap = snapshot_new();
	uint32_t *count = calloc(N_SOCK, sizeof(*count));
	uint32_t *last_seq = malloc(N_SOCK * sizeof(*last_seq));
	uint32_t proc;
	size_t seen = 0;

	(void)state;
	assert_non_null(snap);
	assert_non_null(count);
	assert_non_null(last_seq);
	for (size_t i = 0; i < N_SOCK; i++) {
		add_socket(snap, 5000 + i, TS_STATE_ESTABLISHED);
		/* stale values finalize must overwrite */
		snap->sockets[i].owner_first = (uint32_t)i;
		snap->sockets[i].owner_count = 9;
	}
	assert_int_equal(snapshot_process_append(snap, &(struct ts_process){ .pid = 1 }, &proc), 0);
	/* owners as a scan finds them (by pid, then fd) but for sockets in
	 * random order; a third of the sockets get none */
	for (uint32_t k = 0; k < N_OWN; k++) {
		uint32_t si = rng() % N_SOCK;
		struct ts_owner o;

		if (si % 3 == 0)
			si++;
		o = (struct ts_owner){ .pid = (pid_t)(k / 140 + 1), .fd = (int)k,
				       .socket_index = si, .process_index = proc };
		assert_int_equal(snapshot_owner_append(snap, &o), 0);
		count[si]++;
	}

	assert_int_equal(snapshot_owners_finalize(snap), 0);
	assert_int_equal(snap->n_owners, N_OWN);
	for (size_t i = 0; i < N_SOCK; i++) {
		const struct ts_socket *s = &snap->sockets[i];
		const struct ts_owner *o = ts_snapshot_owners(snap, s);

		assert_int_equal(s->owner_count, count[i]);
		if (count[i] == 0) {
			assert_int_equal(s->owner_first, UINT32_MAX);
			assert_null(o);
			continue;
		}
		assert_true(s->owner_first + count[i] <= N_OWN);
		last_seq[i] = 0;
		for (uint32_t k = 0; k < count[i]; k++) {
			assert_int_equal(o[k].socket_index, i);
			/* by pid, then fd (fd is also the append order) */
			if (k) {
				assert_true(o[k].pid >= o[k - 1].pid);
				assert_true((uint32_t)o[k].fd > last_seq[i]);
			}
			last_seq[i] = (uint32_t)o[k].fd;
		}
		seen += count[i];
	}
	assert_int_equal(seen, N_OWN);
	/* groups are contiguous and in socket order */
	for (size_t k = 1; k < N_OWN; k++)
		assert_true(snap->owners[k - 1].socket_index <= snap->owners[k].socket_index);

	/* again: the same result */
	assert_int_equal(snapshot_owners_finalize(snap), 0);
	for (size_t i = 0; i < N_SOCK; i++)
		assert_int_equal(snap->sockets[i].owner_count, count[i]);

	free(count);
	free(last_seq);
	ts_snapshot_free(snap);
}

static void test_finalize_no_owners(void **state)
{
	struct ts_snapshot *snap = snapshot_new();

	(void)state;
	assert_non_null(snap);
	assert_int_equal(snapshot_owners_finalize(snap), 0); /* empty */
	for (size_t i = 0; i < 10; i++) {
		add_socket(snap, 100 + i, TS_STATE_LISTEN);
		snap->sockets[i].owner_first = 0;
		snap->sockets[i].owner_count = 1;
	}
	assert_int_equal(snapshot_owners_finalize(snap), 0);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(snap->sockets[i].owner_count, 0);
		assert_int_equal(snap->sockets[i].owner_first, UINT32_MAX);
		assert_null(ts_snapshot_owners(snap, &snap->sockets[i]));
	}
	ts_snapshot_free(snap);
}

/* ---- many sockets over few processes ---- */

enum { BIG_SOCKETS = 50000, BIG_PROCS = 20, BIG_UNKNOWN = 2000, BIG_SHARE = 97 };

static pid_t big_pid(size_t p)
{
	return (pid_t)(1000 + p * 37);
}

/* Inodes chosen to collide: a run of sequential ones, then multiples of 2^20
 * (equal low bits) and values above 32 bits. */
static uint64_t big_inode(size_t i)
{
	if (i < BIG_SOCKETS / 2)
		return 10000 + i;
	if (i < BIG_SOCKETS * 3 / 4)
		return (uint64_t)(i + 1) << 20;
	return 0x100000000ull + i * 0x9e3779b97f4a7c15ull % 0xffffffffffull;
}

struct big {
	struct fake_proc *fp;
	struct ts_snapshot *snap;
};

static int big_setup(void **state)
{
	struct big *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->fp = fp_new(true);
	t->snap = snapshot_new();
	assert_non_null(t->snap);
	for (size_t p = 0; p < BIG_PROCS; p++) {
		char comm[16];

		snprintf(comm, sizeof(comm), "worker%zu", p);
		fp_process(t->fp, big_pid(p), comm);
	}
	for (size_t i = 0; i < BIG_SOCKETS; i++) {
		size_t p = i % BIG_PROCS;

		add_socket(t->snap, big_inode(i), TS_STATE_ESTABLISHED);
		fp_socket_fd(t->fp, big_pid(p), (int)(3 + i / BIG_PROCS), big_inode(i));
		/* some are shared with the next process, at a high fd */
		if (i % BIG_SHARE == 0)
			fp_socket_fd(t->fp, big_pid((p + 1) % BIG_PROCS), (int)(100000 + i),
				     big_inode(i));
	}
	/* fds of sockets in no dump */
	for (size_t k = 0; k < BIG_UNKNOWN; k++)
		fp_socket_fd(t->fp, big_pid(k % BIG_PROCS), (int)(200000 + k), 5000000000000ull + k);
	*state = t;
	return 0;
}

static int big_teardown(void **state)
{
	struct big *t = *state;

	ts_snapshot_free(t->snap);
	fp_free(t->fp);
	free(t);
	return 0;
}

static void test_many_sockets(void **state)
{
	struct big *t = *state;
	struct owner_scan_opts o = { .proc_root = t->fp->root };
	struct owner_scan_result res;

	assert_int_equal(owner_scan_build(t->snap, &o, &res), 0);
	assert_int_equal(snapshot_owners_finalize(t->snap), 0);
	assert_int_equal(t->snap->n_processes, BIG_PROCS);
	assert_int_equal(t->snap->n_owners, BIG_SOCKETS + (BIG_SOCKETS + BIG_SHARE - 1) / BIG_SHARE);
	assert_processes_unique(t->snap);

	for (size_t i = 0; i < BIG_SOCKETS; i++) {
		const struct ts_socket *s = &t->snap->sockets[i];
		const struct ts_owner *ow = ts_snapshot_owners(t->snap, s);
		size_t p = i % BIG_PROCS;
		bool found_main = false, found_shared = false;

		assert_int_equal(s->owner_count, i % BIG_SHARE == 0 ? 2 : 1);
		assert_non_null(ow);
		for (size_t k = 0; k < s->owner_count; k++) {
			const struct ts_process *pr = ts_snapshot_process(t->snap, ow[k].process_index);
			char comm[16];

			assert_int_equal(ow[k].socket_index, i);
			assert_non_null(pr);
			assert_int_equal(pr->pid, ow[k].pid);
			if (ow[k].pid == big_pid(p) && ow[k].fd == (int)(3 + i / BIG_PROCS)) {
				found_main = true;
				snprintf(comm, sizeof(comm), "worker%zu", p);
				assert_string_equal(pr->comm, comm);
			} else if (ow[k].pid == big_pid((p + 1) % BIG_PROCS) &&
				   ow[k].fd == (int)(100000 + i)) {
				found_shared = true;
			} else {
				fail_msg("socket %zu: unexpected owner %d:%d", i, ow[k].pid, ow[k].fd);
			}
		}
		assert_true(found_main);
		assert_int_equal(found_shared, i % BIG_SHARE == 0);
	}
	free(res.candidates);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scan_all, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_scan_candidates_fake_tree, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_filter_pid, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_filter_pids_missing, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_filter_comm, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_filter_pid_and_comm, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_no_proc, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_empty_snapshot, small_setup, small_teardown),
		cmocka_unit_test_setup_teardown(test_owner_order, small_setup, small_teardown),
		cmocka_unit_test(test_parse_socket_link),
		cmocka_unit_test(test_finalize_random),
		cmocka_unit_test(test_finalize_no_owners),
		cmocka_unit_test_setup_teardown(test_many_sockets, big_setup, big_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
