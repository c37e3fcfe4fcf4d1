#ifndef BANANA_POOL_H
#define BANANA_POOL_H
/* The frames of one worker: a page-aligned area cut into equal frames (the AF_XDP UMEM)
 * and a stack of free frame offsets. Only the owning worker touches the stack while it
 * runs; frames coming back from the JS thread (a removed queue's rings) arrive through
 * the return ring. */
#include "bn.h"
#include "spsc.h"

struct bn_pool {
	uint8_t *area;
	uint64_t area_len;
	uint32_t frame_size;          /* a power of two */
	uint32_t n_frames;
	uint32_t n_free;
	uint64_t *free;           /* stack of frame offsets */
	struct bn_spsc returned;  /* JS thread -> worker: uint64_t offsets */
};

int bn_pool__init(struct bn_pool *p, uint32_t n_frames, uint32_t frame_size, struct bn_error *e);
void bn_pool__destroy(struct bn_pool *p);
/* Moves frames handed back by the JS thread onto the free stack. Worker thread. */
void bn_pool__take_returned(struct bn_pool *p);
/* JS thread, with the queue already detached from every worker. */
int bn_pool__give_back(struct bn_pool *p, uint64_t addr);

static inline int bn_pool__alloc(struct bn_pool *p, uint64_t *addr)
{
	if (bn_unlikely(p->n_free == 0))
		return 0;
	*addr = p->free[--p->n_free];
	return 1;
}

/* Addresses come back pointing anywhere inside their frame (rx and tx descriptors carry
 * the data offset); the stack only ever holds frame starts. */
static inline void bn_pool__free(struct bn_pool *p, uint64_t addr)
{
	/* More frees than frames means a frame came back twice: refusing keeps the stack in
	 * bounds, and the audit reports the duplicate's absence instead of memory corruption. */
	if (bn_unlikely(p->n_free >= p->n_frames))
		return;
	p->free[p->n_free++] = addr & ~(uint64_t)(p->frame_size - 1);
}

static inline uint8_t *bn_pool__data(const struct bn_pool *p, uint64_t addr)
{
	return p->area + addr;
}

/* Frame index of an address that may point inside a frame (unaligned chunk offsets). */
static inline uint32_t bn_pool__index(const struct bn_pool *p, uint64_t addr)
{
	return (uint32_t)(addr / p->frame_size);
}

#endif
