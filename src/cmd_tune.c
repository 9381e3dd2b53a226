/* SPDX-License-Identifier: MIT */
/* tcpstate tune: the TCP sysctls against what the sockets show. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "cli_filter.h"
#include "sysctl_conf.h"
#include "tcpstate/sysctl.h"

#define BACKUP_DIR "/var/lib/tcpstate"

#define CLOSE_WAIT_NOTE                                                                       \
	"No sysctl ends CLOSE_WAIT: the peer has closed, and the program holding the socket "  \
	"must call close(). 'tcpstate doctor' names the program."

enum {
	OPT_WRITE = 0x200,
	OPT_APPLY,
	OPT_SAVE,
	OPT_REVERT,
	OPT_CONFIG_ROOT,
};

struct tune_args {
	const char *netns;
	const char *write;
	const char *save;
	const char *revert;
	const char *config_root;
	bool apply;
	bool json;
};

/* One setting to change: old -> new. */
struct change {
	const char *name;
	char from[128];
	char to[128];
	const char *reason;
};

static void tune_help(FILE *f)
{
	fprintf(f,
		"Usage: tcpstate tune [--netns NS] [--json] [--write FILE] [--apply [--save FILE]]\n"
		"       tcpstate tune --revert FILE [--netns NS] [--json]\n"
		"\n"
		"Audits the TCP settings (/proc/sys) of a network namespace: current value, kernel\n"
		"default, the states each one governs, and a recommendation driven by what the\n"
		"sockets of that namespace show now (orphaned FIN_WAIT_2, TIME_WAIT against the\n"
		"port range and tcp_max_tw_buckets, orphans in FIN_WAIT_1/LAST_ACK/CLOSING, full\n"
		"accept queues, SYN_RECEIVED against tcp_max_syn_backlog). Then lints the sysctl\n"
		"configuration files (/etc/sysctl.conf, sysctl.d directories). No sysctl ends\n"
		"CLOSE_WAIT: the program must close() (see 'tcpstate doctor').\n"
		"\n"
		"Nothing is changed without one of these:\n"
		"      --write FILE       write the recommended changes as a sysctl.d drop-in\n"
		"                         (atomically; 'sysctl -p FILE' accepts it)\n"
		"      --apply            set the recommended values in /proc/sys of the target\n"
		"                         namespace, after saving the old ones; with --netns,\n"
		"                         host-wide settings (fs.*, tcp_max_orphans) are not applied\n"
		"      --save FILE        where --apply saves the old values (default:\n"
		"                         " BACKUP_DIR "/tune-backup-NETNS-TIME.conf)\n"
		"      --revert FILE      restore the values a --apply saved, in the namespace\n"
		"                         recorded in FILE (or --netns)\n"
		"Where and how:\n"
		"  -N, --netns NS         another network namespace: a name in /run/netns, a path,\n"
		"                         or a pid (default: your own)\n"
		"  -j, --json             one JSON document\n"
		"      --config-root DIR  read the configuration files under DIR instead of /\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 success, 1 error, 2 usage error.\n");
}

/* ---- small helpers ---- */

static void tabs_to_spaces(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
	for (char *p = dst; *p; p++)
		if (*p == '\t')
			*p = ' ';
}

static void governs_text(ts_state_mask_t m, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (m & TS_STATE_BIT(st))
			len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
						len ? "," : "", ts_state_name(st));
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

