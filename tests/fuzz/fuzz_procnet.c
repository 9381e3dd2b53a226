/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: /proc/net/tcp and tcp6 text (lib/snapshot/procnet.c), one line
 * and a whole stream, for both families.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snapshot/procnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int families[] = { AF_INET, AF_INET6 };
	char *text = malloc(size + 1);

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t k = 0; k < 2; k++) {
		struct ts_socket s;
		struct ts_snapshot *snap;
		unsigned malformed = 0;
		FILE *f;

		if (procnet_parse_line(text, families[k], &s) == 0 && s.state >= _TS_STATE_MAX)
			abort();
		snap = snapshot_new();
		f = fmemopen((void *)data, size ? size : 1, "r");
		if (snap && f && size) {
			int r = procnet_read(f, families[k], NULL, 0, snap, &malformed);

			if (r != 0 && r != -ENOMEM && r != -EIO)
				abort();
		}
		if (f)
			fclose(f);
		ts_snapshot_free(snap);
	}
	free(text);
	return 0;
}
