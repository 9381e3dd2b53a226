/* SPDX-License-Identifier: MIT */
/* tcpstate tune: opening a namespace's settings, and errno as words, for the audit and for --apply/--revert. */
#include <string.h>

#include "cli.h"
#include "cli_snapshot.h"
#include "tune.h"

const char *tune_errno_text(int r)
{
	return strerror(r < 0 ? -r : r);
}

int tune_open_sysctl(const char *netns, struct ts_sysctl **ret)
{
	int r = ts_sysctl_open(netns, NULL, ret);

	if (r < 0 && netns)
		cli_netns_error(netns, r);
	else if (r < 0)
		cli_error("cannot open the settings: %s", tune_errno_text(r));
	return r;
}
