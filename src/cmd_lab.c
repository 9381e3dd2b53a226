/* SPDX-License-Identifier: MIT */
/* tcpstate lab: build real sockets in chosen states, print them, hold them. */
#include <errno.h>
#include <linux/capability.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "term_safe.h"
#include "tcpstate/lab.h"
#include "tcpstate/state.h"
#include "tcpstate/util.h"

#define READY_TIMEOUT_MS 120000 /* the holder has its own per-recipe deadlines */

struct lab_cli {
	bool json;
	bool cleanup_only;
	bool have_hold;
	uint32_t hold_s;
	const char *netns;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate lab [STATE...] [OPTIONS]\n"
		"\n"
		"Builds real TCP sockets in the given states (default: all 13) inside a\n"
		"throwaway network namespace, using the kernel's own behaviour on 127.0.0.1\n"
		"and nftables drops, then holds them until Ctrl-C. Everything is removed on exit.\n"
		"\n"
		"States: BOUND CLOSED CLOSING CLOSE_WAIT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 IDLE\n"
		"        LAST_ACK LISTEN SYN_RECEIVED SYN_SENT TIME_WAIT (any case, '-' or '_')\n"
		"\n"
		"Options:\n"
		"      --count N      sockets per state (1..%d, default 1; no -c: that is --comm\n"
		"                     in the other verbs)\n"
		"      --hold SECONDS stop by itself after SECONDS once ready (default: until signalled)\n"
		"      --leak RATE    also run a server that never closes, fed RATE connections\n"
		"                     per second (1..%d): watch CLOSE_WAIT grow\n"
		"  -j, --json         JSON Lines on stdout, one event per line\n"
		"      --cleanup      only remove namespaces left by labs that were killed\n"
		"                     (SIGKILL leaves /run/netns/tslab-*; every lab also does\n"
		"                     this when it starts), then exit\n"
		"  -h, --help         this text\n"
		"\n"
		"Needs root.\n"
		"\n"
		"Exit status: 0 held until the end or a signal (--cleanup: done), 1 error or\n"
		"a lab process died, 2 usage error.\n",
		TS_LAB_COUNT_MAX, TS_LAB_LEAK_RATE_MAX);
}

static void json_emit(json_object *o)
{
	term_safe_json_puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), stdout);
	fflush(stdout);
	json_object_put(o);
}

static json_object *json_event(const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(name));
	return o;
}

static const char *event_name(enum ts_lab_event_type t)
{
	switch (t) {
	case TS_LAB_EVENT_SOCKET: return "socket";
	case TS_LAB_EVENT_READY: return "ready";
	case TS_LAB_EVENT_EXPIRED: return "expired";
	case TS_LAB_EVENT_RECREATED: return "recreated";
	case TS_LAB_EVENT_NOTE: return "note";
	case TS_LAB_EVENT_WARNING: return "warning";
	case TS_LAB_EVENT_ERROR: return "error";
	case TS_LAB_EVENT_LEAK: return "leak";
	case TS_LAB_EVENT_LEAK_STOPPED: return "leak-stopped";
	}
	return "unknown";
}

static void json_socket_fields(json_object *o, const struct ts_lab_socket *k)
{
	char addr[INET_ADDRSTRLEN];

	json_object_object_add(o, "state", json_object_new_string(ts_state_name(k->state)));
	json_object_object_add(o, "target", json_object_new_boolean(k->target));
	json_object_object_add(o, "scenario", json_object_new_int64(k->scenario));
	json_object_object_add(o, "family", json_object_new_string("inet"));
	inet_ntop(AF_INET, &k->local_addr, addr, sizeof(addr));
	json_object_object_add(o, "local_addr", json_object_new_string(addr));
	json_object_object_add(o, "local_port", json_object_new_int(k->local_port));
	if (k->has_remote) {
		inet_ntop(AF_INET, &k->remote_addr, addr, sizeof(addr));
		json_object_object_add(o, "remote_addr", json_object_new_string(addr));
		json_object_object_add(o, "remote_port", json_object_new_int(k->remote_port));
	} else {
		json_object_object_add(o, "remote_addr", NULL);
		json_object_object_add(o, "remote_port", NULL);
	}
	json_object_object_add(o, "pid", k->pid > 0 ? json_object_new_int(k->pid) : NULL);
	json_object_object_add(o, "fd", k->fd >= 0 ? json_object_new_int(k->fd) : NULL);
	json_object_object_add(o, "how", json_object_new_string(k->how));
	json_object_object_add(o, "lasts", json_object_new_string(k->lasts));
}

