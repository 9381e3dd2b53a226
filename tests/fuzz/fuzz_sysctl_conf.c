/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one sysctl.d file (lib/sysctl/sysctl_conf.c) through the real
 * entry point (a memfd, opened by path), then the lint without a live
 * kernel and the value checks on every entry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tcpstate/sysctl_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct ts_sysctl_conf *c;
	struct ts_lint_finding *f = NULL;
	size_t n = 0;

	if (fd < 0) {
		fd = memfd_create("sysctl.conf", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (ts_sysctl_conf_new(&c) < 0)
		return 0;
	if (ts_sysctl_conf_parse_file(c, path) == 0) {
		for (size_t i = 0; i < c->n_entries; i++) {
			const struct ts_sysctl_conf_entry *e = &c->entries[i];
			const char *why = NULL;
			char *key = strdup(e->key);

			if (ts_sysctl_value_check(e->key, e->value, &why) < 0 && !why)
				abort(); /* a refusal always says why */
			if (!ts_sysctl_value_equal(e->value, e->value))
				abort();
			if (key) {
				ts_sysctl_key_normalize(key);
				if (strcmp(key, e->key) != 0)
					abort(); /* keys are stored normalized */
				free(key);
			}
			(void)ts_sysctl_name_valid(e->key);
		}
		if (ts_sysctl_conf_lint(c, NULL, &f, &n) == 0)
			ts_lint_findings_free(f, n);
	}
	ts_sysctl_conf_free(c);
	return 0;
}
