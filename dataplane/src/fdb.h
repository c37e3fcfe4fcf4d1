#ifndef BANANA_FDB_H
#define BANANA_FDB_H
/* The MAC table of one engine, shared by all workers without locks: open addressing with
 * linear probing; a slot is claimed by compare-and-swap on its key. A reader that races a
 * writer sees a miss and floods, which is always safe for a learning switch. Entries
 * age out (a stale entry is a miss and its slot can be reclaimed), and each entry names
 * the port generation it was learned on, so a removed port's entries die with it. */
#include "bn.h"

#define BN_FDB_MAX_PROBE 16

struct bn_fdb_slot {
	uint64_t key;        /* 0 empty, BN_FDB_BUSY being written, else bn_fdb_key(mac, domain) */
	uint32_t port;       /* port slot | generation << 8 */
	uint32_t pad;
	uint64_t seen_ns;
};

struct bn_fdb {
	struct bn_fdb_slot *slots;
	uint32_t mask;
	uint64_t ageing_ns;
};

struct bn_fdb_entry {
	uint8_t mac[6];
	uint16_t domain;
	uint32_t port;       /* port slot | generation << 8 */
	uint64_t age_ns;
};

int bn_fdb__init(struct bn_fdb *f, uint32_t size_pow2, uint64_t ageing_ns);
void bn_fdb__destroy(struct bn_fdb *f);

/* Returns 1 when the table changed (a new MAC or a move), 0 when refreshed, -1 when full. */
int bn_fdb__learn(struct bn_fdb *f, uint64_t key, uint32_t port, uint64_t now);
/* Returns 1 and the port (slot | gen << 8) on a live hit. */
int bn_fdb__lookup(const struct bn_fdb *f, uint64_t key, uint64_t now, uint32_t *port);
/* Forgets every entry (port == UINT32_MAX) or the entries of one port slot. Any thread. */
void bn_fdb__flush(struct bn_fdb *f, uint32_t port_slot);
uint32_t bn_fdb__dump(const struct bn_fdb *f, uint64_t now, struct bn_fdb_entry *out, uint32_t max);

/* Switching domains: each is a separate L2 segment (a Corm with its endpoints, a Spike with
 * its wire). The same MAC may live in two domains, so the domain is part of the key. */
#define BN_MAX_DOMAIN 32767

/* mac in bits 0-47, an in-use bit 48, the domain in 49-63. Never 0 nor BN_FDB_BUSY (bit 63
 * alone): bit 48 is always set. */
static inline uint64_t bn_fdb_key(const uint8_t *m, uint16_t domain)
{
	return ((uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 | (uint64_t)m[3] << 16 |
		(uint64_t)m[4] << 8 | (uint64_t)m[5]) | (1ULL << 48) | ((uint64_t)(domain & BN_MAX_DOMAIN) << 49);
}

#endif
