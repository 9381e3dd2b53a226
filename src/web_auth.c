/* SPDX-License-Identifier: MIT */
/*
 * Basic authentication: bcrypt by libxcrypt, HMAC and constant-time
 * comparison by GnuTLS. No cryptography of our own.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "web_auth.h"

#define TAG_SIZE 32u /* SHA-256 */

struct web_auth {
	const struct webconfig *wc;
	unsigned char key[TAG_SIZE];
	pthread_mutex_t cache_lock;
	unsigned char cache[WEB_AUTH_CACHE_SIZE][TAG_SIZE];
	bool used[WEB_AUTH_CACHE_SIZE];
	unsigned next;
	pthread_mutex_t bcrypt_lock; /* one bcrypt at a time */
	unsigned long bcrypt_runs;
};

int web_auth_new(const struct webconfig *wc, struct web_auth **ret)
{
	struct web_auth *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	r = gnutls_rnd(GNUTLS_RND_KEY, a->key, sizeof(a->key));
	if (r < 0) {
		free(a);
		return -EIO;
	}
	a->wc = wc;
	pthread_mutex_init(&a->cache_lock, NULL);
	pthread_mutex_init(&a->bcrypt_lock, NULL);
	*ret = a;
	return 0;
}

/* HMAC-SHA256(key, user NUL password NUL hash): what the table holds, never the password. */
static int tag_of(const struct web_auth *a, const char *user, const char *password, const char *hash,
		  unsigned char tag[TAG_SIZE])
{
	size_t lu = strlen(user), lp = strlen(password), lh = strlen(hash);
	size_t len = lu + lp + lh + 2;
	unsigned char *msg = malloc(len);
	int r;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, user, lu + 1);
	memcpy(msg + lu + 1, password, lp + 1);
	memcpy(msg + lu + lp + 2, hash, lh);
	r = gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->key, sizeof(a->key), msg, len, tag);
	explicit_bzero(msg, len);
	free(msg);
	return r < 0 ? -EIO : 0;
}

static bool cache_has(struct web_auth *a, const unsigned char tag[TAG_SIZE])
{
	bool hit = false;

	pthread_mutex_lock(&a->cache_lock);
	for (unsigned i = 0; i < WEB_AUTH_CACHE_SIZE; i++)
		hit |= a->used[i] && gnutls_memcmp(a->cache[i], tag, TAG_SIZE) == 0;
	pthread_mutex_unlock(&a->cache_lock);
	return hit;
}

static void cache_add(struct web_auth *a, const unsigned char tag[TAG_SIZE])
{
	pthread_mutex_lock(&a->cache_lock);
	memcpy(a->cache[a->next], tag, TAG_SIZE);
	a->used[a->next] = true;
	a->next = (a->next + 1) % WEB_AUTH_CACHE_SIZE;
	pthread_mutex_unlock(&a->cache_lock);
}

static bool bcrypt_matches(struct web_auth *a, const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	size_t len = strlen(hash);
	bool ok = false;
	char *out;

	if (!cd)
		return false;
	pthread_mutex_lock(&a->bcrypt_lock);
	a->bcrypt_runs++;
	out = crypt_rn(password, hash, cd, sizeof(*cd));
	pthread_mutex_unlock(&a->bcrypt_lock);
	if (out && strlen(out) == len)
		ok = gnutls_memcmp(out, hash, len) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool web_auth_check(struct web_auth *a, const char *user, const char *password)
{
	const struct webconfig *wc = a->wc;
	const char *hash = NULL;
	unsigned char tag[TAG_SIZE];
	bool ok;

	if (!user || !password || wc->n_users == 0)
		return false;
	for (size_t i = 0; i < wc->n_users; i++)
		if (strcmp(wc->users[i].name, user) == 0)
			hash = wc->users[i].hash;
	if (!hash) {
		/* No such user: a bcrypt all the same (against a real hash, so of the same cost),
		 * that the time taken does not tell which user names exist. */
		(void)bcrypt_matches(a, password, wc->users[0].hash);
		return false;
	}
	if (tag_of(a, user, password, hash, tag) < 0)
		return bcrypt_matches(a, password, hash); /* no table without memory */
	if (cache_has(a, tag))
		return true;
	ok = bcrypt_matches(a, password, hash);
	if (ok)
		cache_add(a, tag);
	return ok;
}

unsigned long web_auth_bcrypt_runs(struct web_auth *a)
{
	unsigned long n;

	pthread_mutex_lock(&a->bcrypt_lock);
	n = a->bcrypt_runs;
	pthread_mutex_unlock(&a->bcrypt_lock);
	return n;
}

struct web_auth *web_auth_free(struct web_auth *a)
{
	if (!a)
		return NULL;
	pthread_mutex_destroy(&a->cache_lock);
	pthread_mutex_destroy(&a->bcrypt_lock);
	explicit_bzero(a, sizeof(*a));
	free(a);
	return NULL;
}
