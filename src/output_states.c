/* SPDX-License-Identifier: MIT */
/* The 13-row state summary, shared by summary and doctor. */
#include <stdio.h>
#include <json-c/json.h>

#include "output.h"
#include "term_safe.h"

void output_state_counts_text(FILE *f, const uint32_t counts[_TS_STATE_MAX], const char *title)
{
	uint32_t total = 0;

	term_safe_fputs(title, f);
	fputc('\n', f);
	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		fprintf(f, "  %-13s %8u\n", ts_state_name(st), counts[st]);
		total += counts[st];
	}
	if (counts[TS_STATE_UNKNOWN]) {
		fprintf(f, "  %-13s %8u\n", "UNKNOWN", counts[TS_STATE_UNKNOWN]);
		total += counts[TS_STATE_UNKNOWN];
	}
	fprintf(f, "  %-13s %8u\n", "total", total);
}

struct json_object *output_state_counts_json(const uint32_t counts[_TS_STATE_MAX])
{
	json_object *o = json_object_new_object();
	uint32_t total = 0;

	for (unsigned i = 0; i < TS_STATE_COUNT; i++) {
		enum ts_state st = ts_state_lifecycle_order(i);

		json_object_object_add(o, ts_state_name(st), json_object_new_int64(counts[st]));
		total += counts[st];
	}
	json_object_object_add(o, "UNKNOWN", json_object_new_int64(counts[TS_STATE_UNKNOWN]));
	json_object_object_add(o, "total", json_object_new_int64(total + counts[TS_STATE_UNKNOWN]));
	return o;
}
