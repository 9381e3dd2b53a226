/* SPDX-License-Identifier: MIT */
/* The BPF loaders' shared pieces (bpf_load.h). */
#ifndef TCPSTATE_NO_BPF

#include <errno.h>
#include <sys/eventfd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "snapshot/bpf/bpf_load.h"

static __thread char first_warning[256];

__attribute__((format(printf, 2, 0)))
static int keep_first_warning(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	size_t len;

	if (level != LIBBPF_WARN || first_warning[0])
		return 0;
	vsnprintf(first_warning, sizeof(first_warning), fmt, ap);
	len = strlen(first_warning);
	while (len > 0 && (first_warning[len - 1] == '\n' || first_warning[len - 1] == ' '))
		first_warning[--len] = '\0';
	return 0;
}

void bpf_load_quiet(void)
{
	libbpf_set_print(keep_first_warning);
	first_warning[0] = '\0';
}

const char *bpf_load_first_warning(void)
{
	return first_warning;
}

const char *bpf_load_warning_or(const char *fallback)
{
	return first_warning[0] ? first_warning : fallback;
}

void bpf_status_set(struct ts_bpf_status *st, enum ts_bpf_failure failure, int err,
		    const char *detail)
{
	if (!st)
		return;
	st->failure = failure;
	st->err = err;
	snprintf(st->detail, sizeof(st->detail), "%s", detail ? detail : "");
}

void bpf_verifier_tail(const char *log, char *out, size_t size)
{
	size_t len = strlen(log), start;

	while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	start = len > size - 1 ? len - (size - 1) : 0;
	if (start > 0) {
		const char *nl = memchr(log + start, '\n', len - start);

		start = nl ? (size_t)(nl + 1 - log) : len;
	}
	memcpy(out, log + start, len - start);
	out[len - start] = '\0';
}

bool bpf_load_kernel_at_least(unsigned want_major, unsigned want_minor)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > want_major || (major == want_major && minor >= want_minor);
}

int bpf_load_kernel_check(unsigned major, unsigned minor, const char *need,
			  struct ts_bpf_status *st)
{
	struct utsname u;
	char why[192];

	if (!bpf_load_kernel_at_least(major, minor)) {
		if (uname(&u) < 0)
			snprintf(u.release, sizeof(u.release), "?");
		snprintf(why, sizeof(why), "kernel %.64s is older than %u.%u (no %s)", u.release,
			 major, minor, need);
		bpf_status_set(st, TS_BPF_FAILURE_KERNEL, EOPNOTSUPP, why);
		return -EOPNOTSUPP;
	}
	/* CO-RE needs the kernel's BTF. */
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		bpf_status_set(st, TS_BPF_FAILURE_KERNEL, EOPNOTSUPP,
			       errno == ENOENT ? "the kernel has no BTF (/sys/kernel/btf/vmlinux is "
						 "missing: CONFIG_DEBUG_INFO_BTF)"
					       : "/sys/kernel/btf/vmlinux cannot be read");
		return -EOPNOTSUPP;
	}
	return 0;
}

#define LOAD_FDS 16

int bpf_load_fds_available(struct ts_bpf_status *st)
{
	int fds[LOAD_FDS], n, r = 0;

	for (n = 0; n < LOAD_FDS; n++) {
		/* An eventfd needs no file system (a host's /dev/null may be 0700). */
		fds[n] = eventfd(0, EFD_CLOEXEC);
		if (fds[n] < 0) {
			r = -errno;
			break;
		}
	}
	while (n > 0)
		close(fds[--n]);
	if (r == -EMFILE || r == -ENFILE)
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, -r,
			       r == -EMFILE ? "too few free file descriptors to load it (RLIMIT_NOFILE)"
					    : "the system's file table is full (fs.file-max)");
	else if (r < 0)
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, -r, "cannot make an eventfd");
	return r;
}

