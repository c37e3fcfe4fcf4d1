#ifndef BANANA_XSK_RING_H
#define BANANA_XSK_RING_H
/* Single-producer/single-consumer view of one AF_XDP ring shared with the kernel.
 * Our side caches the other side's index and re-reads it only when the cache says
 * there is not enough room or data: one shared-memory load per burst, not per frame. */
#include <stdint.h>
#include <linux/if_xdp.h>

struct bn_xring {
	uint32_t cached_prod;
	uint32_t cached_cons;
	uint32_t mask;
	uint32_t size;
	uint32_t *producer;
	uint32_t *consumer;
	uint32_t *flags;
	void *descs;
	void *map;
	size_t map_len;
};

static inline uint32_t bn_xring_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void bn_xring_store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Producer side (fill, tx): how many slots we may write, up to want. */
static inline uint32_t bn_xring_prod_room(struct bn_xring *r, uint32_t want)
{
	uint32_t room = r->size - (r->cached_prod - r->cached_cons);
	if (room < want) {
		r->cached_cons = bn_xring_load(r->consumer);
		room = r->size - (r->cached_prod - r->cached_cons);
	}
	return room < want ? room : want;
}

static inline void bn_xring_prod_submit(struct bn_xring *r, uint32_t n)
{
	r->cached_prod += n;
	bn_xring_store(r->producer, r->cached_prod);
}

/* Consumer side (rx, completion): how many entries are ready, up to want. */
static inline uint32_t bn_xring_cons_avail(struct bn_xring *r, uint32_t want)
{
	uint32_t avail = r->cached_prod - r->cached_cons;
	if (avail == 0) {
		r->cached_prod = bn_xring_load(r->producer);
		avail = r->cached_prod - r->cached_cons;
	}
	return avail < want ? avail : want;
}

static inline void bn_xring_cons_release(struct bn_xring *r, uint32_t n)
{
	r->cached_cons += n;
	bn_xring_store(r->consumer, r->cached_cons);
}

static inline uint64_t *bn_xring_addr(struct bn_xring *r, uint32_t idx)
{
	return &((uint64_t *)r->descs)[idx & r->mask];
}

static inline struct xdp_desc *bn_xring_desc(struct bn_xring *r, uint32_t idx)
{
	return &((struct xdp_desc *)r->descs)[idx & r->mask];
}

static inline int bn_xring_needs_wakeup(const struct bn_xring *r)
{
	return (__atomic_load_n(r->flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP) != 0;
}

/* Entries between the shared consumer and producer indices, as the kernel sees them. */
static inline uint32_t bn_xring_outstanding(const struct bn_xring *r)
{
	return bn_xring_load(r->producer) - bn_xring_load(r->consumer);
}

#endif
