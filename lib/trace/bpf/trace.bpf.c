// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * TCP state changes for `tcpstate trace`: one struct tstrace_rec per change
 * into a ring buffer (a full buffer is counted, never silent). Every hook
 * has alternatives; the loader (trace_bpf.c) picks, for each, the first
 * that loads and attaches on the running kernel:
 *
 *   state change   tp_btf/inet_sock_set_state, else raw_tp/inet_sock_set_state,
 *                  else fentry/tcp_set_state; each with a backup program on
 *                  the same hook for the changes the kernel skips the first
 *                  one for (nested in it on its CPU; see state_taken)
 *   TIME_WAIT in   fentry/inet_twsk_hashdance_schedule (6.10+), else
 *                  fentry/inet_twsk_hashdance, else read off the state change
 *                  hook (tw_from_state): FIN_WAIT2 or CLOSING -> CLOSE with no
 *                  socket error is tcp_time_wait()'s tcp_done()
 *   TIME_WAIT end  fentry/tcp_twsk_destructor (once per timewait socket,
 *                  whatever ended it), else fentry/inet_twsk_free, else user
 *                  space polls sock_diag (trace.c)
 *   bind           fexit/inet_csk_get_port (IDLE -> BOUND), else not seen
 *   holder         fentry/fd_install, else tp_btf/sys_exit of socket(),
 *                  accept() and accept4() (the fd they return)
 *   destruction    tp_btf/tcp_destroy_sock (to forget the socket)
 *
 * The sockets are read only with CO-RE reads (BPF_CORE_READ): no helper
 * that wants a trusted socket pointer (whether a hook's argument is trusted
 * differs between kernels; 6.18 refuses bpf_get_socket_cookie on untrusted
 * ones), so the cookie is read as it stands.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tstrace_rec.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define K_TCP_CLOSE 7
#define K_TCP_TIME_WAIT 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MAX_PORTS 8

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before load. netns_only: 0 for every namespace. */
const volatile __u32 netns_only = 0;
const volatile __u16 f_ports[MAX_PORTS] = {};  /* either end */
const volatile __u16 f_sports[MAX_PORTS] = {}; /* local */
const volatile __u16 f_dports[MAX_PORTS] = {}; /* remote */
const volatile __u8 n_ports = 0, n_sports = 0, n_dports = 0;
/* No TIME_WAIT entry hook loads: tell the hand-over from the state change. */
const volatile __u8 tw_from_state = 0;

#define K_TCP_FIN_WAIT2 5
#define K_TCP_CLOSING 11
#define RCV_SHUTDOWN 1

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TRACE_RING_BYTES);
} events SEC(".maps");

/* Loss counters, per CPU, indexed by enum trace_lost_slot (tstrace_rec.h):
 * records the ring buffer had no room for, by what they carried, and the
 * state changes the backup program took. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TRACE_LOST_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/*
 * The state changes the first program took on this CPU, most recent last.
 * The kernel runs a program at most once per CPU at a time: a state change
 * made in a softirq that interrupts it (another packet's) is skipped,
 * counted only in the program's recursion_misses. A second program on the
 * same hook, attached after it, runs after it at every change and takes the
 * change when it is not here: the first one was skipped for it. The first
 * one is busy from before its first instruction to after its last (the
 * kernel's count, not ours), so the question is asked of what it did, not of
 * a flag it sets: a flag leaves the instructions around the program's body
 * uncovered. Softirqs nest in a task's run, not in each other: between the
 * first program's push and the backup's look at a change, only the changes
 * of one interrupting softirq come in; TAKEN_SLOTS of them is far more than
 * one packet makes. What neither takes (the backup nested in itself) is
 * counted: the first's misses minus TRACE_LOST_RESCUED.
 */
#define TAKEN_SLOTS 16

struct taken {
	__u64 key[TAKEN_SLOTS];
	__u32 next;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct taken);
} state_taken SEC(".maps");

/* Full sockets just handed over to a timewait socket: their next
 * "-> TCP_CLOSE" (tcp_done() right after) is the hand-over, not an end. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} handed_over SEC(".maps");

static __always_inline bool port_in(const volatile __u16 *set, __u8 n, __u16 port)
{
	for (int i = 0; i < MAX_PORTS; i++)
		if (i < n && set[i] == port)
			return true;
	return false;
}

/* The kernel part of the selection: namespace and ports. */
static __always_inline bool selected(__u32 netns, __u16 sport, __u16 dport)
{
	if (netns_only && netns != netns_only)
		return false;
	if (n_ports && !port_in(f_ports, n_ports, sport) && !port_in(f_ports, n_ports, dport))
		return false;
	if (n_sports && !port_in(f_sports, n_sports, sport))
		return false;
	if (n_dports && !port_in(f_dports, n_dports, dport))
		return false;
	return true;
}