void bpf_load_failed(int r, const char *log, struct ts_bpf_status *st)
{
	if (r == -EPERM) {
		bpf_status_set(st, TS_BPF_FAILURE_PRIVILEGE, EPERM, NULL);
	} else if (strstr(log, "wasn't created")) {
		/* libbpf's own note: a map it could not create (a feature
		 * probe failed), not the verifier's judgement. */
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, -r, "libbpf could not create the "
			       "program's maps");
	} else if (log[0]) {
		bpf_status_set(st, TS_BPF_FAILURE_VERIFIER, -r, NULL);
		if (st)
			bpf_verifier_tail(log, st->detail, sizeof(st->detail));
	} else if (r == -ESRCH && strstr(bpf_load_first_warning(), "kernel BTF")) {
		/* libbpf says ESRCH for any failure to read the kernel's BTF;
		 * read it once more to learn the errno (ENOMEM under ulimit -v). */
		struct btf *btf = btf__parse("/sys/kernel/btf/vmlinux", NULL);
		long e = libbpf_get_error(btf);

		btf__free(e ? NULL : btf);
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, e ? (int)-e : -r,
			       "libbpf could not read the kernel's BTF (/sys/kernel/btf/vmlinux)");
	} else {
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, -r,
			       bpf_load_warning_or("loading the BPF object failed"));
	}
}

int bpf_load_prepare(unsigned major, unsigned minor, const char *need, struct ts_bpf_status *st)
{
	int r = bpf_load_kernel_check(major, minor, need, st);

	if (r == 0)
		r = bpf_load_fds_available(st);
	if (r == 0)
		bpf_load_quiet();
	return r;
}

int bpf_load_open_failed(struct ts_bpf_status *st)
{
	int r = errno > 0 ? -errno : -ENOMEM;

	bpf_status_set(st, r == -EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER, -r,
		       bpf_load_warning_or("opening the BPF object failed"));
	return r;
}

/* libbpf's retry with log_level 1 writes the verifier's log here; a program's
 * whole log is a few tens of KiB. */
#define VERIFIER_LOG_SIZE (1u << 20)

int bpf_load_skeleton(struct bpf_object_skeleton *s, struct bpf_program *prog,
		      struct ts_bpf_status *st)
{
	char *log = calloc(1, VERIFIER_LOG_SIZE);
	int r;

	if (!log) {
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, ENOMEM, NULL);
		return -ENOMEM;
	}
	/* libbpf loads without a log first and, only when that fails, again
	 * with log_level 1 into this buffer. */
	bpf_program__set_log_buf(prog, log, VERIFIER_LOG_SIZE);
	r = bpf_object__load_skeleton(s);
	bpf_program__set_log_buf(prog, NULL, 0);
	if (r < 0)
		bpf_load_failed(r, log, st);
	free(log);
	return r;
}

struct bpf_link *bpf_load_attach_iter(struct bpf_program *prog,
				      const struct bpf_iter_attach_opts *opts,
				      struct ts_bpf_status *st)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, opts);
	int saved = errno;

	if (!link)
		bpf_status_set(st, saved == EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER,
			       saved, "attaching the iterator failed");
	errno = saved;
	return link;
}

int bpf_load_read_iter(struct bpf_link *link, char *buf, size_t buf_size, size_t rec_size,
		       int (*cb)(const void *rec, void *userdata), void *userdata,
		       struct ts_bpf_status *st)
{
	_Alignas(8) unsigned char rec[BPF_ITER_RECORD_MAX];
	size_t have = 0;
	int iter_fd, r = 0;

	if (rec_size == 0 || rec_size > sizeof(rec) || buf_size < rec_size)
		return -EINVAL;
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		r = -errno;
		bpf_status_set(st, r == -EPERM ? TS_BPF_FAILURE_PRIVILEGE : TS_BPF_FAILURE_OTHER, -r,
			       "creating the iterator failed");
		return r;
	}
	for (;;) {
		ssize_t n = read(iter_fd, buf + have, buf_size - have);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			bpf_status_set(st, TS_BPF_FAILURE_OTHER, -r, "reading the iterator failed");
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		while (have - off >= rec_size) {
			memcpy(rec, buf + off, rec_size);
			off += rec_size;
			r = cb(rec, userdata);
			if (r < 0)
				goto out;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (have) {
		r = -EPROTO;
		bpf_status_set(st, TS_BPF_FAILURE_OTHER, EPROTO,
			       "a truncated record: the program and its loader disagree");
	}
out:
	close(iter_fd);
	return r;
}

#endif
