/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one recv() buffer of a sock_diag dump (lib/snapshot/sock_diag.c), as
 * the kernel (or anything that can write to the socket) might send it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/sock_diag.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_snapshot *snap = snapshot_new();
	struct sock_diag_parse_ctx ctx = { .snap = snap };
	void *buf;
	int r;

	if (!snap)
		return 0;
	/* recv() fills an aligned buffer; a copy of exactly size bytes lets
	 * ASan catch any read past the end. */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	r = sock_diag_parse_buffer(buf, size, &ctx);
	if (r != 0 && r != 1 && r != -ENOMEM)
		abort();
	for (size_t i = 0; i < snap->n_sockets; i++)
		if (snap->sockets[i].state >= _TS_STATE_MAX)
			abort(); /* only known states get in */
	free(buf);
	ts_snapshot_free(snap);
	return 0;
}