static json_object *governs_json(ts_state_mask_t m)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		if (m & TS_STATE_BIT(st))
			json_object_array_add(a, json_object_new_string(ts_state_name(st)));
	}
	return a;
}

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, then rename (or link, when an existing file must be kept). */
static int write_atomic(const char *path, const char *data, bool no_replace)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), tmp[PATH_MAX];
	size_t len = strlen(data), off = 0;
	int fd = -1, dfd, r = 0;

	if (!dcopy || !bcopy) {
		r = -ENOMEM;
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy)) >=
	    (int)sizeof(tmp)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fchmod(fd, 0644) < 0)
		r = -errno;
	while (r == 0 && off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0) {
		if (no_replace) {
			if (link(tmp, path) < 0)
				r = -errno;
			unlink(tmp);
		} else if (rename(tmp, path) < 0) {
			r = -errno;
		}
	}
	if (r < 0) {
		unlink(tmp);
		goto out;
	}
	dfd = open(dirname(strcpy(dcopy, path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(dcopy);
	free(bcopy);
	return r;
}

/* A growing text buffer; on allocation failure it stays NULL and reports -ENOMEM. */
struct text {
	char *s;
	size_t len;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *more;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vasprintf(&more, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	char *s = realloc(t->s, t->len + (size_t)n + 1);

	if (!s) {
		free(more);
		t->failed = true;
		return;
	}
	memcpy(s + t->len, more, (size_t)n + 1);
	t->s = s;
	t->len += (size_t)n;
	free(more);
}

/* For people (with the zone), or for a file name. */
static void timestamp(char *buf, size_t size, bool for_file)
{
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;

	if (localtime_r(&now, &tm))
		n = for_file ? strftime(buf, size, "%Y%m%dT%H%M%S", &tm)
			     : strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm);
	if (n == 0)
		snprintf(buf, size, "%lld", (long long)now);
}

static const char *errno_text(int r)
{
	return strerror(r < 0 ? -r : r);
}

static int open_sysctl(const char *netns, struct ts_sysctl **ret)
{
	int r = ts_sysctl_open(netns, NULL, ret);

	if (r == -ENOENT || r == -EINVAL)
		cli_error("no network namespace '%s' (a name in /run/netns, a path or a pid)", netns);
	else if (r == -EPERM || r == -EACCES)
		cli_error("not permitted to open that namespace: %s (try as root)", errno_text(r));
	else if (r < 0)
		cli_error("cannot open the settings: %s", errno_text(r));
	return r;
}

/* ---- the audit ---- */

struct audit {
	struct ts_snapshot *snap;
	struct ts_tune_observed obs;
	struct ts_tune_row *rows;
	size_t n_rows;
	struct ts_sysctl_conf *conf;
	struct ts_lint_finding *findings;
	size_t n_findings;
	char netns_name[64];
	uint64_t netns_inode;
	struct change *changes;     /* what --write and --apply do */
	size_t n_changes;
	const char **host_skipped;  /* host-wide changes left out for a namespace target */
	size_t n_host_skipped;
};

static void audit_free(struct audit *a)
{
	ts_snapshot_free(a->snap);
	free(a->rows);
	ts_sysctl_conf_free(a->conf);
	ts_lint_findings_free(a->findings, a->n_findings);
	free(a->changes);
	free(a->host_skipped);
}

static int audit_run(const struct tune_args *ta, struct ts_sysctl *s, struct audit *a)
{
	struct cli_snapshot_args sa;
	const struct ts_netns *ns;
	struct ts_sysctl *live = NULL;
	char range[128];
	uint32_t lo = 32768, hi = 60999;
	int64_t somaxconn = 0;
	int r;

	cli_snapshot_args_init(&sa);
	sa.opts.netns = ta->netns;
	sa.opts.owners = TS_OWNERS_NONE; /* counts and inodes are enough, and fast */
	if (cli_snapshot_take(&sa, &a->snap) < 0)
		return -1;
	ns = ts_snapshot_netns(a->snap, 0);
	if (ns) {
		snprintf(a->netns_name, sizeof(a->netns_name), "%s", ns->name);
		a->netns_inode = ns->inode;
	}

	if (ts_sysctl_read(s, "net.ipv4.ip_local_port_range", range, sizeof(range)) == 0) {
		unsigned l, h;

		if (sscanf(range, "%u %u", &l, &h) == 2 && l <= h && h <= 65535) {
			lo = l;
			hi = h;
		}
	}
	(void)ts_sysctl_read_int(s, "net.core.somaxconn", &somaxconn);
	r = ts_tune_observe(a->snap, lo, hi, somaxconn, &a->obs);
	if (r == 0)
		r = ts_tune_advise(s, &a->obs, &a->rows, &a->n_rows);
	if (r < 0) {
		cli_error("cannot work out the advice: %s", errno_text(r));
		return -1;
	}

	a->changes = calloc(a->n_rows, sizeof(*a->changes));
	a->host_skipped = calloc(a->n_rows, sizeof(*a->host_skipped));
	if (!a->changes || !a->host_skipped) {
		cli_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		struct change *c;

		if (row->action != TS_TUNE_CHANGE)
			continue;
		if (!row->info->per_netns && ta->netns) {
			a->host_skipped[a->n_host_skipped++] = row->info->name;
			continue;
		}
		c = &a->changes[a->n_changes++];
		c->name = row->info->name;
		snprintf(c->from, sizeof(c->from), "%s", row->current);
		snprintf(c->to, sizeof(c->to), "%s", row->recommended);
		c->reason = row->reason;
	}

	/* The files apply where systemd-sysctl runs: the caller's namespace. */
	r = ts_sysctl_conf_load(ta->config_root, &a->conf);
	if (r < 0) {
		cli_error("cannot read the sysctl configuration: %s", errno_text(r));
		return -1;
	}
	r = ts_sysctl_open(NULL, NULL, &live);
	if (r == 0)
		r = ts_sysctl_conf_lint(a->conf, live, &a->findings, &a->n_findings);
	ts_sysctl_free(live);
	if (r < 0) {
		cli_error("cannot lint the sysctl configuration: %s", errno_text(r));
		return -1;
	}
	return 0;
}

static void print_observed(const struct audit *a)
{
	const struct ts_tune_observed *o = &a->obs;
	char addr[INET6_ADDRSTRLEN] = "?";

	printf("Sockets: %u TIME_WAIT (%u outgoing", o->count[TS_STATE_TIME_WAIT], o->tw_outgoing);
	if (o->tw_top_count) {
		inet_ntop(o->tw_top_family, &o->tw_top_addr, addr, sizeof(addr));
		printf(", at most %u to %s%s%s:%u", o->tw_top_count,
		       o->tw_top_family == AF_INET6 ? "[" : "", addr,
		       o->tw_top_family == AF_INET6 ? "]" : "", o->tw_top_port);
	}
	printf("), %u FIN_WAIT_2 (%u orphaned), %u orphaned and %u held in FIN_WAIT_1/LAST_ACK/CLOSING,\n"
	       "         %u CLOSE_WAIT, %u LISTEN (%u with a full accept queue), %u SYN_RECEIVED, %u SYN_SENT\n",
	       o->count[TS_STATE_FIN_WAIT_2], o->fin_wait_2_orphans, o->closing_orphans,
	       o->closing_held, o->count[TS_STATE_CLOSE_WAIT], o->count[TS_STATE_LISTEN],
	       o->listen_full, o->count[TS_STATE_SYN_RECEIVED], o->count[TS_STATE_SYN_SENT]);
}

static void print_audit(const struct tune_args *ta, const struct audit *a)
{
	bool host_note = false;

	if (strncmp(a->netns_name, "net:[", 5) == 0)
		printf("TCP settings of network namespace %s\n", a->netns_name);
	else
		printf("TCP settings of network namespace %s (net:[%llu])\n", a->netns_name,
		       (unsigned long long)a->netns_inode);
	print_observed(a);
	putchar('\n');
	printf("%-30s %-13s %-13s %-8s %-13s %s\n", "SETTING", "CURRENT", "DEFAULT", "ACTION",
	       "RECOMMENDED", "GOVERNS");
	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		char cur[128], def[128], rec[128], gov[160];

		tabs_to_spaces(cur, sizeof(cur), row->action == TS_TUNE_UNAVAILABLE ? "-" : row->current);
		tabs_to_spaces(def, sizeof(def), row->info->kernel_default ? row->info->kernel_default
									  : "(memory)");
		tabs_to_spaces(rec, sizeof(rec), row->recommended[0] ? row->recommended : "");
		governs_text(row->info->governs, gov, sizeof(gov));
		size_t rl = strlen(row->reason);

		printf("%-30s %-13s %-13s %-8s %-13s %s%s\n", row->info->name, cur, def,
		       ts_tune_action_name(row->action), rec[0] ? rec : "-",
		       row->info->governs ? gov : "(no state)",
		       !row->info->per_netns ? " [host-wide]" : "");
		printf("    %s%s\n", row->reason, rl && row->reason[rl - 1] == '.' ? "" : ".");
		host_note |= !row->info->per_netns;
	}
	putchar('\n');
	printf("CLOSE_WAIT: %s", CLOSE_WAIT_NOTE);
	if (a->obs.count[TS_STATE_CLOSE_WAIT])
		printf(" (%u socket%s in CLOSE_WAIT here now.)", a->obs.count[TS_STATE_CLOSE_WAIT],
		       a->obs.count[TS_STATE_CLOSE_WAIT] == 1 ? "" : "s");
	putchar('\n');
	if (host_note && ta->netns)
		printf("Host-wide settings are shown as the host has them; tcpstate does not change "
		       "them for a --netns target.\n");

	putchar('\n');
	printf("Configuration files under %s (%zu read; compared with the running values where "
	       "tcpstate runs):\n", ta->config_root ? ta->config_root : "/", a->conf->n_files);
	if (a->n_findings == 0)
		printf("  no findings\n");
	for (size_t i = 0; i < a->n_findings; i++) {
		const struct ts_lint_finding *f = &a->findings[i];

		if (f->key)
			printf("  %s:%u: %s: %s = %s: %s\n", f->file, f->line,
			       ts_lint_severity_name(f->severity), f->key, f->value, f->message);
		else
			printf("  %s:%u: %s: %s\n", f->file, f->line, ts_lint_severity_name(f->severity),
			       f->message);
	}

	putchar('\n');
	if (a->n_changes == 0 && a->n_host_skipped == 0)
		printf("No change recommended: keep the settings.\n");
	else if (!ta->apply && !ta->write)
		printf("%zu change%s recommended; nothing was changed. Use --write FILE for a sysctl.d "
		       "drop-in, or --apply (the old values are saved for --revert).\n",
		       a->n_changes, a->n_changes == 1 ? "" : "s");
	for (size_t i = 0; i < a->n_host_skipped; i++)
		printf("Not for a namespace target: %s is host-wide; change it on the host if at all.\n",
		       a->host_skipped[i]);
}

static json_object *audit_json(const struct tune_args *ta, const struct audit *a)
{
	const struct ts_tune_observed *o = &a->obs;
	json_object *root = json_object_new_object(), *ns = json_object_new_object();
	json_object *obs = json_object_new_object(), *states = json_object_new_object();
	json_object *settings = json_object_new_array(), *cw = json_object_new_object();
	json_object *conf = json_object_new_object(), *files = json_object_new_array();
	json_object *findings = json_object_new_array(), *changes = json_object_new_array();
	json_object *skipped = json_object_new_array();

	json_object_object_add(ns, "name", json_object_new_string(a->netns_name));
	json_object_object_add(ns, "inode", json_object_new_int64((int64_t)a->netns_inode));
	json_object_object_add(root, "netns", ns);

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		json_object_object_add(states, ts_state_name(st), json_object_new_int64(o->count[st]));
	}
	json_object_object_add(obs, "states", states);
	json_object_object_add(obs, "fin_wait_2_orphans", json_object_new_int64(o->fin_wait_2_orphans));
	json_object_object_add(obs, "closing_orphans", json_object_new_int64(o->closing_orphans));
	json_object_object_add(obs, "closing_held", json_object_new_int64(o->closing_held));
	json_object_object_add(obs, "time_wait_outgoing", json_object_new_int64(o->tw_outgoing));
	if (o->tw_top_count) {
		json_object *t = json_object_new_object();
		char addr[INET6_ADDRSTRLEN] = "?";

		inet_ntop(o->tw_top_family, &o->tw_top_addr, addr, sizeof(addr));
		json_object_object_add(t, "remote_addr", json_object_new_string(addr));
		json_object_object_add(t, "remote_port", json_object_new_int(o->tw_top_port));
		json_object_object_add(t, "count", json_object_new_int64(o->tw_top_count));
		json_object_object_add(obs, "time_wait_top", t);
	} else {
		json_object_object_add(obs, "time_wait_top", NULL);
	}
	json_object_object_add(obs, "listen_full", json_object_new_int64(o->listen_full));
	json_object_object_add(obs, "listen_at_somaxconn", json_object_new_int64(o->listen_at_somaxconn));
	json_object_object_add(obs, "syn_received_top", json_object_new_int64(o->syn_recv_top));
	json_object_object_add(root, "observed", obs);

	for (size_t i = 0; i < a->n_rows; i++) {
		const struct ts_tune_row *row = &a->rows[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(row->info->name));
		json_object_object_add(e, "current", row->action == TS_TUNE_UNAVAILABLE ? NULL
						     : json_object_new_string(row->current));
		json_object_object_add(e, "default", str_or_null(row->info->kernel_default));
		json_object_object_add(e, "governs", governs_json(row->info->governs));
		json_object_object_add(e, "per_netns", json_object_new_boolean(row->info->per_netns));
		json_object_object_add(e, "what", json_object_new_string(row->info->what));
		json_object_object_add(e, "action", json_object_new_string(ts_tune_action_name(row->action)));
		json_object_object_add(e, "recommended",
				       row->recommended[0] ? json_object_new_string(row->recommended) : NULL);
		json_object_object_add(e, "reason", json_object_new_string(row->reason));
		json_object_array_add(settings, e);
	}
	json_object_object_add(root, "settings", settings);

	json_object_object_add(cw, "count", json_object_new_int64(o->count[TS_STATE_CLOSE_WAIT]));
	json_object_object_add(cw, "note", json_object_new_string(CLOSE_WAIT_NOTE));
	json_object_object_add(root, "close_wait", cw);

	json_object_object_add(conf, "root", json_object_new_string(ta->config_root ? ta->config_root : "/"));
	for (size_t i = 0; i < a->conf->n_files; i++)
		json_object_array_add(files, json_object_new_string(a->conf->files[i]));
	json_object_object_add(conf, "files", files);
	for (size_t i = 0; i < a->n_findings; i++) {
		const struct ts_lint_finding *f = &a->findings[i];
		json_object *e = json_object_new_object();

		json_object_object_add(e, "file", json_object_new_string(f->file));
		json_object_object_add(e, "line", json_object_new_int64(f->line));
		json_object_object_add(e, "kind", json_object_new_string(ts_lint_kind_name(f->kind)));
		json_object_object_add(e, "severity",
				       json_object_new_string(ts_lint_severity_name(f->severity)));
		json_object_object_add(e, "key", str_or_null(f->key));
		json_object_object_add(e, "value", str_or_null(f->value));
		json_object_object_add(e, "current", str_or_null(f->current));
		json_object_object_add(e, "message", json_object_new_string(f->message));
		json_object_array_add(findings, e);
	}
	json_object_object_add(conf, "findings", findings);
	json_object_object_add(root, "config", conf);

	for (size_t i = 0; i < a->n_changes; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(a->changes[i].name));
		json_object_object_add(e, "from", json_object_new_string(a->changes[i].from));
		json_object_object_add(e, "to", json_object_new_string(a->changes[i].to));
		json_object_array_add(changes, e);
	}
	json_object_object_add(root, "changes", changes);
	for (size_t i = 0; i < a->n_host_skipped; i++)
		json_object_array_add(skipped, json_object_new_string(a->host_skipped[i]));
	json_object_object_add(root, "host_wide_skipped", skipped);
	json_object_object_add(root, "written", NULL);
	json_object_object_add(root, "backup", NULL);
	json_object_object_add(root, "applied", json_object_new_array());
	return root;
}

