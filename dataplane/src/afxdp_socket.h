#ifndef BANANA_AFXDP_SOCKET_H
#define BANANA_AFXDP_SOCKET_H
/* One AF_XDP socket bound to (ifindex, queue) with its four rings. The first socket of a
 * frame pool registers the pool's memory as UMEM; later sockets share it through
 * XDP_SHARED_UMEM, so a frame received on one port can be sent on another without a copy. */
#include "bn.h"
#include "xsk_ring.h"

struct bn_xsk_config {
	int ifindex;
	uint32_t queue;
	/* Power of two: fill, tx and completion rings. The rx ring is twice as large, so it can
	 * hold every frame of the fill ring and never overflows: a copy-mode receive that finds
	 * it full parks the frame inside the kernel's pool, where no audit can see it. */
	uint32_t ring_size;
	void *umem_area;
	uint64_t umem_len;
	uint32_t frame_size;
	int share_fd;               /* -1: register the UMEM on this socket */
	int zero_copy;              /* 1 required, 0 copy mode, -1 try zero-copy then copy */
	uint32_t busy_poll_budget;  /* 0: no preferred busy polling */
	uint32_t busy_poll_usecs;
};

struct bn_xsk {
	int fd;
	int zero_copy;              /* mode the kernel accepted */
	struct bn_xring rx, tx, fill, comp;
};

int bn_xsk__open(struct bn_xsk *xsk, const struct bn_xsk_config *cfg, struct bn_error *e);
void bn_xsk__close(struct bn_xsk *xsk);
/* Unmaps the rings; call after close once their contents have been collected. */
void bn_xsk__unmap(struct bn_xsk *xsk);

#endif