static void text_socket(const char *prefix, const struct ts_lab_socket *k)
{
	char local[INET_ADDRSTRLEN + 8], peer[INET_ADDRSTRLEN + 8], holder[48];
	char addr[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &k->local_addr, addr, sizeof(addr));
	snprintf(local, sizeof(local), "%s:%u", addr, k->local_port);
	if (k->has_remote) {
		inet_ntop(AF_INET, &k->remote_addr, addr, sizeof(addr));
		snprintf(peer, sizeof(peer), "%s:%u", addr, k->remote_port);
	} else {
		snprintf(peer, sizeof(peer), "-");
	}
	if (k->pid > 0)
		snprintf(holder, sizeof(holder), "pid %d fd %d", (int)k->pid, k->fd);
	else
		snprintf(holder, sizeof(holder), "no owner");
	printf("%s%-12s %-6s %-21s %-21s %s\n", prefix, ts_state_name(k->state),
	       k->target ? "target" : "peer", local, peer, holder);
	printf("%s%-12s how: %s; lasts: %s\n", prefix, "", k->how, k->lasts);
}

/* An event as a line on the terminal. */
static void print_event_text(const struct lab_cli *cli, const struct ts_lab_event *ev)
{
	switch (ev->type) {
	case TS_LAB_EVENT_SOCKET:
		text_socket("  ", &ev->sock);
		break;
	case TS_LAB_EVENT_EXPIRED:
		printf("expired: %s on port %u is now %s; building it again\n",
		       ts_state_name(ev->sock.state), ev->sock.local_port,
		       ev->now_state == TS_STATE_UNKNOWN ? "gone" : ts_state_name(ev->now_state));
		break;
	case TS_LAB_EVENT_RECREATED:
		text_socket("recreated: ", &ev->sock);
		break;
	case TS_LAB_EVENT_NOTE:
		printf("note: %s\n", TERM_SAFE(ev->message));
		break;
	case TS_LAB_EVENT_WARNING:
		cli_warn("%s", ev->message);
		break;
	case TS_LAB_EVENT_ERROR:
		cli_error("%s", ev->message);
		break;
	case TS_LAB_EVENT_LEAK:
		printf("leak: server pid %d on 127.0.0.1:%u never closes; client pid %d connects and "
		       "closes %u times a second; CLOSE_WAIT grows until %u sockets\n",
		       (int)ev->pid, ev->port, (int)ev->pid2, ev->rate, ev->limit);
		break;
	case TS_LAB_EVENT_LEAK_STOPPED:
		printf("leak: %s\n", TERM_SAFE(ev->message));
		break;
	case TS_LAB_EVENT_READY:
		printf("\nReady. Inspect from another terminal:\n  tcpstate list --netns %s\n"
		       "Press Ctrl-C to tear the lab down.\n", cli->netns);
		break;
	}
	fflush(stdout);
}

