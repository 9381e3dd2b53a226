/* SPDX-License-Identifier: MIT */
/*
 * The lab's packet loss: nftables rules on the input hook of the lab
 * namespace, through libnftables. Each scenario owns a regular chain
 * jumped to from "input", so its rules can be swapped with a flush.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "lab/lab_recipes.h"

#define TS_LAB_NFT_MAX_CHAINS (TS_STATE_COUNT * TS_LAB_COUNT_MAX)

struct ts_lab_nft {
	struct nft_ctx *ctx;
	bool jumps[TS_LAB_NFT_MAX_CHAINS]; /* scenarios whose chain input jumps to */
	char error[256];
};

static int nft_run(struct ts_lab_nft *nft, const char *cmd)
{
	const char *err;

	if (nft_run_cmd_from_buffer(nft->ctx, cmd) == 0)
		return 0;
	err = nft_ctx_get_error_buffer(nft->ctx);
	snprintf(nft->error, sizeof(nft->error), "%s", err && *err ? err : "nft command failed");
	/* One line is enough for a message. */
	nft->error[strcspn(nft->error, "\n")] = '\0';
	return -EIO;
}

int lab_nft_new(struct ts_lab_nft **ret)
{
	struct ts_lab_nft *nft;

	nft = calloc(1, sizeof(*nft));
	if (!nft)
		return -ENOMEM;
	nft->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft->ctx) {
		free(nft);
		return -ENOMEM;
	}
	/* Keep libnftables quiet: errors come back in a buffer. */
	nft_ctx_buffer_output(nft->ctx);
	nft_ctx_buffer_error(nft->ctx);
	*ret = nft;
	return 0;
}

int lab_nft_create_table(struct ts_lab_nft *nft)
{
	return nft_run(nft,
		       "add table inet " TS_LAB_NFT_TABLE "\n"
		       "add chain inet " TS_LAB_NFT_TABLE " input"
		       " { type filter hook input priority 0; policy accept; }\n");
}

struct ts_lab_nft *lab_nft_free(struct ts_lab_nft *nft)
{
	if (!nft)
		return NULL;
	nft_ctx_free(nft->ctx);
	free(nft);
	return NULL;
}

int lab_nft_set_rules(struct ts_lab_nft *nft, uint32_t scenario, const char *rules)
{
	char cmd[2048];
	size_t n;
	int len;

	/* "add chain" is idempotent; the jump is added only once. */
	len = snprintf(cmd, sizeof(cmd),
		       "add chain inet " TS_LAB_NFT_TABLE " s%u\n"
		       "flush chain inet " TS_LAB_NFT_TABLE " s%u\n",
		       scenario, scenario);
	if (len < 0 || (size_t)len >= sizeof(cmd))
		return -ENOSPC;
	n = (size_t)len;
	if (scenario >= TS_LAB_NFT_MAX_CHAINS)
		return -ERANGE;
	if (!nft->jumps[scenario]) {
		len = snprintf(cmd + n, sizeof(cmd) - n,
			       "add rule inet " TS_LAB_NFT_TABLE " input jump s%u\n", scenario);
		if (len < 0 || (size_t)len >= sizeof(cmd) - n)
			return -ENOSPC;
		n += (size_t)len;
	}
	for (const char *p = rules; p && *p;) {
		size_t l = strcspn(p, "\n");

		if (l > 0) {
			len = snprintf(cmd + n, sizeof(cmd) - n,
				       "add rule inet " TS_LAB_NFT_TABLE " s%u %.*s\n",
				       scenario, (int)l, p);
			if (len < 0 || (size_t)len >= sizeof(cmd) - n)
				return -ENOSPC;
			n += (size_t)len;
		}
		p += l;
		if (*p == '\n')
			p++;
	}
	if (nft_run(nft, cmd) < 0)
		return -EIO;
	nft->jumps[scenario] = true;
	return 0;
}

const char *lab_nft_error(const struct ts_lab_nft *nft)
{
	return nft->error;
}
