/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * How long a socket has gone unused, read from its tcp_info and queues: the
 * one definition that `close` (its --min-idle) and `doctor` (the age of
 * CLOSE_WAIT and the close commands it prints) both use.
 *
 * A socket is idle when no data was sent or received and no ACK came from
 * the peer for idle_ms, nothing waits to be read and nothing written waits
 * for the peer's ACK. A program can still be using an idle socket (computing
 * an answer it has not written yet): only a long idle time makes that
 * unlikely, which is why acting on sockets asks for much more than reporting.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/socket.h"

/*
 * The default minimum idle time (seconds) before `close` acts on a socket it
 * selected, and the one `doctor` asks for in the commands it prints: well
 * above a slow request's duration.
 */
#define TS_MIN_IDLE_DEFAULT_S 60u
/* tcp_info's times are 32-bit milliseconds. */
#define TS_MIN_IDLE_MAX_S (UINT32_MAX / 1000u)

/* What moved last on a socket. */
enum ts_last_event {
	TS_LAST_DATA_SENT,
	TS_LAST_DATA_RECV,
	TS_LAST_ACK_RECV,
	_TS_LAST_EVENT_MAX,
};

/* "data sent", "data received", "the peer's last ACK"; NULL out of range. */
const char *ts_last_event_text(enum ts_last_event e);

struct ts_activity {
	uint64_t idle_ms;          /* since data was sent or received or the peer ACKed (the least) */
	enum ts_last_event last;   /* which of the three was the latest */
	uint64_t unread_bytes;     /* received, not yet read by the program */
	uint64_t unsent_bytes;     /* written by the program, not yet acknowledged by the peer */
};

/*
 * Bytes the program has not read: Recv-Q, less the peer's FIN in the states
 * after it arrived (CLOSE_WAIT, LAST_ACK, CLOSING), where Recv-Q counts the
 * FIN's sequence number until the program reads end-of-file.
 */
uint64_t ts_socket_unread_bytes(const struct ts_socket *s);

/*
 * Bytes written and not yet acknowledged: Send-Q, less our own FIN in the
 * states where it was sent and not acknowledged (FIN_WAIT_1, CLOSING,
 * LAST_ACK). LISTEN: 0 (its Send-Q is the backlog).
 */
uint64_t ts_socket_unsent_bytes(const struct ts_socket *s);

/*
 * Lower bound of the time since the peer last sent anything (data or ACK);
 * for CLOSE_WAIT, how long ago its FIN arrived at least. False without
 * tcp_info (*ret untouched). This is a socket's age for doctor (--min-age,
 * "at least" ages): a lower bound of the time in CLOSE_WAIT and FIN_WAIT_2,
 * entered on a segment from the peer (its FIN; its ACK of ours); not of the
 * time in FIN_WAIT_1, LAST_ACK or CLOSING (entered on our own FIN, which no
 * tcp_info time marks).
 * The idle time (ts_socket_activity()) is another measure: since anything
 * moved either way.
 */
bool ts_socket_peer_silence_ms(const struct ts_socket *s, uint64_t *ret);

/*
 * The activity of s. Returns 0, -ENODATA when the kernel gave no tcp_info
 * (procfs backend, TIME_WAIT and request sockets), or -ENOTCONN in the states
 * that never carried a connection (LISTEN, SYN_SENT, SYN_RECEIVED, IDLE,
 * BOUND, UNKNOWN), whose tcp_info times count from no event. *ret set only
 * on success.
 */
int ts_socket_activity(const struct ts_socket *s, struct ts_activity *ret);

enum ts_idle_verdict {
	TS_IDLE_ABANDONED,        /* idle for at least the minimum, nothing queued; or TIME_WAIT */
	TS_IDLE_RECENT,           /* something moved less than the minimum ago */
	TS_IDLE_UNREAD,           /* data waits for the program to read it */
	TS_IDLE_UNSENT,           /* data waits for the peer's ACK */
	TS_IDLE_NO_INFO,          /* no tcp_info: idle time unknown */
	TS_IDLE_NEVER_CONNECTED,  /* no connection yet (LISTEN, SYN_SENT, ...): idle time unknown */
	_TS_IDLE_VERDICT_MAX,
};

/*
 * Whether s has been abandoned: idle for at least min_idle_ms with nothing
 * queued either way. A TIME_WAIT socket carries nothing and counts as
 * abandoned. ret_act (may be NULL) gets the activity when the verdict is
 * one of ABANDONED (not TIME_WAIT), RECENT, UNREAD or UNSENT.
 */
enum ts_idle_verdict ts_socket_idle_verdict(const struct ts_socket *s, uint64_t min_idle_ms,
					    struct ts_activity *ret_act);

/* "264 ms", "3.1 s", "4.0 min", "2.5 h", "3.0 days" into buf. */
void ts_duration_text(uint64_t ms, char *buf, size_t size);
