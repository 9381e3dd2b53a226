/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal to lib/sysctl/: helpers its files share. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpstate/sysctl.h"
#include "tcpstate/sysctl_conf.h"

/* "net/ipv4/conf/eth0.100/rp_filter": no empty, "." or ".." component. */
bool sysctl_relpath_valid(const char *rel);
/* Read/write by a path relative to the root; net/ paths are opened inside the namespace. */
int sysctl_read_rel(struct ts_sysctl *s, const char *rel, char *buf, size_t size);
int sysctl_write_rel(struct ts_sysctl *s, const char *rel, const char *value);

/* A decimal int64 with an optional '-'. 0 or -EINVAL. */
int sysctl_parse_i64(const char *s, int64_t *ret);
/* Splits value into at most max whitespace-separated integers. 0 or -EINVAL. */
int sysctl_parse_fields(const char *value, int64_t *v, size_t max, size_t *ret_n);