/* An event as one JSON line. */
static void print_event_json(const struct lab_cli *cli, const struct ts_lab_event *ev)
{
	json_object *o;

	o = json_event(event_name(ev->type));
	switch (ev->type) {
	case TS_LAB_EVENT_SOCKET:
	case TS_LAB_EVENT_RECREATED:
		json_socket_fields(o, &ev->sock);
		break;
	case TS_LAB_EVENT_EXPIRED:
		json_socket_fields(o, &ev->sock);
		json_object_object_add(o, "now", ev->now_state == TS_STATE_UNKNOWN ? NULL :
				       json_object_new_string(ts_state_name(ev->now_state)));
		break;
	case TS_LAB_EVENT_NOTE:
		json_object_object_add(o, "message", json_object_new_string(ev->message));
		break;
	case TS_LAB_EVENT_WARNING:
		json_object_object_add(o, "state", ev->sock.state < TS_STATE_COUNT ?
				       json_object_new_string(ts_state_name(ev->sock.state)) : NULL);
		/* fall through */
	case TS_LAB_EVENT_ERROR:
		json_object_object_add(o, "errno", json_object_new_int(-ev->error));
		json_object_object_add(o, "message", json_object_new_string(ev->message));
		break;
	case TS_LAB_EVENT_LEAK:
		json_object_object_add(o, "port", json_object_new_int(ev->port));
		json_object_object_add(o, "server_pid", json_object_new_int(ev->pid));
		json_object_object_add(o, "client_pid", json_object_new_int(ev->pid2));
		json_object_object_add(o, "rate", json_object_new_int64(ev->rate));
		json_object_object_add(o, "limit", json_object_new_int64(ev->limit));
		break;
	case TS_LAB_EVENT_LEAK_STOPPED:
		json_object_object_add(o, "count", json_object_new_int64(ev->count));
		json_object_object_add(o, "limit", json_object_new_int64(ev->limit));
		json_object_object_add(o, "message", json_object_new_string(ev->message));
		break;
	case TS_LAB_EVENT_READY: {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "tcpstate list --netns %s", cli->netns);
		json_object_object_add(o, "netns", json_object_new_string(cli->netns));
		json_object_object_add(o, "inspect", json_object_new_string(cmd));
		break;
	}
	}
	json_emit(o);
}

static void print_event(const struct lab_cli *cli, const struct ts_lab_event *ev)
{
	if (cli->json)
		print_event_json(cli, ev);
	else
		print_event_text(cli, ev);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum end_reason { END_NONE, END_HOLD, END_SIGNAL, END_CHILD_DIED, END_ERROR };

struct ending {
	enum end_reason reason;
	int signo;        /* END_SIGNAL */
	pid_t pid;        /* END_CHILD_DIED */
	int status;
	char message[200];
};

static void print_exit(const struct lab_cli *cli, const struct ending *e)
{
	static const char *const names[] = {
		[END_HOLD] = "hold", [END_SIGNAL] = "signal",
		[END_CHILD_DIED] = "child-died", [END_ERROR] = "error",
	};
	json_object *o;

	/* Failures also go to stderr in JSON mode: a person may be watching. */
	if (cli->json && (e->reason == END_CHILD_DIED || e->reason == END_ERROR))
		cli_error("%s; the lab is torn down", e->message);
	if (!cli->json) {
		switch (e->reason) {
		case END_HOLD:
			printf("Hold time over; the lab is gone.\n");
			break;
		case END_SIGNAL:
			printf("\n%s: the lab is gone.\n", strsignal(e->signo));
			break;
		default:
			cli_error("%s; the lab is torn down", e->message);
			break;
		}
		fflush(stdout);
		return;
	}
	o = json_event("exit");
	json_object_object_add(o, "reason", json_object_new_string(names[e->reason]));
	if (e->reason == END_SIGNAL) {
		char sig[32];

		snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(e->signo) ? sigabbrev_np(e->signo) : "?");
		json_object_object_add(o, "signal", json_object_new_string(sig));
	}
	if (e->reason == END_CHILD_DIED)
		json_object_object_add(o, "pid", json_object_new_int(e->pid));
	if (e->message[0])
		json_object_object_add(o, "message", json_object_new_string(e->message));
	json_emit(o);
}

