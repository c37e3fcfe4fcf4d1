#include "pool.h"

#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define BN_HUGE_PAGE (2UL << 20)

/* The worker reads every frame's header and each frame sits on its own 4 KiB page: with small
 * pages nearly every frame costs a TLB miss. The area is 2 MiB aligned and asks for
 * transparent huge pages (best effort: where THP is off it stays on small pages). */
static uint8_t *map_frames(uint64_t len)
{
	uint64_t span = len + BN_HUGE_PAGE;
	uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uint8_t *area = (uint8_t *)(((uintptr_t)raw + BN_HUGE_PAGE - 1) & ~(uintptr_t)(BN_HUGE_PAGE - 1));
	if (area > raw)
		munmap(raw, (size_t)(area - raw));
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t kept = (len + page - 1) & ~(page - 1);   /* munmap rounds the area's own length up alike */
	if (raw + span > area + kept)
		munmap(area + kept, (size_t)(raw + span - (area + kept)));
	madvise(area, len, MADV_HUGEPAGE);
	/* The kernel pins a UMEM's pages, and fork() copies pinned anonymous pages at once: every
	 * child the host process spawns (ip, nsenter) would copy the whole pool and evict the
	 * worker's caches. Children never need the frames. */
	madvise(area, len, MADV_DONTFORK);
	if (madvise(area, len, MADV_POPULATE_WRITE) < 0) {
		if (errno != EINVAL) {   /* out of memory: an error now, not the OOM killer later */
			int err = errno;
			munmap(area, (size_t)kept);
			errno = err;
			return NULL;
		}
		memset(area, 0, len);   /* kernels before 5.14 */
	}
	return area;
}

int bn_pool__init(struct bn_pool *p, uint32_t n_frames, uint32_t frame_size, struct bn_error *e)
{
	memset(p, 0, sizeof(*p));
	p->frame_size = frame_size;
	p->n_frames = n_frames;
	p->area_len = (uint64_t)n_frames * frame_size;
	p->area = map_frames(p->area_len);
	if (!p->area) {
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
