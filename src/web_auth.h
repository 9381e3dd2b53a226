/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Basic authentication of the exporter's scrapes against the bcrypt hashes of
 * the web config (libxcrypt's crypt_rn). A successful (user, password) is
 * remembered as an HMAC-SHA256 under a key drawn at start, in a small table,
 * so that a scrape every few seconds does not cost a bcrypt each: only the
 * first scrape of a user and every wrong password do. bcrypt runs one at a
 * time (on the connection's thread, never the collector's): a flood of wrong
 * passwords takes at most one CPU and delays other new passwords, not the
 * remembered ones.
 */
#include <stdbool.h>

#include "webconfig.h"

#define WEB_AUTH_CACHE_SIZE 16u  /* remembered successes; the oldest is replaced */

struct web_auth;

/* 0 and *ret, or a negative errno. wc must outlive it. */
int web_auth_new(const struct webconfig *wc, struct web_auth **ret);

/* Whether user and password match a configured user; false for NULLs. Thread-safe. */
bool web_auth_check(struct web_auth *a, const char *user, const char *password);

/* bcrypt computations done (the successes not found in the table, and every failure). */
unsigned long web_auth_bcrypt_runs(struct web_auth *a);

struct web_auth *web_auth_free(struct web_auth *a);