static void child_died(struct ending *e, pid_t pid, int status)
{
	e->reason = END_CHILD_DIED;
	e->pid = pid;
	e->status = status;
	if (WIFSIGNALED(status))
		snprintf(e->message, sizeof(e->message), "lab process %d was killed by SIG%s",
			 (int)pid, sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(e->message, sizeof(e->message), "lab process %d exited with status %d",
			 (int)pid, WEXITSTATUS(status));
}

/* Runs until something ends the lab; fills *e. */
static void supervise(const struct lab_cli *cli, struct ts_lab *lab, int sfd, struct ending *e)
{
	uint64_t deadline = now_ms() + READY_TIMEOUT_MS;
	bool ready = false, eof = false;
	char last_error[160] = "";

	while (e->reason == END_NONE) {
		struct pollfd pfds[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = ts_lab_event_fd(lab), .events = POLLIN },
		};
		uint64_t now = now_ms();
		int timeout = -1, r;

		if (!ready || cli->have_hold)
			timeout = deadline > now ? (int)(deadline - now) : 0;
		r = poll(pfds, eof ? 1 : 2, timeout);
		if (r < 0 && errno != EINTR) {
			e->reason = END_ERROR;
			snprintf(e->message, sizeof(e->message), "poll: %s", strerror(errno));
			break;
		}
		if (r == 0) {
			if (ready) {
				e->reason = END_HOLD;
			} else {
				e->reason = END_ERROR;
				snprintf(e->message, sizeof(e->message), "the lab was not ready in %d s",
					 READY_TIMEOUT_MS / 1000);
			}
			break;
		}
		if (pfds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD && e->reason == END_NONE) {
					e->reason = END_SIGNAL;
					e->signo = (int)si.ssi_signo;
				}
			}
		}
		/* Events first: a dying child's last words explain its death. */
		while (!eof && (pfds[1].revents & (POLLIN | POLLHUP))) {
			struct ts_lab_event ev;

			r = ts_lab_read_event(lab, &ev);
			if (r == -EAGAIN)
				break;
			if (r < 0) {
				eof = true;
				break;
			}
			if (ev.type == TS_LAB_EVENT_ERROR)
				snprintf(last_error, sizeof(last_error), "%s", ev.message);
			print_event(cli, &ev);
			if (ev.type == TS_LAB_EVENT_READY) {
				ready = true;
				deadline = now_ms() + (uint64_t)cli->hold_s * 1000;
			}
		}
		if (e->reason == END_NONE) {
			pid_t pid;
			int status;

			r = ts_lab_reap(lab, &pid, &status);
			if (r > 0) {
				child_died(e, pid, status);
				if (last_error[0]) {
					e->reason = END_ERROR;
					snprintf(e->message, sizeof(e->message), "%s", last_error);
				}
			} else if (eof) {
				/* Every child closed the pipe but none has been reaped yet. */
				poll(NULL, 0, 10);
			}
		}
	}
}