/* ---- --write ---- */

static int do_write(const struct tune_args *ta, const struct audit *a)
{
	struct text t = { 0 };
	char when[64], val[128];
	int r;

	timestamp(when, sizeof(when), false);
	text_add(&t, "# Written by tcpstate tune on %s for network namespace %s.\n", when, a->netns_name);
	if (ta->netns)
		text_add(&t, "# These are per-namespace settings: apply inside it, e.g.\n"
			     "#   ip netns exec %s sysctl -p %s\n", a->netns_name, ta->write);
	else
		text_add(&t, "# Apply with: sysctl -p %s (or copy it to /etc/sysctl.d/)\n", ta->write);
	text_add(&t, "# %s\n", CLOSE_WAIT_NOTE);
	if (a->n_changes == 0)
		text_add(&t, "#\n# Nothing to change: no audited setting is behind what the sockets show.\n");
	for (size_t i = 0; i < a->n_changes; i++) {
		tabs_to_spaces(val, sizeof(val), a->changes[i].from);
		text_add(&t, "\n# %s (was %s)\n", a->changes[i].reason, val);
		tabs_to_spaces(val, sizeof(val), a->changes[i].to);
		text_add(&t, "%s = %s\n", a->changes[i].name, val);
	}
	for (size_t i = 0; i < a->n_host_skipped; i++)
		text_add(&t, "\n# Left out: %s is host-wide, not a setting of this namespace.\n",
			 a->host_skipped[i]);
	if (t.failed) {
		free(t.s);
		cli_error("out of memory");
		return -1;
	}
	r = write_atomic(ta->write, t.s, false);
	free(t.s);
	if (r < 0) {
		cli_error("cannot write %s: %s", ta->write, errno_text(r));
		return -1;
	}
	if (!ta->json)
		printf("Wrote %zu setting%s to %s.\n", a->n_changes, a->n_changes == 1 ? "" : "s",
		       ta->write);
	return 0;
}

