/* SPDX-License-Identifier: MIT */
/* The first keys of the CLI's JSON documents. */
#include <time.h>
#include <json-c/json.h>

#include "cli.h"

void cli_json_header(struct json_object *root)
{
	char buf[32] = "";
	struct timespec ts;
	struct tm tm;

	json_object_object_add(root, "schema_version", json_object_new_int(CLI_JSON_SCHEMA_VERSION));
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm))
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(root, "generated_at", buf[0] ? json_object_new_string(buf) : NULL);
}