static int parse_args(int argc, char **argv, struct lab_cli *cli, struct ts_lab_opts *opts)
{
	enum { OPT_HOLD = CLI_OPT_VERB, OPT_LEAK, OPT_CLEANUP };
	static const struct option longopts[] = {
		{ "cleanup", no_argument, NULL, OPT_CLEANUP },
		{ "count", required_argument, NULL, 'c' },
		{ "hold", required_argument, NULL, OPT_HOLD },
		{ "leak", required_argument, NULL, OPT_LEAK },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	optind = 1;
	while ((c = cli_getopt_long(argc, argv, "jh", longopts, "lab")) != -1) {
		switch (c) {
		case 'c':
			if (ts_parse_u32(optarg, 1, TS_LAB_COUNT_MAX, &opts->count) < 0) {
				cli_error("invalid --count '%s' (1..%d)", optarg, TS_LAB_COUNT_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_HOLD:
			if (ts_parse_u32(optarg, 0, 365u * 24 * 3600, &cli->hold_s) < 0) {
				cli_error("invalid --hold '%s' (seconds)", optarg);
				return EXIT_USAGE;
			}
			cli->have_hold = true;
			break;
		case OPT_LEAK:
			if (ts_parse_u32(optarg, 1, TS_LAB_LEAK_RATE_MAX, &opts->leak_rate) < 0) {
				cli_error("invalid --leak '%s' (1..%d connections per second)", optarg,
					  TS_LAB_LEAK_RATE_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			cli->json = true;
			break;
		case OPT_CLEANUP:
			cli->cleanup_only = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			/* -c is --comm in every other verb: lab's count is --count only. */
			if (optopt == 'c')
				cli_error("lab takes the count as --count N (-c means --comm elsewhere)");
			fprintf(stderr, "Try 'tcpstate lab --help'.\n");
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		ts_state_mask_t m;

		if (ts_state_token_parse(argv[i], &m) < 0 ||
		    !(m & (TS_STATE_BIT(TS_STATE_COUNT) - 1))) {
			cli_error("unknown state '%s' (try 'tcpstate lab --help')", argv[i]);
			return EXIT_USAGE;
		}
		opts->states |= m & (TS_STATE_BIT(TS_STATE_COUNT) - 1);
	}
	if (cli->cleanup_only && (opts->states || opts->leak_rate || cli->have_hold ||
				  opts->count != 1)) {
		cli_error("--cleanup takes no states or other lab options");
		return EXIT_USAGE;
	}
	return -1;
}

/* Removes dead labs' namespaces, saying which; returns how many or -errno. */
static int cleanup_stale(const struct lab_cli *cli)
{
	char names[16][TS_LAB_NAME_LEN];
	size_t n;
	int r = ts_lab_cleanup_stale(NULL, NULL, names, 16, &n);

	for (size_t i = 0; i < n && i < 16; i++) {
		if (cli->json) {
			json_object *o = json_event("stale-removed");

			json_object_object_add(o, "name", json_object_new_string(names[i]));
			json_emit(o);
		} else {
			fprintf(stderr, "tcpstate: note: removed network namespace %s, left by a lab "
				"that was killed\n", TERM_SAFE(names[i]));
		}
	}
	if (n > 16)
		fprintf(stderr, "tcpstate: note: and %zu more\n", n - 16);
	return r < 0 ? r : (int)n;
}

int cmd_lab(int argc, char **argv)
{
	struct lab_cli cli = { 0 };
	struct ts_lab_opts opts = { .count = 1 };
	struct ending end = { .reason = END_NONE };
	struct ts_lab *lab = NULL;
	sigset_t old;
	int sfd, r;

	r = parse_args(argc, argv, &cli, &opts);
	if (r >= 0)
		return r;

	if (cli.cleanup_only) {
		if (geteuid() != 0) {
			cli_error("--cleanup needs root");
			return EXIT_ERROR;
		}
		r = cleanup_stale(&cli);
		if (r < 0) {
			cli_error("cannot remove stale lab namespaces: %s", strerror(-r));
			return EXIT_ERROR;
		}
		if (r == 0 && !cli.json)
			fprintf(stderr, "tcpstate: no stale lab namespaces\n");
		return EXIT_OK;
	}
	/* Before ours exists: a dead lab's namespace goes, never a live one's. */
	if (geteuid() == 0 && cleanup_stale(&cli) < 0)
		cli_warn("could not check for namespaces left by killed labs");

	sfd = cli_teardown_signals_open(&old);
	if (sfd < 0)
		return EXIT_ERROR;

	r = ts_lab_start(&opts, &lab);
	if (r < 0) {
		char hint[256];

		if (r == -EPERM || r == -EACCES)
			cli_error("cannot create a network namespace: %s (%s)", strerror(-r),
				  cli_privilege_hint("CAP_SYS_ADMIN and CAP_NET_ADMIN",
						     cli_has_cap(CAP_SYS_ADMIN) &&
							     cli_has_cap(CAP_NET_ADMIN),
						     hint, sizeof(hint)));
		else
			cli_error("cannot create the lab: %s", strerror(-r));
		if (cli.json) {
			json_object *o = json_event("exit");

			json_object_object_add(o, "reason", json_object_new_string("error"));
			json_object_object_add(o, "message", json_object_new_string(strerror(-r)));
			json_emit(o);
		}
		close(sfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return EXIT_ERROR;
	}
	cli.netns = ts_lab_netns(lab);
	if (cli.json) {
		json_object *o = json_event("netns");

		json_object_object_add(o, "name", json_object_new_string(cli.netns));
		json_emit(o);
	} else {
		printf("Lab namespace %s (ip netns exec %s ...)\n\n", cli.netns, cli.netns);
		printf("  %-12s %-6s %-21s %-21s %s\n", "STATE", "ROLE", "LOCAL", "PEER", "HOLDER");
		fflush(stdout);
	}

	supervise(&cli, lab, sfd, &end);

	ts_lab_free(lab);
	print_exit(&cli, &end);
	/* Signals stay blocked: one arriving now must not change the exit status. */
	close(sfd);
	return end.reason == END_HOLD || end.reason == END_SIGNAL ? EXIT_OK : EXIT_ERROR;
}