/* ---- --apply ---- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}

static int save_backup(const struct audit *a, const char *path)
{
	struct text t = { 0 };
	char when[64], val[128];
	int r;

	timestamp(when, sizeof(when), false);
	text_add(&t, "# tcpstate tune backup: the values before --apply.\n"
		     "# Restore with: tcpstate tune --revert %s\n"
		     "# netns: %s\n# netns-inode: %llu\n# taken: %s\n",
		 path, a->netns_name, (unsigned long long)a->netns_inode, when);
	for (size_t i = 0; i < a->n_changes; i++) {
		tabs_to_spaces(val, sizeof(val), a->changes[i].from);
		text_add(&t, "%s = %s\n", a->changes[i].name, val);
	}
	if (t.failed) {
		free(t.s);
		return -ENOMEM;
	}
	r = write_atomic(path, t.s, true);
	free(t.s);
	return r;
}

static int do_apply(const struct tune_args *ta, struct ts_sysctl *s, const struct audit *a,
		    json_object *applied, char *backup, size_t backup_size)
{
	char from[128], to[128], now[128];
	int r;

	backup[0] = '\0';
	if (a->n_changes == 0) {
		if (!ta->json)
			printf("Nothing to apply; no backup written.\n");
		return 0;
	}
	if (ta->save) {
		snprintf(backup, backup_size, "%s", ta->save);
	} else {
		char name[64], when[32];

		snprintf(name, sizeof(name), "%s", a->netns_name);
		sanitize(name);
		timestamp(when, sizeof(when), true);
		if (mkdir(BACKUP_DIR, 0700) < 0 && errno != EEXIST) {
			cli_error("cannot create %s: %s", BACKUP_DIR, strerror(errno));
			return -1;
		}
		snprintf(backup, backup_size, BACKUP_DIR "/tune-backup-%s-%s.conf", name, when);
	}
	r = save_backup(a, backup);
	if (r < 0) {
		if (r == -EEXIST)
			cli_error("%s exists: not overwriting a backup (pass another --save FILE)", backup);
		else
			cli_error("cannot save the old values to %s: %s; nothing was changed", backup,
				  errno_text(r));
		backup[0] = '\0';
		return -1;
	}
	if (!ta->json) {
		printf("Saved the old values to %s (undo: tcpstate tune --revert %s)\n", backup, backup);
		printf("Applying in network namespace %s:\n", a->netns_name);
	}
	for (size_t i = 0; i < a->n_changes; i++) {
		const struct change *c = &a->changes[i];
		json_object *e;

		tabs_to_spaces(from, sizeof(from), c->from);
		tabs_to_spaces(to, sizeof(to), c->to);
		r = ts_sysctl_write(s, c->name, c->to);
		if (r < 0) {
			cli_error("cannot set %s to %s: %s; %zu of %zu applied (undo: tcpstate tune "
				  "--revert %s)", c->name, to, errno_text(r), i, a->n_changes, backup);
			return -1;
		}
		if (!ta->json)
			printf("  %s: %s -> %s\n", c->name, from, to);
		if (ts_sysctl_read(s, c->name, now, sizeof(now)) == 0 && !ts_sysctl_value_equal(now, c->to))
			cli_warn("%s reads back as '%s', not '%s'", c->name, now, c->to);
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(c->name));
		json_object_object_add(e, "from", json_object_new_string(c->from));
		json_object_object_add(e, "to", json_object_new_string(c->to));
		json_object_array_add(applied, e);
	}
	return 0;
}

/* ---- --revert ---- */

