/* SPDX-License-Identifier: MIT */
/*
 * Records a sock_diag TCP dump (AF_INET then AF_INET6, every state, with
 * INET_DIAG_INFO) as the kernel sent it: repeated [u32 length][one recv()
 * buffer], for test_diag to replay. Prints the sockets it parsed, one a
 * line: "FAMILY STATE LPORT RPORT INODE TIMER".
 *
 * Run it inside a namespace of your own (unshare -n); see
 * tests/unit/data/make_diag_dump.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snapshot/sock_diag.h"
#include "tcpstate/state.h"

static int record(int nl_fd, int out_fd, struct ts_snapshot *snap)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct sock_diag_parse_ctx ctx = { .snap = snap };
		struct sock_diag_dump_opts o = {
			.family = families[i],
			.kernel_states = ts_state_mask_to_kernel(TS_STATE_MASK_ALL),
			.want_info = true,
			.record_fd = out_fd,
		};
		unsigned retries = 0;
		int r = sock_diag_dump(nl_fd, &o, &ctx, &retries);

		if (r < 0)
			return r;
		/* A retried dump would leave both attempts in the file. */
		if (retries || ctx.malformed)
			return -EAGAIN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ts_snapshot *snap;
	int nl_fd, out_fd, r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTPUT.bin\n", argv[0]);
		return 2;
	}
	snap = snapshot_new();
	if (!snap) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	nl_fd = sock_diag_open();
	if (nl_fd < 0) {
		fprintf(stderr, "sock_diag: %s\n", strerror(-nl_fd));
		ts_snapshot_free(snap);
		return 1;
	}
	out_fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out_fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		close(nl_fd);
		ts_snapshot_free(snap);
		return 1;
	}

	r = record(nl_fd, out_fd, snap);
	if (r < 0)
		fprintf(stderr, "dump: %s\n", r == -EAGAIN ? "interrupted, run again" : strerror(-r));
	else
		for (size_t i = 0; i < snap->n_sockets; i++) {
			const struct ts_socket *s = &snap->sockets[i];

			printf("%s %s %u %u %llu %u\n", s->family == AF_INET ? "inet" : "inet6",
			       ts_state_name(s->state), s->local_port, s->remote_port,
			       (unsigned long long)s->inode, s->timer);
		}

	if (close(out_fd) < 0 && r == 0)
		r = -errno;
	close(nl_fd);
	ts_snapshot_free(snap);
	return r < 0 ? 1 : 0;
}