static __always_inline __u64 socket_inode(struct socket *sock)
{
	/* SOCK_INODE(): the inode sits next to the socket in struct socket_alloc. */
	long off = (long)bpf_core_field_offset(struct socket_alloc, vfs_inode) -
		   (long)bpf_core_field_offset(struct socket_alloc, socket);
	struct inode *inode = (struct inode *)((void *)sock + off);

	return BPF_CORE_READ(inode, i_ino);
}

/*
 * Hands e over. The reader is woken only once TRACE_WAKEUP_BYTES are waiting
 * (it reads every TRACE_LATENCY_MS anyway): a wakeup per event cost more than
 * the event itself at a few thousand a second, and each one runs pending
 * softirqs inside this program, whose changes the kernel then skips it for.
 */
static __always_inline void submit(struct tstrace_rec *e)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= TRACE_WAKEUP_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(e, flags);
}

static __always_inline void count_lost(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &slot);

	if (n)
		*n += 1;
}

/* Reserves and fills the part every event shares from a sock_common (the
 * head of full and timewait sockets alike); NULL when not selected or lost. */
static __always_inline struct tstrace_rec *event_start(struct sock_common *skc, __u8 kind,
							bool full)
{
	struct tstrace_rec *e;
	__u16 family, sport, dport;
	__u32 netns;

	family = BPF_CORE_READ(skc, skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	sport = BPF_CORE_READ(skc, skc_num);
	/* A full socket going to CLOSE has given its port back (inet_num is 0
	 * at the tracepoint); inet_sport keeps it. */
	if (!sport && full)
		sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)skc, inet_sport));
	dport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	/* A destruction is for forgetting: every socket followed needs it. */
	if (kind == TRACE_EV_DESTROY ? netns_only && netns != netns_only
				     : !selected(netns, sport, dport))
		return NULL;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(kind == TRACE_EV_DESTROY ? TRACE_LOST_OTHER : TRACE_LOST_EVENT);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->id = (__u64)skc;
	e->cookie = BPF_CORE_READ(skc, skc_cookie.counter);
	e->netns = netns;
	e->family = family;
	e->sport = sport;
	e->dport = dport;
	e->kind = kind;
	e->fd = -1;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (family == AF_INET6 && bpf_core_field_exists(skc->skc_v6_daddr)) {
		BPF_CORE_READ_INTO(&e->saddr, skc, skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, skc, skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__be32 *)e->saddr, skc, skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)e->daddr, skc, skc_daddr);
	}
	if (sport)
		e->flags |= TRACE_F_PORT;
	return e;
}

/* What the full socket's own fields say: its inode, or that it is orphaned. */
static __always_inline void event_holder(struct tstrace_rec *e, struct sock *sk)
{
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);

	if (!sock)
		e->flags |= TRACE_F_ORPHAN;
	else
		e->inode = socket_inode(sock);
}

static __always_inline int on_state(struct sock *sk, int oldstate, int newstate)
{
	struct tstrace_rec *e;
	__u64 key = (__u64)sk;
	__u8 kind = TRACE_EV_STATE, shutdown;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == K_TCP_CLOSE && bpf_map_lookup_elem(&handed_over, &key)) {
		bpf_map_delete_elem(&handed_over, &key);
		return 0;
	}
	/* tcp_time_wait() ends in tcp_done(): FIN_WAIT2 or CLOSING -> CLOSE
	 * without an error (a reset or an abort sets sk_err first). With the
	 * peer's FIN in (RCV_SHUTDOWN) the timewait socket is in TIME_WAIT,
	 * else it carries on FIN_WAIT2 (an orphan's tcp_fin_timeout). A full
	 * TIME_WAIT table (TCPTimeWaitOverflow) is the one case taken wrongly. */
	if (tw_from_state && newstate == K_TCP_CLOSE &&
	    (oldstate == K_TCP_FIN_WAIT2 || oldstate == K_TCP_CLOSING) &&
	    BPF_CORE_READ(sk, sk_err) == 0)
		kind = TRACE_EV_TW_ENTER;
	e = event_start(&sk->__sk_common, kind, true);
	if (!e)
		return 0;
	e->oldstate = (__u8)oldstate;
	e->newstate = (__u8)newstate;
	if (kind == TRACE_EV_TW_ENTER) {
		shutdown = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
		e->peer_id = key;
		e->newstate = (shutdown & RCV_SHUTDOWN) ? K_TCP_TIME_WAIT : K_TCP_FIN_WAIT2;
	}
	event_holder(e, sk);
	submit(e);
	return 0;
}

