/* SPDX-License-Identifier: MIT */
/*
 * tcpstate demo: the lab with a server that leaks CLOSE_WAIT among healthy
 * connections, then the doctor on it, narrated, then everything removed.
 */
#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tcpstate/lab.h"
#include "tcpstate/util.h"

#define DEMO_READY_MS 30000
#define DEMO_LEAK_RATE 25

struct demo {
	struct ts_lab *lab;
	int sfd;
	pid_t leak_server;
	unsigned healthy;
	bool ready, stop;
	char why[256];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void demo_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate demo [--leak-seconds N]\n"
		"\n"
		"Shows what tcpstate is for without touching your host: builds a throwaway\n"
		"network namespace with healthy connections and a server that never closes\n"
		"the connections its clients end (a CLOSE_WAIT leak), lets the leak grow,\n"
		"runs 'tcpstate doctor --interval 2' on it, then removes everything. Needs root.\n"
		"It takes about N + 2.5 seconds (5.5 s by default): N seconds of leak, the\n"
		"doctor's 2-second interval, and under a second to build and remove the lab.\n"
		"\n"
		"  --leak-seconds N  let the leak grow N seconds before the doctor (1-50,\n"
		"                    default 3)\n"
		"  -h, --help        this text\n"
		"\n"
		"Exit status: 0 the demo ran (whatever the doctor found), 1 error (the lab\n"
		"could not be built, one of its processes died, or a signal stopped it; all\n"
		"is removed either way), 2 usage error.\n");
}

/* Drains lab events and signals for up to ms (or until ready); false when
 * the demo must stop. */
static bool pump(struct demo *d, uint64_t ms, bool until_ready)
{
	uint64_t deadline = now_ms() + ms;

	while (!d->stop) {
		struct pollfd p[2] = {
			{ .fd = d->sfd, .events = POLLIN },
			{ .fd = ts_lab_event_fd(d->lab), .events = POLLIN },
		};
		uint64_t now = now_ms();
		struct ts_lab_event ev;
		struct signalfd_siginfo si;
		pid_t pid;
		int status;

		if (now >= deadline)
			break;
		if (poll(p, 2, (int)(deadline - now)) < 0 && errno != EINTR) {
			snprintf(d->why, sizeof(d->why), "poll: %s", strerror(errno));
			d->stop = true;
			break;
		}
		while (read(d->sfd, &si, sizeof(si)) == sizeof(si))
			if (si.ssi_signo != SIGCHLD) {
				snprintf(d->why, sizeof(d->why), "interrupted by %s",
					 strsignal((int)si.ssi_signo));
				d->stop = true;
			}
		while (ts_lab_read_event(d->lab, &ev) == 0) {
			if (ev.type == TS_LAB_EVENT_READY)
				d->ready = true;
			else if (ev.type == TS_LAB_EVENT_LEAK)
				d->leak_server = ev.pid;
			else if (ev.type == TS_LAB_EVENT_SOCKET && ev.sock.target)
				d->healthy++;
			else if (ev.type == TS_LAB_EVENT_ERROR) {
				snprintf(d->why, sizeof(d->why), "the lab failed: %s", ev.message);
				d->stop = true;
			}
		}
		if (ts_lab_reap(d->lab, &pid, &status) > 0) {
			if (!d->why[0])
				snprintf(d->why, sizeof(d->why), "lab process %d ended unexpectedly", (int)pid);
			d->stop = true;
		}
		if (until_ready && d->ready)
			break;
	}
	return !d->stop;
}

/* Words, not getopt: -h/--help and --leak-seconds N only. CLI_PARSE_RUN, or the exit status. */
static int demo_parse(int argc, char **argv, uint32_t *leak_s)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			demo_help(stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--leak-seconds") == 0 && i + 1 < argc) {
			if (ts_parse_u32(argv[++i], 1, 50, leak_s) < 0) {
				cli_error("bad --leak-seconds '%s' (1 to 50)", argv[i]);
				return EXIT_USAGE;
			}
			continue;
		}
		cli_error("unexpected argument '%s' (try 'tcpstate demo --help')", argv[i]);
		return EXIT_USAGE;
	}
	return CLI_PARSE_RUN;
}

