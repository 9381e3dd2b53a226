/* SPDX-License-Identifier: MIT */
/*
 * benchexec: run one command, report its wall time and peak RSS.
 *
 * Why not os.wait4() from Python: Linux folds the pre-exec memory of the
 * forking process into the child's ru_maxrss (exec_mmap() saves the old
 * mm's high-water mark), so a child spawned by Python never reports less
 * than Python's own RSS (~14 MiB). This small process forks from a tiny
 * address space, so the floor is a few hundred KiB.
 *
 *   benchexec [--netns NAME] [--timeout SEC] -- CMD [ARGS...]
 *
 * The command runs in network namespace NAME (setns, like 'ip netns exec'
 * minus the /sys remount), with stdin and stdout on /dev/null and stderr
 * inherited. Prints one line on stdout:
 *   status=exited|signaled|timeout code=N wall=SECONDS maxrss_kib=N
 * Exit status: 0 if the line was printed, 2 usage error, 1 other error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v <= 0 || v > 86400)
		return -EINVAL;
	*ret = v;
	return 0;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_netns(const char *name)
{
	char path[PATH_MAX];

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static void usage(void)
{
	fprintf(stderr, "Usage: benchexec [--netns NAME] [--timeout SEC] -- CMD [ARGS...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *netns = NULL;
	double timeout = 0, t0, wall;
	struct rusage ru;
	int i, nsfd = -1, pidfd, st;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--netns") == 0 && i + 1 < argc) {
			netns = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_seconds(argv[++i], &timeout) < 0)
				usage();
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();

	if (netns) {
		nsfd = open_netns(netns);
		if (nsfd < 0) {
			fprintf(stderr, "benchexec: namespace %s: %s\n", netns, strerror(errno));
			return 1;
		}
	}

	t0 = now_sec();
	pid = fork();
	if (pid < 0) {
		perror("benchexec: fork");
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);	/* so a timeout can kill the whole command */
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "benchexec: setns %s: %s\n", netns, strerror(errno));
			_exit(127);
		}
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[i], argv + i);
		fprintf(stderr, "benchexec: %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0 && timeout > 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int r;

		do {
			double left = t0 + timeout - now_sec();

			r = left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
		} while (r < 0 && errno == EINTR);
		if (r == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
				;
			printf("status=timeout code=%d wall=%.6f maxrss_kib=%ld\n", SIGKILL,
			       now_sec() - t0, ru.ru_maxrss);
			return 0;
		}
	}
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("benchexec: wait4");
			return 1;
		}
	}
	wall = now_sec() - t0;
	if (WIFSIGNALED(st))
		printf("status=signaled code=%d wall=%.6f maxrss_kib=%ld\n", WTERMSIG(st), wall,
		       ru.ru_maxrss);
	else
		printf("status=exited code=%d wall=%.6f maxrss_kib=%ld\n", WEXITSTATUS(st), wall,
		       ru.ru_maxrss);
	return 0;
}
