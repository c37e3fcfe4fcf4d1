#include "pool.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

int bn_pool__init(struct bn_pool *p, uint32_t n_frames, uint32_t frame_size, struct bn_error *e)
{
	memset(p, 0, sizeof(*p));
	p->frame_size = frame_size;
	p->n_frames = n_frames;
	p->area_len = (uint64_t)n_frames * frame_size;
	p->area = mmap(NULL, p->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->area == MAP_FAILED) {
		p->area = NULL;
		return bn_fail(e, errno, "pool_mmap", "cannot map %u frames of %u bytes: %s", n_frames, frame_size,
			       strerror(errno));
	}
	p->free = calloc(n_frames, sizeof(uint64_t));
	if (!p->free)
		goto err_unmap;
	uint32_t ring = 1;
	while (ring < n_frames)
		ring <<= 1;
	if (bn_spsc__init(&p->returned, ring, sizeof(uint64_t)) < 0)
		goto err_free;
	/* Lowest addresses on top of the stack: the first frames used are the first pages. */
	for (uint32_t i = 0; i < n_frames; i++)
		p->free[i] = (uint64_t)(n_frames - 1 - i) * frame_size;
	p->n_free = n_frames;
	return 0;

err_free:
	free(p->free);
	p->free = NULL;
err_unmap:
	munmap(p->area, p->area_len);
	p->area = NULL;
	return bn_fail(e, ENOMEM, "pool_alloc", "out of memory for the frame pool");
}

void bn_pool__destroy(struct bn_pool *p)
{
	bn_spsc__free(&p->returned);
	free(p->free);
	p->free = NULL;
	if (p->area)
		munmap(p->area, p->area_len);
	p->area = NULL;
}

void bn_pool__take_returned(struct bn_pool *p)
{
	uint32_t n = bn_spsc__avail(&p->returned);
	if (bn_likely(n == 0))
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = *(uint64_t *)bn_spsc__slot(&p->returned, p->returned.tail + i);
		bn_pool__free(p, addr);
	}
	bn_spsc__consume(&p->returned, n);
}

int bn_pool__give_back(struct bn_pool *p, uint64_t addr)
{
	if (bn_spsc__room(&p->returned) == 0)
		return -ENOSPC;
	*(uint64_t *)bn_spsc__slot(&p->returned, p->returned.head) = addr;
	bn_spsc__publish(&p->returned, 1);
	return 0;
}