/* Step 1: the lab, with its leaky server. 0; -1 with d->sfd closed and the mask restored (reported). */
static int demo_start(struct demo *d, const sigset_t *old)
{
	struct ts_lab_opts opts = {
		.states = TS_STATE_BIT(TS_STATE_LISTEN) | TS_STATE_BIT(TS_STATE_ESTABLISHED) |
			  TS_STATE_BIT(TS_STATE_TIME_WAIT),
		.count = 4,
		.leak_rate = DEMO_LEAK_RATE,
	};
	char hint[256];
	int r;

	printf("== tcpstate demo ==\n\n"
	       "1. Building a throwaway network namespace with healthy connections\n"
	       "   (LISTEN, ESTABLISHED, TIME_WAIT) and a server that leaks: its clients\n"
	       "   connect and close %d times a second, it never calls close().\n",
	       DEMO_LEAK_RATE);
	fflush(stdout);
	r = ts_lab_start(&opts, &d->lab);
	if (r == 0)
		return 0;
	cli_error("cannot create the lab: %s%s%s", strerror(-r),
		  r == -EPERM || r == -EACCES ? ": " : "",
		  r == -EPERM || r == -EACCES ?
			cli_privilege_hint("CAP_SYS_ADMIN and CAP_NET_ADMIN",
					   cli_has_cap(CAP_SYS_ADMIN) && cli_has_cap(CAP_NET_ADMIN),
					   hint, sizeof(hint)) : "");
	close(d->sfd);
	sigprocmask(SIG_SETMASK, old, NULL);
	return -1;
}

/* Steps 3 and 4: the doctor on the lab, and what it shows. */
static void demo_doctor(const struct demo *d)
{
	char *dargv[] = { "doctor", "--netns", (char *)ts_lab_netns(d->lab), "--interval", "2", NULL };

	printf("3. The doctor, over a 2-second interval to measure the leak:\n"
	   "   $ tcpstate doctor --netns %s --interval 2\n\n", ts_lab_netns(d->lab));
	fflush(stdout);
	/* The doctor's own exit status says "findings"; the demo succeeded. */
	(void)cmd_doctor(5, dargv);
	fflush(stdout);
	printf("\n4. What it shows: the CLOSE_WAIT sockets belong to pid %d, whose peers\n"
	       "   closed long ago; no sysctl will release them, only close() in that\n"
	       "   program (or restarting it). The healthy sockets raise no finding.\n\n",
	       (int)d->leak_server);
}

int cmd_demo(int argc, char **argv)
{
	struct demo d = { .sfd = -1 };
	uint32_t leak_s = 3;
	sigset_t old;
	int rc = demo_parse(argc, argv, &leak_s);

	if (rc != CLI_PARSE_RUN)
		return rc;
	d.sfd = cli_teardown_signals_open(&old);
	if (d.sfd < 0)
		return EXIT_ERROR;
	if (demo_start(&d, &old) < 0)
		return EXIT_ERROR;
	rc = EXIT_ERROR;
	if (!pump(&d, DEMO_READY_MS, true) || !d.ready) {
		if (!d.why[0])
			snprintf(d.why, sizeof(d.why), "the lab was not ready in %d s", DEMO_READY_MS / 1000);
		goto out;
	}
	printf("   Namespace %s is ready: %u healthy sockets, leaky server pid %d.\n\n",
	       ts_lab_netns(d.lab), d.healthy, (int)d.leak_server);
	printf("2. Letting the leak grow for %u seconds...\n\n", leak_s);
	fflush(stdout);
	if (!pump(&d, (uint64_t)leak_s * 1000, false))
		goto out;
	demo_doctor(&d);
	rc = EXIT_OK;
out:
	ts_lab_free(d.lab);
	if (rc == EXIT_OK)
		printf("5. Cleaned up: the namespace and every demo process are gone.\n");
	else
		cli_error("demo stopped: %s (the namespace and its processes were removed)", d.why);
	close(d.sfd);
	return rc;
}