struct backup_header {
	char netns[64];
	uint64_t inode;
	bool has_inode;
};

static int read_backup_header(const char *path, struct backup_header *h)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	memset(h, 0, sizeof(*h));
	while (getline(&line, &cap, f) > 0) {
		unsigned long long ino;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "# netns: ", 9) == 0)
			snprintf(h->netns, sizeof(h->netns), "%s", line + 9);
		else if (sscanf(line, "# netns-inode: %llu", &ino) == 1) {
			h->inode = ino;
			h->has_inode = true;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

static uint64_t own_netns_inode(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static uint64_t path_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int do_revert(const struct tune_args *ta)
{
	struct ts_sysctl_conf *conf = NULL;
	struct ts_sysctl *s = NULL;
	struct backup_header h;
	const char *target = ta->netns;
	char pathbuf[PATH_MAX], cur[TS_SYSCTL_VALUE_MAX], shown[TS_SYSCTL_VALUE_MAX];
	json_object *root = NULL, *arr = NULL;
	bool own;
	int r, rc = EXIT_ERROR;

	r = read_backup_header(ta->revert, &h);
	if (r < 0) {
		cli_error("cannot read %s: %s", ta->revert, errno_text(r));
		return EXIT_ERROR;
	}
	if (ts_sysctl_conf_new(&conf) < 0 || ts_sysctl_conf_parse_file(conf, ta->revert) < 0) {
		cli_error("cannot read %s", ta->revert);
		goto out;
	}
	if (conf->n_bad) {
		cli_error("%s:%u: %s: not a tcpstate backup", conf->bad[0].file, conf->bad[0].line,
			  conf->bad[0].why);
		goto out;
	}

	if (!target) {
		if (!h.has_inode) {
			cli_error("%s records no namespace: pass --netns", ta->revert);
			goto out;
		}
		if (h.inode == own_netns_inode()) {
			target = NULL;
		} else {
			if (strcmp(h.netns, "init") == 0)
				snprintf(pathbuf, sizeof(pathbuf), "/proc/1/ns/net");
			else if (h.netns[0] && !strchr(h.netns, '/') && strncmp(h.netns, "net:[", 5) != 0)
				snprintf(pathbuf, sizeof(pathbuf), "/run/netns/%s", h.netns);
			else
				pathbuf[0] = '\0';
			if (!pathbuf[0] || path_inode(pathbuf) != h.inode) {
				cli_error("the namespace of this backup (%s, net:[%llu]) is gone or renamed: "
					  "pass --netns", h.netns, (unsigned long long)h.inode);
				goto out;
			}
			target = pathbuf;
		}
	}
	if (open_sysctl(target, &s) < 0)
		goto out;
	own = !target || ts_sysctl_netns_inode(s) == own_netns_inode();
	if (ta->netns && h.has_inode && ts_sysctl_netns_inode(s) != h.inode &&
	    !(own && h.inode == own_netns_inode()))
		cli_warn("restoring into %s; the backup was taken in %s (net:[%llu])", ta->netns,
			 h.netns, (unsigned long long)h.inode);

	/* Check everything before changing anything. */
	for (size_t i = 0; i < conf->n_entries; i++) {
		const struct ts_sysctl_conf_entry *e = &conf->entries[i];
		const struct ts_sysctl_info *info = ts_sysctl_lookup(e->key);

		if (!ts_sysctl_name_valid(e->key)) {
			cli_error("%s:%u: bad setting name '%s'", e->file, e->line, e->key);
			goto out;
		}
		if (info && !info->per_netns && !own) {
			cli_error("%s:%u: %s is host-wide: not restored into another namespace",
				  e->file, e->line, e->key);
			goto out;
		}
	}
	if (ta->json) {
		root = json_object_new_object();
		arr = json_object_new_array();
	} else {
		printf("Restoring %zu setting%s from %s:\n", conf->n_entries,
		       conf->n_entries == 1 ? "" : "s", ta->revert);
	}
	for (size_t i = 0; i < conf->n_entries; i++) {
		const struct ts_sysctl_conf_entry *e = &conf->entries[i];
		bool changed;
		json_object *o;

		r = ts_sysctl_read(s, e->key, cur, sizeof(cur));
		if (r < 0) {
			cli_error("cannot read %s: %s", e->key, errno_text(r));
			goto out;
		}
		changed = !ts_sysctl_value_equal(cur, e->value);
		if (changed) {
			r = ts_sysctl_write(s, e->key, e->value);
			if (r < 0) {
				cli_error("cannot set %s to %s: %s", e->key, e->value, errno_text(r));
				goto out;
			}
		}
		tabs_to_spaces(shown, sizeof(shown), cur);
		if (!ta->json) {
			if (changed)
				printf("  %s: %s -> %s\n", e->key, shown, e->value);
			else
				printf("  %s: %s (unchanged)\n", e->key, shown);
		} else {
			o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(e->key));
			json_object_object_add(o, "from", json_object_new_string(cur));
			json_object_object_add(o, "to", json_object_new_string(e->value));
			json_object_object_add(o, "changed", json_object_new_boolean(changed));
			json_object_array_add(arr, o);
		}
	}
	if (root) {
		json_object_object_add(root, "reverted", arr);
		arr = NULL;
		json_object_object_add(root, "file", json_object_new_string(ta->revert));
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	}
	rc = EXIT_OK;
out:
	json_object_put(arr);
	json_object_put(root);
	ts_sysctl_free(s);
	ts_sysctl_conf_free(conf);
	return rc;
}

/* ---- the verb ---- */

int cmd_tune(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "netns", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "write", required_argument, NULL, OPT_WRITE },
		{ "apply", no_argument, NULL, OPT_APPLY },
		{ "save", required_argument, NULL, OPT_SAVE },
		{ "revert", required_argument, NULL, OPT_REVERT },
		{ "config-root", required_argument, NULL, OPT_CONFIG_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct tune_args ta = { 0 };
	struct audit a = { 0 };
	struct ts_sysctl *s = NULL;
	json_object *root = NULL;
	char backup[PATH_MAX] = "";
	int opt, rc = EXIT_ERROR;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "N:jh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'N':
			ta.netns = optarg;
			break;
		case 'j':
			ta.json = true;
			break;
		case OPT_WRITE:
			ta.write = optarg;
			break;
		case OPT_APPLY:
			ta.apply = true;
			break;
		case OPT_SAVE:
			ta.save = optarg;
			break;
		case OPT_REVERT:
			ta.revert = optarg;
			break;
		case OPT_CONFIG_ROOT:
			ta.config_root = optarg;
			break;
		case 'h':
			tune_help(stdout);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'tcpstate tune --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s' (try 'tcpstate tune --help')", argv[optind]);
		return EXIT_USAGE;
	}
	if (ta.revert && (ta.apply || ta.write || ta.save || ta.config_root)) {
		cli_error("--revert excludes --apply, --write, --save and --config-root");
		return EXIT_USAGE;
	}
	if (ta.save && !ta.apply) {
		cli_error("--save goes with --apply");
		return EXIT_USAGE;
	}
	if ((ta.write && !*ta.write) || (ta.save && !*ta.save) || (ta.revert && !*ta.revert) ||
	    (ta.config_root && !*ta.config_root)) {
		cli_error("empty file name");
		return EXIT_USAGE;
	}
	if (ta.revert)
		return do_revert(&ta);

	if (open_sysctl(ta.netns, &s) < 0)
		return EXIT_ERROR;
	if (audit_run(&ta, s, &a) < 0)
		goto out;

	if (ta.json)
		root = audit_json(&ta, &a);
	else
		print_audit(&ta, &a);

	if (ta.write) {
		if (!ta.json)
			putchar('\n');
		if (do_write(&ta, &a) < 0)
			goto print;
		if (root)
			json_object_object_add(root, "written", json_object_new_string(ta.write));
	}
	if (ta.apply) {
		json_object *applied = json_object_new_array();
		int r;

		if (!ta.json)
			putchar('\n');
		r = do_apply(&ta, s, &a, applied, backup, sizeof(backup));
		if (root) {
			json_object_object_add(root, "applied", applied);
			json_object_object_add(root, "backup", backup[0] ? json_object_new_string(backup) : NULL);
		} else {
			json_object_put(applied);
		}
		if (r < 0)
			goto print;
	}
	rc = EXIT_OK;
print:
	if (root)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		rc = EXIT_ERROR;
	}
out:
	json_object_put(root);
	audit_free(&a);
	ts_sysctl_free(s);
	return rc;
}
