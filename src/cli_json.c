/* SPDX-License-Identifier: MIT */
/* The first keys of the CLI's JSON documents. */
#include <time.h>
#include <json-c/json.h>

#include "cli.h"
#include "tcpstate/snapshot.h"

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

struct json_object *cli_json_netns_names(const struct ts_snapshot *snap)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < ts_snapshot_netns_count(snap); i++)
		json_object_array_add(a, json_object_new_string(ts_snapshot_netns(snap, (uint32_t)i)->name));
	return a;
}
