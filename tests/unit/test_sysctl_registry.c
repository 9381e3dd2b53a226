/* SPDX-License-Identifier: MIT */
/* The sysctl registry: one row per setting, and everything that names a setting agrees with it. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sysctl/sysctl_internal.h"
#include "tcpstate/diagnose.h"
#include "tcpstate/state_info.h"
#include "tcpstate/sysctl_registry.h"

static const struct ts_sysctl_info *row(unsigned id)
{
	return ts_sysctl_info((enum ts_sysctl_id)id);
}

static void test_every_id_has_its_row(void **state)
{
	(void)state;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		const struct ts_sysctl_info *r = row(id);

		assert_non_null(r);
		assert_int_equal(r->id, id);
		assert_non_null(r->name);
		assert_non_null(r->path);
		assert_non_null(r->what);
		assert_true(ts_sysctl_name_valid(r->name));
		/* Not two rows for one name. */
		for (unsigned j = 0; j < id; j++)
			assert_string_not_equal(row(j)->name, r->name);
	}
	assert_null(ts_sysctl_info(_TS_SYSCTL_ID_MAX));
	assert_null(ts_sysctl_info((enum ts_sysctl_id)-1));
}

static void test_paths_match_names(void **state)
{
	(void)state;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		const struct ts_sysctl_info *r = row(id);
		char want[300];

		snprintf(want, sizeof(want), "/proc/sys/%s", r->name);
		for (char *p = want + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
		assert_string_equal(r->path, want);
	}
}

static void test_lookups_round_trip(void **state)
{
	const struct ts_sysctl_info *known;
	size_t n_known = 0, n_tuned = 0;

	(void)state;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		const struct ts_sysctl_info *r = row(id);

		assert_ptr_equal(ts_sysctl_find(r->name), r);
		/* tune's lookup finds exactly the settings it audits. */
		assert_ptr_equal(ts_sysctl_lookup(r->name), r->tuned ? r : NULL);
		n_tuned += r->tuned;
	}
	assert_null(ts_sysctl_find("net.ipv4.no_such_setting"));
	assert_null(ts_sysctl_find(NULL));
	assert_null(ts_sysctl_lookup(TS_SYSCTL_NAME(TCP_TW_RECYCLE)));

	/* tune's rows: the registry's first rows, every one tuned. */
	known = ts_sysctl_known(&n_known);
	assert_int_equal(n_known, n_tuned);
	for (size_t i = 0; i < n_known; i++) {
		assert_ptr_equal(&known[i], row((unsigned)i));
		assert_true(known[i].tuned);
	}
	assert_string_equal(known[0].name, "net.ipv4.tcp_fin_timeout");
	assert_string_equal(known[n_known - 1].name, "fs.file-max");
}

/* The defaults are values the lint's checks (and its parser) accept. */
static void test_defaults_parse(void **state)
{
	(void)state;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		const struct ts_sysctl_info *r = row(id);
		const char *why = NULL;
		int64_t v[2];
		size_t n = 0;

		if (r->shape != TS_SYSCTL_SHAPE_UNCHECKED) {
			assert_non_null(r->range_text);
			assert_true(r->min <= r->max);
		}
		if (!r->kernel_default)
			continue;
		assert_int_equal(ts_sysctl_value_check(r->name, r->kernel_default, &why), 0);
		assert_int_equal(sysctl_parse_fields(r->kernel_default, v, 2, &n), 0);
		assert_int_equal(n, r->shape == TS_SYSCTL_SHAPE_RANGE ? 2 : 1);
	}
	/* And the checks read the registry's ranges. */
	{
		const char *why = NULL;

		assert_int_equal(ts_sysctl_value_check(TS_SYSCTL_NAME(TCP_TW_REUSE), "3", &why), -ERANGE);
		assert_string_equal(why, ts_sysctl_info(TS_SYSCTL_TCP_TW_REUSE)->range_text);
		assert_int_equal(ts_sysctl_value_check(TS_SYSCTL_NAME(IP_LOCAL_PORT_RANGE), "2000", &why),
				 -EINVAL);
	}
}

/* What doctor reads is the registry's row, one to one. */
static void test_doctor_settings_are_registry_rows(void **state)
{
	(void)state;
	for (unsigned ds = 0; ds < _TS_DS_MAX; ds++) {
		enum ts_sysctl_id id = ts_diagnose_sysctl_id((enum ts_diagnose_sysctl)ds);

		assert_true((unsigned)id < _TS_SYSCTL_ID_MAX);
		assert_string_equal(ts_diagnose_sysctl_name((enum ts_diagnose_sysctl)ds), row(id)->name);
		assert_int_equal(row(id)->shape == TS_SYSCTL_SHAPE_RANGE, ds == TS_DS_PORT_RANGE);
		for (unsigned j = 0; j < ds; j++)
			assert_int_not_equal(ts_diagnose_sysctl_id((enum ts_diagnose_sysctl)j), id);
	}
	assert_int_equal(ts_diagnose_sysctl_id(_TS_DS_MAX), _TS_SYSCTL_ID_MAX);
}

