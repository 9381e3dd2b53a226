/* SPDX-License-Identifier: MIT */
/*
 * Loader of owners.bpf.c: opens and loads the skeleton, makes an iterator
 * of it and reads its records. Built with -DTCPSTATE_NO_BPF it is two
 * stubs. libbpf is linked statically and silenced: the library never prints.
 */
#include <errno.h>

#include "bpf/owners.h"

#ifdef TCPSTATE_NO_BPF

int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata)
{
	return -EOPNOTSUPP;
}

int bpf_owners_built(void)
{
	return 0;
}

#else

#include <fcntl.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/owners_event.h"
#include "owners.skel.h"

_Static_assert(sizeof(struct owners_event) == 56, "owners_event has implicit padding");
_Static_assert(OWNERS_COMM_LEN == TS_COMM_LEN, "comm sizes differ");

#define READ_CHUNK (1u << 20)

int bpf_owners_built(void)
{
	return 1;
}

static bool kernel_at_least(unsigned want_major, unsigned want_minor)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > want_major || (major == want_major && minor >= want_minor);
}

static int no_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static int emit(const struct owners_event *e, pid_t only_pid,
		int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata)
{
	struct bpf_owner_rec r = {
		.inode = e->inode,
		.cookie = e->cookie,
		.pid = (pid_t)e->tgid,
		.fd = (int)e->fd,
		.uid = (uid_t)e->uid,
		.family = e->family,
		.protocol = e->protocol,
		.state = e->state,
	};

	/* Also when the kernel ignored the link info (before 6.1). */
	if (only_pid && r.pid != only_pid)
		return 0;
	memcpy(r.comm, e->comm, sizeof(r.comm));
	r.comm[sizeof(r.comm) - 1] = '\0';
	return cb(&r, userdata);
}

/* Reads the iterator to its end; records never straddle reads, but a partial
 * tail is carried over anyway. */
static int read_iter(int iter_fd, pid_t only_pid,
		     int (*cb)(const struct bpf_owner_rec *r, void *userdata), void *userdata)
{
	char *buf = malloc(READ_CHUNK);
	size_t have = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(iter_fd, buf + have, READ_CHUNK - have);
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		while (have - off >= sizeof(struct owners_event)) {
			struct owners_event e;

			memcpy(&e, buf + off, sizeof(e));
			off += sizeof(e);
			r = emit(&e, only_pid, cb, userdata);
			if (r < 0)
				goto out;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (r == 0 && have)
		r = -EPROTO; /* a truncated record: the program and this loader disagree */
out:
	free(buf);
	return r;
}

int bpf_owners_collect(pid_t only_pid, uint32_t kernel_states,
		       int (*cb)(const struct bpf_owner_rec *r, void *userdata),
		       void *userdata)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, attach);
	union bpf_iter_link_info linfo;
	struct owners_bpf *skel;
	struct bpf_link *link;
	int iter_fd, r;

	/* bpf_sock_from_file() is 5.11; CO-RE needs the kernel's BTF. */
	if (!kernel_at_least(5, 11) || access("/sys/kernel/btf/vmlinux", R_OK) < 0)
		return -EOPNOTSUPP;

	libbpf_set_print(no_print);
	skel = owners_bpf__open();
	if (!skel)
		return errno > 0 ? -errno : -ENOMEM;
	/* Read-only data: the verifier prunes what the mask rules out. */
	skel->rodata->state_mask = kernel_states ? kernel_states : UINT32_MAX;
	r = owners_bpf__load(skel);
	if (r < 0)
		goto out_destroy;

	/* Task iterators take a pid from Linux 6.1 on; older ones walk all. */
	if (only_pid && kernel_at_least(6, 1)) {
		memset(&linfo, 0, sizeof(linfo));
		linfo.task.pid = (__u32)only_pid;
		attach.link_info = &linfo;
		attach.link_info_len = sizeof(linfo);
	}
	link = bpf_program__attach_iter(skel->progs.owners, &attach);
	if (!link) {
		r = -errno;
		if (only_pid && (r == -ESRCH || r == -ENOENT))
			r = 0; /* no such process: it holds nothing */
		goto out_destroy;
	}
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		r = -errno;
		goto out_link;
	}
	r = read_iter(iter_fd, only_pid, cb, userdata);
	close(iter_fd);
out_link:
	bpf_link__destroy(link);
out_destroy:
	owners_bpf__destroy(skel);
	return r;
}

#endif
