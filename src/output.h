/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tcpstate/snapshot.h"

/* A command name fit for a terminal (term_safe.h): control characters become
 * '?', so a process cannot fake or hide lines in what we print. out has
 * TS_COMM_LEN. */
void output_comm(char out[TS_COMM_LEN], const char *comm);

/* "127.0.0.1" or "::1" (no brackets). */
void output_addr(char *buf, size_t size, int family, const struct in6_addr *a);

/* "127.0.0.1:80", "0.0.0.0:80", "[::1]:80", "[::]:80" (v6only), "*:80" (the IPv6
 * wildcard without v6only: dual stack); "*" port for 0. */
void output_endpoint(char *buf, size_t size, int family, const struct in6_addr *a, uint16_t port,
		     bool v6only);

/*
 * The list table: every column as wide as its widest value in this output,
 * nothing ever cut (a long row wraps on a terminal, as ss's do). header:
 * print the title line. order: the sockets' indices in the order to print
 * them (list_order()), NULL: the snapshot's order.
 */
int output_table_list(FILE *f, const struct ts_snapshot *snap, bool show_netns, bool header,
		      const uint32_t *order);

/* One socket as `list --json` prints it (caller owns the object). */
struct json_object;
struct json_object *output_socket_json(const struct ts_snapshot *snap, const struct ts_socket *s,
				       bool with_info);

/* The state summary: 13 rows in lifecycle order (UNKNOWN when not 0), then the total. */
void output_state_counts_text(FILE *f, const uint32_t counts[_TS_STATE_MAX], const char *title);
/* The same as a JSON object: every state, UNKNOWN and "total". */
struct json_object *output_state_counts_json(const uint32_t counts[_TS_STATE_MAX]);

/* JSON Lines: one object per socket, in order (as output_table_list()). */
int output_json_list(FILE *f, const struct ts_snapshot *snap, bool with_info,
		     const uint32_t *order);
