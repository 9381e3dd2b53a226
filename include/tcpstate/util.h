/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* True when s is one or more decimal digits and nothing else. */
bool ts_str_is_digits(const char *s);

/*
 * Checked number parsers: the whole string must be a decimal number within
 * [min, max]. Return 0, -EINVAL (not a number) or -ERANGE. *ret untouched on error.
 */
int ts_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int ts_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int ts_parse_port(const char *s, uint16_t *ret); /* 1..65535 */
int ts_parse_pid(const char *s, pid_t *ret);      /* 1..INT_MAX */

/*
 * A port as ss accepts it: 1..65535, or the name of a TCP service in the
 * services database (/etc/services: "http" is 80, "postgresql" 5432).
 * Returns 0, -EINVAL/-ERANGE (a number that is no port) or -ENOENT (no such
 * service). Output never names services: tcpstate prints numbers, as ss -n.
 */
int ts_parse_port_or_service(const char *s, uint16_t *ret);
