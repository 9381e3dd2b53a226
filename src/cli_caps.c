/* SPDX-License-Identifier: MIT */
/*
 * Which capabilities tcpstate has, so that a permission error is explained
 * truly: "run as root" is advice only for a process that lacks the
 * capability; root that still gets EPERM/EACCES is refused by something
 * else (a security module, kernel lockdown, another user namespace).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"


bool cli_has_cap(unsigned cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (cap >= 64 || syscall(SYS_capget, &h, d) < 0)
		return false;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

const char *cli_privilege_hint(const char *needs, bool have, char *buf, size_t size)
{
	if (have)
		snprintf(buf, size, "tcpstate has %s, so something else refused it (a security "
			 "module, kernel lockdown, or another user namespace)", needs);
	else
		snprintf(buf, size, "it needs %s%s", needs,
			 geteuid() == 0 ? ", which this process lacks" : "; run as root");
	return buf;
}

const char *cli_fd_copy_error(int err, char *buf, size_t size)
{
	char hint[200];

	if (err == -ENOENT)
		snprintf(buf, size, "no process holding it was found");
	else if (err == -EPERM || err == -EACCES)
		snprintf(buf, size, "not allowed to copy its descriptor: %s",
			 cli_privilege_hint("CAP_SYS_PTRACE", cli_has_cap(CAP_SYS_PTRACE), hint, sizeof(hint)));
	else if (err == -ESTALE)
		snprintf(buf, size, "its descriptor now refers to another socket");
	else
		snprintf(buf, size, "%s", strerror(-err));
	return buf;
}

bool cli_has_bpf_caps(void)
{
	return (cli_has_cap(CAP_BPF) && cli_has_cap(CAP_PERFMON)) || cli_has_cap(CAP_SYS_ADMIN);
}
