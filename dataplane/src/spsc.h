#ifndef BANANA_SPSC_H
#define BANANA_SPSC_H
/* A single-producer/single-consumer ring of fixed-size slots: the only way two threads
 * hand each other work. No locks; one acquire load and one release store per batch. */
#include <stdint.h>
#include <stdlib.h>
#include "bn.h"

struct bn_spsc {
	uint32_t head BN_ALIGNED;     /* next slot the producer writes */
	uint32_t tail BN_ALIGNED;     /* next slot the consumer reads */
	uint32_t mask BN_ALIGNED;
	uint32_t slot_size;
	uint8_t *slots;
};

static inline int bn_spsc__init(struct bn_spsc *r, uint32_t n_slots_pow2, uint32_t slot_size)
{
	r->head = r->tail = 0;
	r->mask = n_slots_pow2 - 1;
	r->slot_size = slot_size;
	r->slots = (uint8_t *)calloc(n_slots_pow2, slot_size);
	return r->slots ? 0 : -1;
}

static inline void bn_spsc__free(struct bn_spsc *r)
{
	free(r->slots);
	r->slots = NULL;
}

static inline uint32_t bn_spsc__room(const struct bn_spsc *r)
{
	return r->mask + 1 - (r->head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE));
}

static inline void *bn_spsc__slot(const struct bn_spsc *r, uint32_t idx)
{
	return r->slots + (size_t)(idx & r->mask) * r->slot_size;
}

static inline void bn_spsc__publish(struct bn_spsc *r, uint32_t n)
{
	__atomic_store_n(&r->head, r->head + n, __ATOMIC_RELEASE);
}

static inline uint32_t bn_spsc__avail(const struct bn_spsc *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - r->tail;
}

static inline void bn_spsc__consume(struct bn_spsc *r, uint32_t n)
{
	__atomic_store_n(&r->tail, r->tail + n, __ATOMIC_RELEASE);
}

#endif