/* One state change of one socket; never 0. */
static __always_inline __u64 change_key(struct sock *sk, int oldstate, int newstate)
{
	return ((__u64)sk ^ ((__u64)oldstate << 56) ^ ((__u64)newstate << 48)) | 1;
}

/* The first program: takes the change, then says so. */
static __always_inline int state_first(struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0;
	struct taken *t;

	on_state(sk, oldstate, newstate);
	t = bpf_map_lookup_elem(&state_taken, &zero);
	if (t)
		t->key[t->next++ % TAKEN_SLOTS] = change_key(sk, oldstate, newstate);
	return 0;
}

/* The backup: a change the first program did not take (it was skipped:
 * busy on this CPU, under us); one it took is forgotten. */
static __always_inline int state_backup(struct sock *sk, int oldstate, int newstate)
{
	__u64 key = change_key(sk, oldstate, newstate);
	__u32 zero = 0;
	struct taken *t = bpf_map_lookup_elem(&state_taken, &zero);

	if (!t)
		return 0;
	for (int i = 0; i < TAKEN_SLOTS; i++) {
		/* Newest first: the change just taken is almost always the last. */
		__u32 slot = (t->next - 1 - i) % TAKEN_SLOTS;

		if (t->key[slot] == key) {
			t->key[slot] = 0;
			return 0;
		}
	}
	count_lost(TRACE_LOST_RESCUED);
	return on_state(sk, oldstate, newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_tp, struct sock *sk, int oldstate, int newstate)
{
	return state_first(sk, oldstate, newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_tp_backup, struct sock *sk, int oldstate, int newstate)
{
	return state_backup(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(state_raw, struct sock *sk, int oldstate, int newstate)
{
	return state_first(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(state_raw_backup, struct sock *sk, int oldstate, int newstate)
{
	return state_backup(sk, oldstate, newstate);
}

SEC("fentry/tcp_set_state")
int BPF_PROG(state_fentry, struct sock *sk, int state)
{
	int old = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (old == state)
		return 0;
	return state_first(sk, old, state);
}

SEC("fentry/tcp_set_state")
int BPF_PROG(state_fentry_backup, struct sock *sk, int state)
{
	int old = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (old == state)
		return 0;
	return state_backup(sk, old, state);
}

/* tcp_time_wait(): tw (already filled by inet_twsk_alloc, tw_substate
 * TIME_WAIT or FIN_WAIT2) takes sk's place; tcp_done(sk) follows. */
static __always_inline int on_tw_enter(struct inet_timewait_sock *tw, struct sock *sk)
{
	struct tstrace_rec *e;
	__u64 key = (__u64)sk;
	__u8 one = 1;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	/* An orphan's tcp_done() is the hand-over; a socket still held by an
	 * fd (shutdown(), not close()) does become CLOSED for its holder. */
	if (!BPF_CORE_READ(sk, sk_socket))
		bpf_map_update_elem(&handed_over, &key, &one, BPF_ANY);
	e = event_start((struct sock_common *)tw, TRACE_EV_TW_ENTER, false);
	if (!e)
		return 0;
	e->peer_id = key;
	e->cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	e->oldstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->newstate = BPF_CORE_READ(tw, tw_substate);
	event_holder(e, sk);
	submit(e);
	return 0;
}

SEC("fentry/inet_twsk_hashdance_schedule")
int BPF_PROG(tw_enter_schedule, struct inet_timewait_sock *tw, struct sock *sk)
{
	return on_tw_enter(tw, sk);
}

SEC("fentry/inet_twsk_hashdance")
int BPF_PROG(tw_enter_hashdance, struct inet_timewait_sock *tw, struct sock *sk)
{
	return on_tw_enter(tw, sk);
}

static __always_inline int on_tw_end(struct inet_timewait_sock *tw)
{
	struct tstrace_rec *e;

	e = event_start((struct sock_common *)tw, TRACE_EV_TW_END, false);
	if (!e)
		return 0;
	e->oldstate = BPF_CORE_READ(tw, tw_substate);
	e->newstate = K_TCP_CLOSE;
	e->flags |= TRACE_F_ORPHAN;
	submit(e);
	return 0;
}

SEC("fentry/tcp_twsk_destructor")
int BPF_PROG(tw_end_destructor, struct sock *sk)
{
	return on_tw_end((struct inet_timewait_sock *)sk);
}

SEC("fentry/inet_twsk_free")
int BPF_PROG(tw_end_free, struct inet_timewait_sock *tw)
{
	return on_tw_end(tw);
}

/* bind() (and listen()'s autobind, which comes after the state is LISTEN):
 * a TCP_CLOSE socket that got a port is BOUND. */
SEC("fexit/inet_csk_get_port")
int BPF_PROG(bind_exit, struct sock *sk, unsigned short snum, int ret)
{
	struct tstrace_rec *e;

	if (ret != 0 || BPF_CORE_READ(sk, __sk_common.skc_state) != K_TCP_CLOSE ||
	    BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	e = event_start(&sk->__sk_common, TRACE_EV_BIND, true);
	if (!e)
		return 0;
	e->oldstate = K_TCP_CLOSE;
	e->newstate = K_TCP_CLOSE;
	event_holder(e, sk);
	submit(e);
	return 0;
}

/* The socket is destroyed (tcp_v4_destroy_sock(), also for IPv6): user
 * space forgets it. Sockets closed while IDLE, BOUND or CLOSED change no
 * state on the way out; this is how their end is known. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(destroy_tp, struct sock *sk)
{
	struct tstrace_rec *e;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	e = event_start(&sk->__sk_common, TRACE_EV_DESTROY, true);
	if (!e)
		return 0;
	e->oldstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->newstate = e->oldstate;
	submit(e);
	return 0;
}

/* An fd now names sk's socket: who holds it. birth: the fd may be the
 * socket's first (socket(); any fd_install), whose record is then its birth. */
static __always_inline int on_hold(struct socket *sock, int fd, bool birth)
{
	struct tstrace_rec *e;
	struct sock *sk;
	__u16 family;
	__u32 netns;

	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (netns_only && netns != netns_only)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* The fd of a new socket (TCP_CLOSE, from socket()) carries its
		 * birth as IDLE, an event; the others only who holds it. */
		birth = birth && BPF_CORE_READ(sk, __sk_common.skc_state) == K_TCP_CLOSE;
		count_lost(birth ? TRACE_LOST_EVENT : TRACE_LOST_OTHER);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->id = (__u64)sk;
	e->kind = TRACE_EV_HOLD;
	e->family = family;
	e->netns = netns;
	e->fd = fd;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->inode = socket_inode(sock);
	e->cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	e->oldstate = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->newstate = e->oldstate;
	if (BPF_CORE_READ(sk, __sk_common.skc_num))
		e->flags |= TRACE_F_PORT;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	submit(e);
	return 0;
}

/* The socket of a file, NULL when it is not one. */
static __always_inline struct socket *file_socket(struct file *file)
{
	umode_t mode;

	if (!file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* socket(), accept(), SCM_RIGHTS, pidfd_getfd: an fd now names the socket.
 * Not filtered by port: a new socket has none yet. */
SEC("fentry/fd_install")
int BPF_PROG(hold, unsigned int fd, struct file *file)
{
	struct socket *sock = file_socket(file);

	return sock ? on_hold(sock, (int)fd, true) : 0;
}

#if defined(__TARGET_ARCH_x86)
#define NR_SOCKET 41
#define NR_ACCEPT 43
#define NR_ACCEPT4 288
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_SOCKET 198
#define NR_ACCEPT 202
#define NR_ACCEPT4 242
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#endif

/* Without fentry: the fd socket(), accept() and accept4() return, looked
 * up in the caller's fd table. dup(), fork() and SCM_RIGHTS are not seen. */
SEC("tp_btf/sys_exit")
int BPF_PROG(hold_sys_exit, struct pt_regs *regs, long ret)
{
#ifdef NR_SOCKET
	struct task_struct *task;
	struct file **fds, *file = NULL;
	struct socket *sock;
	long nr;

	if (ret < 0 || ret >= (1 << 20))
		return 0;
	nr = SYSCALL_NR(regs);
	if (nr != NR_SOCKET && nr != NR_ACCEPT && nr != NR_ACCEPT4)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if ((unsigned long)ret >= BPF_CORE_READ(task, files, fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (!fds || bpf_probe_read_kernel(&file, sizeof(file), &fds[ret]))
		return 0;
	sock = file_socket(file);
	return sock ? on_hold(sock, (int)ret, nr == NR_SOCKET) : 0;
#else
	return 0;
#endif
}