/* A setting explain lists for a state is in the registry, tune audits it, and it governs that state. */
static void test_state_pages_agree(void **state)
{
	(void)state;
	for (unsigned st = 0; st < _TS_STATE_MAX; st++) {
		const struct ts_state_info *info = ts_state_info((enum ts_state)st);

		for (const char *const *n = info->sysctls; n && *n; n++) {
			const struct ts_sysctl_info *r = ts_sysctl_lookup(*n);

			assert_non_null(r);
			assert_true(r->governs & TS_STATE_BIT(st));
		}
	}
}

/* Every dotted net.* name in a text of s is a registry row (no typo, no setting unknown to it). */
static void assert_names_known(const char *text)
{
	for (const char *p = text ? strstr(text, "net.") : NULL; p; p = strstr(p + 1, "net.")) {
		char name[128];
		size_t n = 0;

		if (p > text && (p[-1] == '_' || p[-1] == '.' || (p[-1] >= 'a' && p[-1] <= 'z')))
			continue;
		while (n + 1 < sizeof(name) && ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') ||
						p[n] == '_' || p[n] == '.'))
			name[n] = p[n], n++;
		while (n > 0 && name[n - 1] == '.')
			n--; /* the end of a sentence */
		name[n] = '\0';
		if (!ts_sysctl_find(name))
			fail_msg("'%s' is not in the registry", name);
	}
}

static void test_state_page_texts_name_known_settings(void **state)
{
	(void)state;
	assert_names_known("see net.ipv4.tcp_fin_timeout. and (net.core.somaxconn)");
	for (unsigned st = 0; st < _TS_STATE_MAX; st++) {
		const struct ts_state_info *info = ts_state_info((enum ts_state)st);

		assert_names_known(info->meaning);
		assert_names_known(info->who_must_act);
		assert_names_known(info->ends_it);
		assert_names_known(info->causes);
		assert_names_known(info->how_to_see);
	}
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
		assert_names_known(row(id)->what);
		assert_names_known(row(id)->range_text);
	}
}

/*
 * Scope: a net.* setting has its own value per namespace exactly when a new
 * namespace shows it (Linux registers the host-wide ones in the initial
 * namespace only). Needs CAP_SYS_ADMIN for the new namespace.
 */
static void test_scope_in_a_new_netns(void **state)
{
	bool present[_TS_SYSCTL_ID_MAX];
	int fds[2], status;
	pid_t pid;
	char mismatch[256] = "";

	(void)state;
	for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++)
		present[id] = access(row(id)->path, F_OK) == 0;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char out[256] = "";

		close(fds[0]);
		if (unshare(CLONE_NEWNET) < 0) {
			snprintf(out, sizeof(out), "-");
		} else {
			for (unsigned id = 0; id < _TS_SYSCTL_ID_MAX; id++) {
				const struct ts_sysctl_info *r = row(id);

				if (!present[id] || strncmp(r->name, "net.", 4) != 0)
					continue;
				if ((access(r->path, F_OK) == 0) != r->per_netns) {
					snprintf(out, sizeof(out), "%s", r->name);
					break;
				}
			}
		}
		if (write(fds[1], out, strlen(out)) < 0)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], mismatch, sizeof(mismatch) - 1) < 0)
		mismatch[0] = '?';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (strcmp(mismatch, "-") == 0)
		skip(); /* no privilege for a network namespace */
	assert_string_equal(mismatch, "");
	/* Not under net/: host-wide. */
	assert_false(ts_sysctl_info(TS_SYSCTL_NR_OPEN)->per_netns);
	assert_false(ts_sysctl_info(TS_SYSCTL_FILE_MAX)->per_netns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_id_has_its_row),
		cmocka_unit_test(test_paths_match_names),
		cmocka_unit_test(test_lookups_round_trip),
		cmocka_unit_test(test_defaults_parse),
		cmocka_unit_test(test_doctor_settings_are_registry_rows),
		cmocka_unit_test(test_state_pages_agree),
		cmocka_unit_test(test_state_page_texts_name_known_settings),
		cmocka_unit_test(test_scope_in_a_new_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
