// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * Socket owners: iter/task_file visits every (task, fd); for each TCP
 * socket fd it writes one struct owners_event to the iterator's seq_file.
 * User space (owners.c) reads the iterator fd. Needs Linux >= 5.11
 * (bpf_sock_from_file) and BTF; CO-RE, so one object fits every kernel.
 * It calls no helper that needs a trusted socket pointer (see owners()).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "owners_event.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_CLOSE_STATE 7 /* TCP_CLOSE: vmlinux.h has it only as an enum member of some kernels */

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * The iterator's context and its meta, declared here without CO-RE: every
 * field of an iterator context is 8 bytes wide (DEFINE_BPF_ITER_FUNC in
 * include/linux/bpf.h), and bpf_iter__task_file has been { meta, task, fd,
 * file } and bpf_iter_meta has begun with seq since both appeared (5.8):
 * the ABI of every task_file iterator program. The verifier checks each of
 * these accesses against the kernel's own types at load, so a layout that
 * differed would be a refusal, never a wrong read. It spares libbpf two
 * searches through the kernel's ~130k BTF types (about 1 ms each per run).
 */
struct task_file_ctx {
	struct iter_meta_abi *meta;
	struct task_struct *task;
	__u32 fd;
	__u32 fd_pad;
	struct file *file;
};

struct iter_meta_abi {
	struct seq_file *seq;
};

_Static_assert(__builtin_offsetof(struct task_file_ctx, file) == 24, "iterator context layout");

/* Kernel states (bit 1 << sk_state) to report; set by the loader before load. */
const volatile __u32 state_mask = 0xffffffff;

/*
 * The last task seen: its fds come one after the other, so the tgid, euid
 * and comm are looked up once per task, not once per socket. Keyed by the
 * task and its tid, so that a task freed and reallocated at the same address
 * within one walk is not mistaken for the old one. One reader at a time:
 * each collection loads its own program, and the seq_file serializes reads.
 */
struct task_cache {
	struct task_struct *task;
	__u32 tid;
	__u32 tgid; /* 0: not visible in our pid namespace */
	__u32 uid;
	char comm[OWNERS_COMM_LEN];
};
static struct task_cache last_task;

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

/*
 * The socket's ends, for sockets in TCP_CLOSE: no dump shows those, and
 * their fd is all the user has. Plain CO-RE reads; IPv6 fields only where
 * the kernel has them (CONFIG_IPV6).
 */
static __always_inline void read_ends(struct sock *sk, __u16 family, struct owners_event *e)
{
	struct inet_sock *inet = (struct inet_sock *)sk;
	int err;

	if (family == AF_INET6 && bpf_core_field_exists(sk->__sk_common.skc_v6_daddr)) {
		BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->remote_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__be32 *)e->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)e->remote_addr, sk, __sk_common.skc_daddr);
	}
	e->local_port = BPF_CORE_READ(inet, inet_sport);
	e->remote_port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	err = BPF_CORE_READ(sk, sk_err);
	e->sk_err = err > 0 && err < 256 ? (__u8)err : 0;
}

/*
 * No helper gets the socket: helpers that take one want a trusted pointer,
 * and whether sock->sk is one differs between kernels (6.18 calls it
 * untrusted and refuses bpf_get_socket_cookie() on it). The socket is only
 * read, with CO-RE-relocated field accesses, which need no trust: the few
 * fields every socket fd is tested on (sock->sk, family, state, protocol)
 * as direct loads through the BTF pointer, which the verifier turns into
 * fault-handled loads on trusted and untrusted pointers alike (tracing
 * programs, since 5.5); the rest with BPF_CORE_READ (bpf_probe_read_kernel()),
 * which also works on the scalars it returns. The direct loads spare three
 * helper calls per socket fd (~6 ms per 100k).
 */
SEC("iter/task_file")
int owners(struct bpf_iter__task_file *kernel_ctx)
{
	struct task_file_ctx *ctx = (struct task_file_ctx *)kernel_ctx;
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct task_struct *leader;
	struct owners_event e;
	struct socket *sock;
	struct sock *sk;
	__u32 tid;
	__u16 family;
	__u8 state;

	if (!task || !file)
		return 0;
	/* ctx->file is the iterator's own argument: trusted on every kernel. */
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	/* Family and state share a cache line; sk_protocol is further on:
	 * most sockets a filter rules out never touch it. */
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	state = sk->__sk_common.skc_state;
	if (state >= 32 || !(state_mask & (1u << state)))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	tid = task->pid;
	if (last_task.task != task || last_task.tid != tid) {
		leader = BPF_CORE_READ(task, group_leader);
		last_task.task = task;
		last_task.tid = tid;
		last_task.tgid = tgid_in_our_ns(leader);
		last_task.uid = BPF_CORE_READ(leader, cred, euid.val);
		__builtin_memset(last_task.comm, 0, sizeof(last_task.comm));
		bpf_probe_read_kernel_str(last_task.comm, sizeof(last_task.comm), &leader->comm);
	}
	if (!last_task.tgid)
		return 0;

	__builtin_memset(&e, 0, sizeof(e));
	/* Field by field: clang may merge copies into loads the verifier rejects. */
	e.tgid = last_task.tgid;
	e.inode = file->f_inode->i_ino;
	/* The cookie as it stands, 0 when nobody asked for it yet: generating
	 * one (bpf_get_socket_cookie) needs a trusted socket pointer. */
	e.cookie = sk->__sk_common.skc_cookie.counter;
	e.fd = ctx->fd;
	e.uid = last_task.uid;
	e.family = family;
	e.protocol = IPPROTO_TCP;
	e.state = state;
	__builtin_memcpy(e.comm, last_task.comm, sizeof(e.comm));
	if (state == TCP_CLOSE_STATE)
		read_ends(sk, family, &e);
	bpf_seq_write(seq, &e, sizeof(e));
	return 0;
}
