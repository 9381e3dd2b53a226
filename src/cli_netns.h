/* SPDX-License-Identifier: MIT */
#pragma once

/* --netns NS, shared by every verb that takes it. */

#include <stdbool.h>

#include "tcpstate/netns.h"

/*
 * --netns NS before anything runs: -1 when NS can name no network namespace
 * (a usage error, reported, one message per bad form), 0 with *ret filled
 * (ret may be NULL). A note on stderr says so when a /run/netns name made
 * of digits wins over the pid of a live process. 1 (nothing filled) for
 * NULL, and for a well-formed NS that names nothing now or that we may not
 * open: the verb meets those again when it acts and reports them with
 * cli_netns_error() (exit 1).
 */
int cli_netns_check(const char *spec, struct ts_netns_ref *ret);
/* The message for a ts_netns_lookup() error; whether it is a usage error (exit 2, else 1). */
bool cli_netns_usage_error(int err);
void cli_netns_error(const char *spec, int err);
