/* SPDX-License-Identifier: MIT */
/* --netns NS: checked before a verb runs, and its errors as sentences. */
#include <errno.h>
#include <linux/capability.h>
#include <limits.h>
#include <string.h>

#include "cli.h"
#include "cli_netns.h"
#include "term_safe.h"

/*
 * An argument that can name no network namespace, whatever exists now, is
 * a usage error (exit 2); a well-formed one naming nothing that exists now
 * (ENOENT, ESRCH, ENOTDIR) or that we may not open is an error (exit 1).
 */
bool cli_netns_usage_error(int err)
{
	switch (-err) {
	case EINVAL:
	case ENAMETOOLONG:
	case ERANGE:
	case ELOOP:
	case ENOTTY:
	case EMEDIUMTYPE:
		return true;
	default:
		return false;
	}
}

void cli_netns_error(const char *spec, int err)
{
	bool path = strchr(spec, '/') != NULL;

	switch (-err) {
	case EINVAL:
		cli_error("bad --netns '%s': no network namespace has an empty name, '.' or '..'", spec);
		break;
	case ENAMETOOLONG:
		cli_error("--netns '%.60s...' is too long (%zu bytes): a name in /run/netns has at "
			  "most %d, a path fewer than %d", spec, strlen(spec), NAME_MAX, PATH_MAX);
		break;
	case ENOENT:
		if (path)
			cli_error("no network namespace '%s': no such file", spec);
		else
			cli_error("no network namespace '%s': no such name in /run/netns (a name, a "
				  "path or a pid)", spec);
		break;
	case ESRCH:
		cli_error("no network namespace '%s': no such name in /run/netns and no process "
			  "with that pid", spec);
		break;
	case ERANGE:
		cli_error("no network namespace '%s': no such name in /run/netns, and it is no valid "
			  "pid", spec);
		break;
	case ELOOP:
		cli_error("--netns '%s': too many levels of symbolic links (a loop?)", spec);
		break;
	case ENOTDIR:
		cli_error("--netns '%s': a component of the path is not a directory", spec);
		break;
	case ENOTTY:
		cli_error("--netns '%s' is not a namespace file (a name in /run/netns, "
			  "/proc/PID/ns/net or a pid)", spec);
		break;
	case EMEDIUMTYPE:
		cli_error("--netns '%s' is a namespace of another kind, not a network namespace "
			  "(/proc/PID/ns/net is)", spec);
		break;
	case EPERM:
	case EACCES:
		{
			char hint[256];

			cli_error("not permitted to open network namespace '%s': %s (%s)", spec,
				  strerror(-err), cli_privilege_hint("CAP_SYS_ADMIN",
								     cli_has_cap(CAP_SYS_ADMIN),
								     hint, sizeof(hint)));
		}
		break;
	default:
		cli_error("cannot open network namespace '%s': %s", spec, strerror(-err));
		break;
	}
}

int cli_netns_check(const char *spec, struct ts_netns_ref *ret)
{
	struct ts_netns_ref ref;
	int r;

	if (!spec)
		return 1;
	r = ts_netns_lookup(spec, NULL, &ref);
	if (r < 0) {
		if (!cli_netns_usage_error(r))
			return 1; /* not the argument's fault: the verb reports it when it acts */
		cli_netns_error(spec, r);
		return -1;
	}
	if (ref.form == TS_NETNS_FORM_NAME && ref.shadows_pid)
		cli_info("note: ", "--netns %s: used the network namespace named %s in /run/netns, "
			 "not the one of process %s (a name wins over a pid; --netns /proc/%s/ns/net "
			 "for that one)", TERM_SAFE(spec), TERM_SAFE(spec), TERM_SAFE(spec),
			 TERM_SAFE(spec));
	if (ret)
		*ret = ref;
	return 0;
}
