/* SPDX-License-Identifier: MIT */
/*
 * What each state means on Linux, who has to act, and what ends it.
 *
 * The timings quoted assume the kernel defaults and the 200 ms minimum
 * retransmission timeout. Retry limits (tcp_retries2, tcp_orphan_retries,
 * tcp_syn_retries, tcp_synack_retries) are counts of retransmissions, but
 * the kernel turns retries2 and orphan_retries into a time budget (the time
 * that many doublings from 200 ms would take, capped at 120 s per step), so
 * the quoted durations hold whatever the round-trip time.
 */
#include <stddef.h>

#include "tcpstate/state_info.h"
#include "tcpstate/sysctl_registry.h"

/* The settings bounding a state, in the order its page lists them: names from the registry. */
#define SYSCTLS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define S(id) TS_SYSCTL_NAME(id)

static const struct ts_state_info infos[_TS_STATE_MAX] = {
	[TS_STATE_IDLE] = {
		.state = TS_STATE_IDLE,
		.meaning = "A socket this program created with socket() and has not bound, "
			   "connected or put in listening mode: it has no port and sends nothing.",
		.closed_first = "n/a",
		.actor = TS_ACTOR_THIS_PROGRAM,
		.who_must_act = "This program: it either goes on to use the socket (bind, connect, "
				"listen) or calls close(); until then it keeps a file descriptor.",
		.ends_it = "Only close() of the last descriptor referring to it, or the exit of "
			   "every process holding it. No timer applies.",
		.sysctls = NULL,
		.causes = "A socket opened ahead of time (a pool, a retry loop) and never used; an "
			  "error path between socket() and connect() that forgets to close; a "
			  "descriptor inherited across fork() or exec() without close-on-exec. Many "
			  "of them in one process are a descriptor leak that ends in EMFILE.",
		.how_to_see = "`tcpstate list --state idle`. ss cannot show it (no kernel table "
			      "holds it): `ls -l /proc/PID/fd` shows socket:[INODE] links whose "
			      "inode is in no `ss -tane` line, and `strace -f -e "
			      "trace=socket,connect,close -p PID` shows sockets opened and never "
			      "used or closed.",
	},
	[TS_STATE_BOUND] = {
		.state = TS_STATE_BOUND,
		.meaning = "A socket bound with bind() to a local address and port, neither "
			   "listening nor connected. It holds the port: another bind() to it fails "
			   "with EADDRINUSE unless both sockets set SO_REUSEADDR (and neither "
			   "listens) or both set SO_REUSEPORT under the same user.",
		.closed_first = "n/a",
		.actor = TS_ACTOR_THIS_PROGRAM,
		.who_must_act = "This program: it should call listen() or connect(), or close() the "
				"socket; meanwhile the port stays taken for any program that does not "
				"share it through SO_REUSEADDR or SO_REUSEPORT.",
		.ends_it = "listen() (to LISTEN), connect() (to SYN_SENT) or close(). No timer "
			   "applies.",
		.sysctls = NULL,
		.causes = "A server that failed between bind() and listen() but kept the "
			  "descriptor; a client that binds a fixed source address or port before "
			  "connect() and then gives up; a port reserved on purpose and forgotten.",
		.how_to_see = "`tcpstate list --state bound`. Linux 6.8 and later report these "
			      "sockets to sock_diag (TCP_BOUND_INACTIVE) and an ss new enough to "
			      "ask for that state lists them; with an older ss (Debian 12's shows "
			      "nothing), compare `ls -l /proc/PID/fd` with `ss -tane` as for "
			      "IDLE.",
	},
	[TS_STATE_LISTEN] = {
		.state = TS_STATE_LISTEN,
		.meaning = "A passive socket waiting for connections. The kernel completes "
			   "handshakes for it and queues the new connections until the program "
			   "takes them with accept().",
		.closed_first = "n/a",
		.actor = TS_ACTOR_NOBODY,
		.who_must_act = "Nobody while the accept queue has room: Linux queues up to the "
				"backlog plus one connection, so Recv-Q (connections waiting for "
				"accept()) may reach Send-Q (the backlog) + 1. When Recv-Q exceeds "
				"Send-Q the queue is full: this program is not calling accept() fast "
				"enough.",
		.ends_it = "close() of the listening socket; connections still waiting in its "
			   "queue are reset. No timer applies.",
		.sysctls = SYSCTLS(S(SOMAXCONN), S(TCP_ABORT_ON_OVERFLOW)),
		.causes = "Normal for every server. Trouble shows as a full accept queue: the "
			  "program is busy, blocked or stuck, and new clients either stall (the "
			  "kernel drops their SYN, or their final ACK and keeps them in "
			  "SYN_RECEIVED, so they retransmit; TcpExtListenOverflows counts it) or, "
			  "with net.ipv4.tcp_abort_on_overflow=1, are reset. The backlog given to "
			  "listen() is silently capped at net.core.somaxconn.",
		.how_to_see = "`tcpstate list --state listen` (Recv-Q: waiting for accept(), "
			      "Send-Q: the backlog); `ss -ltnp`; `nstat -az TcpExtListenOverflows "
			      "TcpExtListenDrops` counts the connections turned away.",
	},
	[TS_STATE_SYN_SENT] = {
		.state = TS_STATE_SYN_SENT,
		.meaning = "This side called connect() and sent a SYN; no SYN-ACK has come back "
			   "yet.",
		.closed_first = "nobody yet",
		.actor = TS_ACTOR_NETWORK,
		.who_must_act = "The network or the remote host: the SYN, or the answer to it, "
				"is lost (a firewall that drops, a host that is down, a wrong "
				"address). The kernel keeps retransmitting the SYN on its own.",
		.ends_it = "A SYN-ACK (to ESTABLISHED); a RST (connect() fails with "
			   "ECONNREFUSED); an ICMP unreachable; or the retries running out: "
			   "net.ipv4.tcp_syn_retries retransmissions, each waiting twice as long "
			   "as the one before, about 127 s in all with the default of 6, then "
			   "ETIMEDOUT. The socket options TCP_SYNCNT and TCP_USER_TIMEOUT override "
			   "the limit, and the program may give up sooner by closing.",
		.sysctls = SYSCTLS(S(TCP_SYN_RETRIES)),
		.causes = "A firewall that silently drops SYNs; a destination host that is down "
			  "or unrouted; a wrong address or port on a path that sends no RST. Many "
			  "SYN_SENT sockets toward one destination mean it cannot be reached.",
		.how_to_see = "`tcpstate list --state syn-sent` (the timer column counts the "
			      "retransmissions); `ss -tno state syn-sent`; `tcpdump -ni any "
			      "'tcp[tcpflags] & tcp-syn != 0'` shows SYNs leaving without "
			      "answers.",
	},
	[TS_STATE_SYN_RECEIVED] = {
		.state = TS_STATE_SYN_RECEIVED,
		.meaning = "A SYN reached a listening socket and this side answered with a "
			   "SYN-ACK; the handshake has not completed here. Either the client's "
			   "final ACK has not arrived, or it arrived and the kernel set it aside: "
			   "the listener defers accept (TCP_DEFER_ACCEPT) and the ACK carried no "
			   "data, or its accept queue was full. Linux keeps this as a small request "
			   "entry of the listener: no descriptor, no program sees it yet; the "
			   "client may already see the connection established.",
		.closed_first = "nobody yet",
		.actor = TS_ACTOR_NETWORK,
		.who_must_act = "The network or the client: the SYN-ACK or the ACK answering it "
				"is lost, or the SYN came from a forged address (a flood); with "
				"TCP_DEFER_ACCEPT, nobody: the client has not sent its request yet. "
				"The program is not involved until the connection completes (its "
				"accept queue aside).",
		.ends_it = "The client's ACK (the connection joins the accept queue as "
			   "ESTABLISHED; with TCP_DEFER_ACCEPT, the client's first data, or its "
			   "answer to the SYN-ACK the kernel sends again when the deferral runs "
			   "out), a RST, or the SYN-ACK retries running out: "
			   "net.ipv4.tcp_synack_retries retransmissions with doubling waits, about "
			   "63 s with the default of 5, after which the entry is dropped without a "
			   "word. When many handshakes are pending, entries that already "
			   "retransmitted get fewer tries.",
		.sysctls = SYSCTLS(S(TCP_SYNACK_RETRIES), S(TCP_MAX_SYN_BACKLOG), S(TCP_SYNCOOKIES)),
		.causes = "A SYN flood from forged sources, which never answer; a path that "
			  "loses the SYN-ACK (asymmetric routing, a firewall open in one direction "
			  "only); TCP_DEFER_ACCEPT on the listener, which holds the handshake until "
			  "the client sends data. How many may wait is bounded by the listener's "
			  "backlog (and, without syncookies, by net.ipv4.tcp_max_syn_backlog); "
			  "beyond that, with net.ipv4.tcp_syncookies=1 (the default) the kernel "
			  "answers with SYN cookies and keeps no entry at all.",
		.how_to_see = "`tcpstate list --state syn-recv`; `ss -tn state syn-recv`; `nstat "
			      "-az TcpExtSyncookiesSent TcpExtListenDrops TcpExtTCPDeferAcceptDrop` "
			      "shows cookies, drops and ACKs held back by TCP_DEFER_ACCEPT; "
			      "`tcpstate explain ADDR:PORT` says whether the listener defers "
			      "accept.",
	},
	[TS_STATE_ESTABLISHED] = {
		.state = TS_STATE_ESTABLISHED,
		.meaning = "The handshake is complete and neither side has closed: data can flow "
			   "both ways.",
		.closed_first = "nobody yet",
		.actor = TS_ACTOR_NOBODY,
		.who_must_act = "Nobody: this is where a connection lives, idle or not. A Send-Q "
				"that keeps growing waits on a peer that does not read or cannot "
				"be reached; a Recv-Q that keeps growing waits on this program to "
				"read.",
		.ends_it = "Either program closing (this side moves to FIN_WAIT_1, or to "
			   "CLOSE_WAIT when the peer closes first), a RST, or a kernel timeout. "
			   "Unacknowledged data is retransmitted until net.ipv4.tcp_retries2 "
			   "runs out (about 15 minutes with the default of 15; TCP_USER_TIMEOUT "
			   "overrides it). An idle connection is probed only if the program set "
			   "SO_KEEPALIVE: the first probe after net.ipv4.tcp_keepalive_time (2 h "
			   "by default), then up to net.ipv4.tcp_keepalive_probes probes "
			   "net.ipv4.tcp_keepalive_intvl apart. Without keepalive, an idle "
			   "connection whose peer vanished stays ESTABLISHED forever.",
		.sysctls = SYSCTLS(S(TCP_KEEPALIVE_TIME), S(TCP_KEEPALIVE_INTVL), S(TCP_KEEPALIVE_PROBES),
				   S(TCP_RETRIES2)),
		.causes = "Normal traffic and connection pools. Stale ones come from a peer "
			  "that crashed or lost power, or a NAT or firewall that forgot the flow, "
			  "while this side sends nothing and has no keepalive.",
		.how_to_see = "`tcpstate list --state established`; `ss -tnoi state established` "
			      "shows timers and the time since the last send and receive; "
			      "`tcpstate explain ADDR:PORT` says how long a connection has been "
			      "quiet.",
	},
	[TS_STATE_FIN_WAIT_1] = {
		.state = TS_STATE_FIN_WAIT_1,
		.meaning = "This side has closed (close() or shutdown(SHUT_WR)) and sent or "
			   "queued its FIN; the peer has not acknowledged it yet.",
		.closed_first = "this side",
		.actor = TS_ACTOR_NETWORK,
		.who_must_act = "The network or the peer: the FIN, or data queued ahead of it, "
				"is not being acknowledged. Normally this lasts one round trip; long "
				"ones mean the peer is unreachable or advertises a zero window "
				"because its program stopped reading.",
		.ends_it = "The ACK of the FIN (to FIN_WAIT_2); the peer's own FIN (to CLOSING, "
			   "or straight to TIME_WAIT when it also acknowledges ours); a RST; or "
			   "the retries running out: net.ipv4.tcp_orphan_retries when the program "
			   "has closed the descriptor (0, the default, means 8: about 100 s), "
			   "net.ipv4.tcp_retries2 (about 15 minutes) when it only called "
			   "shutdown() and still holds it. While the peer keeps answering "
			   "zero-window probes, a socket still held by its program can stay here "
			   "indefinitely. Orphans are also reset early when there are more than "
			   "net.ipv4.tcp_max_orphans of them or TCP memory runs short.",
		.sysctls = SYSCTLS(S(TCP_ORPHAN_RETRIES), S(TCP_RETRIES2)),
		.causes = "A peer host that is gone or unreachable; a peer program that stopped "
			  "reading, so its receive window is zero and the FIN waits behind unsent "
			  "data; a firewall dropping packets after the flow was closed on its "
			  "side.",
		.how_to_see = "`tcpstate list --state fin-wait-1` (Send-Q: data still queued "
			      "ahead of the FIN; the timer shows 'on' for retransmission or "
			      "'persist' for zero-window probes); `ss -tno state fin-wait-1`.",
	},
	[TS_STATE_FIN_WAIT_2] = {
		.state = TS_STATE_FIN_WAIT_2,
		.meaning = "This side's FIN has been acknowledged: this side will send nothing "
			   "more, the peer still may. The connection waits for the peer's FIN.",
		.closed_first = "this side",
		.actor = TS_ACTOR_PEER_PROGRAM,
		.who_must_act = "The peer's program: it must close its side (its socket is in "
				"CLOSE_WAIT until it does). If this program only called "
				"shutdown(SHUT_WR) and still holds the descriptor, it is an ordinary "
				"half-close and this program can still read.",
		.ends_it = "The peer's FIN (to TIME_WAIT) or a RST. When this program has closed "
			   "the descriptor (an orphan), the kernel waits net.ipv4.tcp_fin_timeout "
			   "seconds (60 by default; TCP_LINGER2 per socket) for the peer and then "
			   "drops the socket. While the descriptor is open, tcp_fin_timeout does "
			   "not apply: only the peer ends it (or keepalive, if enabled, once the "
			   "peer is gone).",
		.sysctls = SYSCTLS(S(TCP_FIN_TIMEOUT)),
		.causes = "The peer's program leaks its socket (look for CLOSE_WAIT on the peer "
			  "first); a peer that vanished after acknowledging the FIN; a protocol "
			  "that half-closes and then waits for a slow answer.",
		.how_to_see = "`tcpstate list --state fin-wait-2` (orphans have no owner; their "
			      "timer counts down tcp_fin_timeout: 'timewait', or first 'keepalive' "
			      "when tcp_fin_timeout exceeds 60 s); `ss -tno state fin-wait-2`; on the peer, "
			      "`tcpstate list --state close-wait --port PORT` finds the socket "
			      "that was never closed.",
	},
	[TS_STATE_CLOSE_WAIT] = {
		.state = TS_STATE_CLOSE_WAIT,
		.meaning = "The peer has closed its sending side (its FIN arrived and was "
			   "acknowledged), but this program has not closed the socket. The kernel "
			   "waits for the program.",
		.closed_first = "the peer",
		.actor = TS_ACTOR_THIS_PROGRAM,
		.who_must_act = "This program: it must call close() on the descriptor, after "
				"reading whatever is left. Until then the descriptor, the socket "
				"and its port stay in use. The peer's socket waits in FIN_WAIT_2 only "
				"while its program still holds it (after shutdown()); a peer that "
				"closed it has an orphan there, which its kernel drops after "
				"tcp_fin_timeout (60 s by default), so the peer is usually gone long "
				"before this socket is closed.",
		.ends_it = "Only this program: close() or shutdown(SHUT_WR) sends our FIN (to "
			   "LAST_ACK), and so does the exit of the processes holding it; a close() "
			   "that leaves unread data behind sends a RST instead and the socket is "
			   "gone at once. No kernel "
			   "timer ends CLOSE_WAIT and no sysctl bounds it. A RST from the peer (for "
			   "example in answer to data sent after the peer is gone) only turns it "
			   "into CLOSED, and the descriptor is still held.",
		.sysctls = NULL,
		.causes = "An application bug: the program never called close(). Typically a "
			  "code path (often an error or timeout path) that drops a connection "
			  "without closing it, a connection pool that never notices the peer left "
			  "(read() returned 0 and nobody looked), or a worker blocked elsewhere. "
			  "They pile up until the process runs out of descriptors (EMFILE).",
		.how_to_see = "`tcpstate list --state close-wait` (`tcpstate summary` names the "
			      "processes holding the most); `ss -tanp state close-wait`; `ls -l "
			      "/proc/PID/fd | grep -c socket` to watch the count grow; `strace -f "
			      "-e trace=read,recvfrom,close -p PID` shows reads that return 0 "
			      "with no close() after them.",
	},
	[TS_STATE_LAST_ACK] = {
		.state = TS_STATE_LAST_ACK,
		.meaning = "The peer closed first; then this side closed too and sent its FIN, "
			   "which the peer has not acknowledged yet.",
		.closed_first = "the peer",
		.actor = TS_ACTOR_NETWORK,
		.who_must_act = "The network or the peer: the final ACK is missing. Normally "
				"this lasts one round trip; long ones mean the peer host is gone or "
				"a firewall drops the ACK.",
		.ends_it = "The ACK of our FIN (the socket is freed; this side keeps no "
			   "TIME_WAIT), a RST, or the retries running out: "
			   "net.ipv4.tcp_orphan_retries when the program closed the descriptor, "
			   "the usual case (0, the default, means 8: about 100 s), "
			   "net.ipv4.tcp_retries2 (about 15 minutes) when it called shutdown() "
			   "and still holds it.",
		.sysctls = SYSCTLS(S(TCP_ORPHAN_RETRIES), S(TCP_RETRIES2)),
		.causes = "A peer that disappeared between sending its FIN and receiving ours "
			  "(a crash, an expired NAT mapping); a firewall or conntrack entry that "
			  "expired after the peer's FIN and now drops the last ACK; loss on a bad "
			  "path.",
		.how_to_see = "`tcpstate list --state last-ack` (the timer column shows the "
			      "retransmissions); `ss -tno state last-ack`.",
	},
	[TS_STATE_CLOSING] = {
		.state = TS_STATE_CLOSING,
		.meaning = "Both sides sent a FIN at about the same time (a simultaneous close): "
			   "the peer's FIN has arrived, but ours has not been acknowledged.",
		.closed_first = "both at once",
		.actor = TS_ACTOR_NETWORK,
		.who_must_act = "The network or the peer: the ACK of our FIN is missing. Rare, "
				"and normally over in one round trip.",
		.ends_it = "The ACK of our FIN (to TIME_WAIT), a RST, or the retries running "
			   "out: net.ipv4.tcp_orphan_retries when the program closed the "
			   "descriptor (0 means 8: about 100 s), net.ipv4.tcp_retries2 (about 15 "
			   "minutes) while it still holds it.",
		.sysctls = SYSCTLS(S(TCP_ORPHAN_RETRIES), S(TCP_RETRIES2)),
		.causes = "Protocols in which both ends decide at the same moment that the "
			  "exchange is over; a lost ACK; a peer that vanished right after sending "
			  "its FIN.",
		.how_to_see = "`tcpstate list --state CLOSING` (in capitals: this state alone; in "
			      "lower case, `closing` selects every closing state); `ss -tno state "
			      "closing`.",
	},
	[TS_STATE_TIME_WAIT] = {
		.state = TS_STATE_TIME_WAIT,
		.meaning = "This side closed first and both FINs have been exchanged and "
			   "acknowledged. The kernel keeps a small record of the connection so "
			   "that it can answer a retransmitted FIN and so that stray old segments "
			   "are not taken for part of a new connection between the same addresses "
			   "and ports.",
		.closed_first = "this side",
		.actor = TS_ACTOR_KERNEL_TIMER,
		.who_must_act = "The kernel's timer: nothing for anyone to do. No program holds "
				"it; it costs a small kernel record, not a descriptor.",
		.ends_it = "A fixed 60 s timer (TCP_TIMEWAIT_LEN, compiled into the kernel: no "
			   "sysctl sets it). It can end sooner when a new connection reuses the "
			   "same addresses and ports: a new SYN with a higher sequence number or "
			   "timestamp on the passive side, or, on the connecting side, "
			   "net.ipv4.tcp_tw_reuse (1: always, 2: loopback only, the default) when "
			   "timestamps are on and the entry is old enough. A RST also removes it "
			   "unless net.ipv4.tcp_rfc1337=1. net.ipv4.tcp_max_tw_buckets caps how "
			   "many exist: beyond it, connections close without TIME_WAIT.",
		.sysctls = SYSCTLS(S(TCP_MAX_TW_BUCKETS), S(TCP_TW_REUSE)),
		.causes = "Normal on whichever side closes first. Large numbers come from "
			  "clients that open one short connection per request, or from servers "
			  "that close first (HTTP without keep-alive). They matter only when a "
			  "client runs out of local ports toward one destination (connect() fails "
			  "with EADDRNOTAVAIL); the remedy is reusing connections, not a shorter "
			  "timer.",
		.how_to_see = "`tcpstate list --state time-wait` (the timer column shows the time "
			      "left); `ss -tan state time-wait`; `ss -s` counts them; `nstat -az "
			      "TcpExtTCPTimeWaitOverflow` counts the connections that closed "
			      "without one.",
	},
	[TS_STATE_CLOSED] = {
		.state = TS_STATE_CLOSED,
		.meaning = "The connection is over (reset, refused, timed out, or closed by both "
			   "sides) but this program still holds the socket's descriptor. The "
			   "kernel has forgotten the connection; only the descriptor remains.",
		.closed_first = "n/a",
		.actor = TS_ACTOR_THIS_PROGRAM,
		.who_must_act = "This program: it must close() the descriptor. Its next read or "
				"write reports the error (ECONNRESET, EPIPE, ETIMEDOUT) or end of "
				"file.",
		.ends_it = "close() of the last descriptor, or the exit of the processes "
			   "holding it. No timer applies.",
		.sysctls = NULL,
		.causes = "A connection reset by the peer, or aborted by a keepalive or "
			  "retransmission timeout, whose program never touched it again; a failed "
			  "connect() whose descriptor was kept; a CLOSE_WAIT socket that a RST "
			  "finally ended. Like CLOSE_WAIT, a descriptor leak.",
		.how_to_see = "`tcpstate list --state closed`. ss cannot show it (the kernel "
			      "keeps it in no table): `ls -l /proc/PID/fd` shows socket:[INODE] "
			      "links missing from `ss -tane`; `strace -f -e trace=close -p PID` "
			      "shows whether the program ever closes them.",
	},
	[TS_STATE_UNKNOWN] = {
		.state = TS_STATE_UNKNOWN,
		.meaning = "A TCP socket held by a process and in no kernel table, which "
			   "tcpstate was not allowed to inspect: it is IDLE, BOUND or CLOSED, but "
			   "which one cannot be told without copying the descriptor.",
		.closed_first = "n/a",
		.actor = TS_ACTOR_THIS_PROGRAM,
		.who_must_act = "This program, whichever of the three it is: only close() ends "
				"it. Run tcpstate as root to learn which.",
		.ends_it = "close() of the last descriptor, or the exit of the processes "
			   "holding it. No timer applies.",
		.sysctls = NULL,
		.causes = "tcpstate ran without root, or kernel.yama.ptrace_scope forbids "
			  "copying the holder's descriptors (pidfd_getfd).",
		.how_to_see = "`sudo tcpstate list --state idle,bound,closed --pid PID`",
	},
};

const struct ts_state_info *ts_state_info(enum ts_state state)
{
	if ((unsigned)state >= _TS_STATE_MAX)
		return NULL;
	return &infos[state];
}
