/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a --web.config.file text through the YAML parser and its
 * checks (src/webconfig.c; no file is read): never a crash, and a
 * refusal always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webconfig *wc = NULL;
	char err[512], buf[128];

	if (webconfig_parse((const char *)data, size, "/etc/tcpstate", &wc, err, sizeof(err)) < 0) {
		if (!err[0] || wc)
			abort();
		return 0;
	}
	webconfig_tls_priorities(wc, buf, sizeof(buf));
	for (size_t i = 0; i < wc->n_users; i++)
		if (!webconfig_bcrypt_hash_valid(wc->users[i].hash) || strchr(wc->users[i].name, ':'))
			abort();
	webconfig_free(wc);
	return 0;
}
