#include "fdb.h"

#include <stdlib.h>
#include <string.h>

#define BN_FDB_BUSY (1ULL << 63)
/* Refreshing seen_ns on every frame would bounce the cache line between workers. */
#define BN_FDB_REFRESH_NS (100ULL * 1000 * 1000)

int bn_fdb__init(struct bn_fdb *f, uint32_t size_pow2, uint64_t ageing_ns)
{
	f->slots = calloc(size_pow2, sizeof(*f->slots));
	f->mask = size_pow2 - 1;
	f->ageing_ns = ageing_ns;
	return f->slots ? 0 : -1;
}

void bn_fdb__destroy(struct bn_fdb *f)
{
	free(f->slots);
	f->slots = NULL;
}

static inline uint32_t hash_key(uint64_t key)
{
	key ^= key >> 29;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 32;
	return (uint32_t)key;
}

static inline int expired(const struct bn_fdb *f, uint64_t seen, uint64_t now)
{
	/* seen == 0 marks a flushed entry. */
	return seen == 0 || (now > seen && now - seen > f->ageing_ns);
}

static int claim(struct bn_fdb_slot *s, uint64_t old, uint64_t key, uint32_t port, uint64_t now)
{
	if (!__atomic_compare_exchange_n(&s->key, &old, BN_FDB_BUSY, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	/* Seqlock-style: a reader that sees the new port also sees BUSY or the new key. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->port, port, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seen_ns, now, __ATOMIC_RELAXED);
	__atomic_store_n(&s->key, key, __ATOMIC_RELEASE);
	return 1;
}

int bn_fdb__learn(struct bn_fdb *f, uint64_t key, uint32_t port, uint64_t now)
{
	uint32_t h = hash_key(key);
	struct bn_fdb_slot *reusable = NULL;
	uint64_t reusable_key = 0;
	for (uint32_t i = 0; i < BN_FDB_MAX_PROBE; i++) {
		struct bn_fdb_slot *s = &f->slots[(h + i) & f->mask];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == key) {
			uint32_t p = __atomic_load_n(&s->port, __ATOMIC_RELAXED);
			uint64_t seen = __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED);
			if (p != port) {
				__atomic_store_n(&s->port, port, __ATOMIC_RELAXED);
				__atomic_store_n(&s->seen_ns, now, __ATOMIC_RELAXED);
				return 1;
			}
			if (now > seen + BN_FDB_REFRESH_NS)
				__atomic_store_n(&s->seen_ns, now, __ATOMIC_RELAXED);
			return 0;
		}
		if (k == 0)
			return claim(s, 0, key, port, now) ? 1 : 0;
		if (!reusable && k != BN_FDB_BUSY && expired(f, __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED), now)) {
			reusable = s;
			reusable_key = k;
		}
	}
	if (reusable)
		return claim(reusable, reusable_key, key, port, now) ? 1 : 0;
	return -1;
}

int bn_fdb__lookup(const struct bn_fdb *f, uint64_t key, uint64_t now, uint32_t *port)
{
	uint32_t h = hash_key(key);
	for (uint32_t i = 0; i < BN_FDB_MAX_PROBE; i++) {
		const struct bn_fdb_slot *s = &f->slots[(h + i) & f->mask];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == key) {
			uint64_t seen = __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED);
			uint32_t p = __atomic_load_n(&s->port, __ATOMIC_RELAXED);
			/* The slot may have been reclaimed for another MAC while we read it: only a key
			 * that is still ours vouches for the port we read. */
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&s->key, __ATOMIC_RELAXED) != key || expired(f, seen, now))
				return 0;
			*port = p;
			return 1;
		}
		if (k == 0)
			return 0;
	}
	return 0;
}

void bn_fdb__flush(struct bn_fdb *f, uint32_t port_slot)
{
	/* Emptying a slot would break probe chains; marking it aged out keeps them intact. */
	for (uint32_t i = 0; i <= f->mask; i++) {
		struct bn_fdb_slot *s = &f->slots[i];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k == 0 || k == BN_FDB_BUSY)
			continue;
		if (port_slot == UINT32_MAX || (__atomic_load_n(&s->port, __ATOMIC_RELAXED) & 0xff) == port_slot)
			__atomic_store_n(&s->seen_ns, 0, __ATOMIC_RELAXED);
	}
}

uint32_t bn_fdb__dump(const struct bn_fdb *f, uint64_t now, struct bn_fdb_entry *out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i <= f->mask && n < max; i++) {
		const struct bn_fdb_slot *s = &f->slots[i];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		uint64_t seen = __atomic_load_n(&s->seen_ns, __ATOMIC_RELAXED);
		if (k == 0 || k == BN_FDB_BUSY || expired(f, seen, now))
			continue;
		for (int b = 0; b < 6; b++)
			out[n].mac[b] = (uint8_t)(k >> (40 - 8 * b));
		out[n].domain = (uint16_t)((k >> 49) & BN_MAX_DOMAIN);
		out[n].port = __atomic_load_n(&s->port, __ATOMIC_RELAXED);
		out[n].age_ns = now > seen ? now - seen : 0;
		n++;
	}
	return n;
}
