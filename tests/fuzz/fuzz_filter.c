/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what users type into the selection options (lib/core/filter.c,
 * lib/core/state.c, lib/core/util.c) and the kernel bytecode built from it. Each input
 * line is "K value": s state, p port, o sport, d dport, a address, P pid,
 * n a u64; the accepted values make one filter, whose bytecode must build
 * in 1024 bytes for both families, as filter.h promises.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpstate/filter.h"
#include "tcpstate/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_port(uint16_t *v, uint8_t *n, const char *s)
{
	uint16_t port;

	if (ts_parse_port(s, &port) == 0 && *n < TS_FILTER_MAX_PORTS)
		v[(*n)++] = port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_filter f = { 0 };
	char *text = malloc(size + 1), *save = NULL, *line;
	uint8_t bc[1024];

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *v = line[0] && line[1] == ' ' ? line + 2 : line + (line[0] ? 1 : 0);
		ts_state_mask_t m;
		pid_t pid;
		uint64_t u;

		switch (line[0]) {
		case 's':
			if (ts_state_token_parse(v, &m) == 0)
				f.states |= m;
			break;
		case 'p':
			add_port(f.ports, &f.n_ports, v);
			break;
		case 'o':
			add_port(f.sports, &f.n_sports, v);
			break;
		case 'd':
			add_port(f.dports, &f.n_dports, v);
			break;
		case 'a':
			if (f.n_addrs < TS_FILTER_MAX_ADDRS &&
			    ts_addr_match_parse(v, &f.addrs[f.n_addrs]) == 0) {
				const struct ts_addr_match *a = &f.addrs[f.n_addrs];

				if ((a->family != AF_INET && a->family != AF_INET6) ||
				    a->prefix_len > (a->family == AF_INET ? 32 : 128))
					abort();
				f.n_addrs++;
			}
			break;
		case 'P':
			if (ts_parse_pid(v, &pid) == 0 && pid <= 0)
				abort();
			break;
		case 'n':
			(void)ts_parse_u64(v, 0, UINT64_MAX, &u);
			(void)ts_str_is_digits(v);
			break;
		default:
			break;
		}
	}
	for (int k = 0; k < 2; k++) {
		size_t len = 0;
		int r = ts_filter_bytecode_build(&f, k ? AF_INET6 : AF_INET, bc, sizeof(bc), &len);

		if (r == -ENOSPC || (r == 0 && len > sizeof(bc)))
			abort(); /* 1024 bytes always suffice */
	}
	(void)ts_filter_states(&f);
	free(text);
	return 0;
}
