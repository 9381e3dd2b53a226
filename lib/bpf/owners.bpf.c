// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Socket owners: iter/task_file visits every (task, fd); for each TCP
 * socket fd it writes one struct owners_event to the iterator's seq_file.
 * User space (owners.c) reads the iterator fd. Needs Linux >= 5.11
 * (bpf_sock_from_file) and BTF; CO-RE, so one object fits every kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "owners_event.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* pid->numbers[level], read with a runtime index; 0 on failure. */
static __always_inline int read_upid(struct pid *pid, unsigned int level, struct upid *ret)
{
	unsigned long off = bpf_core_field_offset(struct pid, numbers) +
			    (unsigned long)level * bpf_core_type_size(struct upid);

	return bpf_probe_read_kernel(ret, sizeof(*ret), (void *)pid + off);
}

/*
 * The tgid as the reader's pid namespace sees it; 0 when it is not visible
 * there. The iterator runs in the read() of the loader (current), so its pid
 * namespace is current's: no level or inode to pass from user space, where
 * /proc/self/status NSpid is relative to the /proc mount and can mislead.
 */
static __always_inline __u32 tgid_in_our_ns(struct task_struct *leader)
{
	struct task_struct *me = (struct task_struct *)bpf_get_current_task();
	struct pid *mine = BPF_CORE_READ(me, thread_pid);
	struct pid *pid = BPF_CORE_READ(leader, thread_pid);
	struct upid ours = { 0 }, up = { 0 };
	unsigned int level;

	if (!pid || !mine)
		return 0;
	level = BPF_CORE_READ(mine, level);
	if (read_upid(mine, level, &ours) || !ours.ns)
		return 0;
	if (BPF_CORE_READ(pid, level) < level || read_upid(pid, level, &up))
		return 0;
	return up.ns == ours.ns ? (__u32)up.nr : 0;
}

SEC("iter/task_file")
int owners(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct task_struct *leader;
	struct owners_event e;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	__builtin_memset(&e, 0, sizeof(e));
	leader = BPF_CORE_READ(task, group_leader);
	e.tgid = tgid_in_our_ns(leader);
	if (!e.tgid)
		return 0;
	/* Field by field: clang may merge copies into loads the verifier rejects. */
	e.inode = BPF_CORE_READ(file, f_inode, i_ino);
	e.cookie = bpf_get_socket_cookie(sk);
	e.fd = ctx->fd;
	e.uid = BPF_CORE_READ(leader, cred, euid.val);
	e.family = family;
	e.protocol = IPPROTO_TCP;
	e.state = sk->__sk_common.skc_state;
	bpf_probe_read_kernel_str(e.comm, sizeof(e.comm), &leader->comm);
	bpf_seq_write(seq, &e, sizeof(e));
	return 0;
}
