/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Checks of a Prometheus exposition shared by the unit tests of its
 * renderers (test_metrics_render.c, test_metrics_transitions.c). Include
 * after <cmocka.h>.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether text has line as a whole line. */
static inline bool exposition_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* The part of a sample line after its family's name, or NULL when the line
 * is not the family's: counters' samples end in _total (in the text format
 * the family's own name has it, in OpenMetrics it has not), histograms'
 * in _bucket, _sum or _count. */
static inline const char *exposition_sample_rest(const char *line, const char *family,
						 const char *type, bool openmetrics)
{
	size_t fl = strlen(family);
	bool counter = strcmp(type, "counter") == 0;
	const char *rest;

	if (counter && !openmetrics) {
		if (fl < 6 || strcmp(family + fl - 6, "_total") != 0)
			return NULL;
		fl -= 6;
	}
	if (strncmp(line, family, fl) != 0)
		return NULL;
	rest = line + fl;
	if (counter)
		return strncmp(rest, "_total", 6) == 0 ? rest + 6 : NULL;
	if (strcmp(type, "histogram") == 0) {
		if (strncmp(rest, "_bucket", 7) == 0)
			return rest + 7;
		if (strncmp(rest, "_sum", 4) == 0)
			return rest + 4;
		return strncmp(rest, "_count", 6) == 0 ? rest + 6 : NULL;
	}
	return rest;
}

/*
 * What promtool and Prometheus check: every family has HELP then TYPE once
 * (the same name), no family twice, every sample belongs to the family the
 * last TYPE declared, with the suffixes its type allows; "# EOF" only last
 * and only in OpenMetrics (text may be a fragment of an exposition: whether
 * it ends with "# EOF" is the caller's check).
 */
static inline void exposition_assert_well_formed(const char *text, bool openmetrics)
{
	char family[128] = "", type[32] = "", seen[128][128];
	size_t n_seen = 0;

	for (const char *p = text; *p;) {
		const char *end = strchr(p, '\n'), *rest;
		char line[2048];

		assert_non_null(end);
		snprintf(line, sizeof(line), "%.*s", (int)(end - p), p);
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			for (size_t i = 0; i < n_seen; i++)
				assert_string_not_equal(seen[i], family);
			assert_true(n_seen < sizeof(seen) / sizeof(seen[0]));
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", family);
			type[0] = '\0';
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[128];

			assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, family);
		} else if (strcmp(line, "# EOF") == 0) {
			assert_true(openmetrics);
			assert_int_equal(end[1], '\0');
		} else {
			assert_true(type[0] != '\0'); /* a sample after its TYPE line */
			rest = exposition_sample_rest(line, family, type, openmetrics);
			if (!rest)
				fail_msg("sample of another family than %s (%s): %s", family, type, line);
			assert_true(rest[0] == '{' || rest[0] == ' ');
		}
		p = end + 1;
	}
}
