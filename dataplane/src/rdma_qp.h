#ifndef BANANA_RDMA_QP_H
#define BANANA_RDMA_QP_H
/* The `rdma` wire's carrier: one reliable-connected queue pair (libibverbs) per wire, a
 * queue of the switch like an AF_XDP socket (bn_queue_ops), polled by one worker.
 *
 * Messages are SENDs of the Banana header (wire_udp.h) followed by the inner frame, straight
 * from and into the worker's frame pool, which is registered as one memory region: no copy.
 * Receive buffers are pre-posted from the pool and replenished in bursts; sends are posted
 * as linked work requests, signalled every BN_RDMA_SIGNAL_EVERY and at the end of a burst,
 * small frames inline.
 *
 * Flow control by credits, so a slow receiver never sees a receiver-not-ready storm and
 * never loses a frame on the wire: each end RDMA-WRITEs the running total of receive buffers
 * it has posted into a cell of the peer's memory. A sender posts a SEND only while that total
 * exceeds the SENDs it has posted; otherwise the frame is refused (counted rdma_no_credit,
 * like a full transmit ring). Writes consume no receive buffer, so credits never deadlock. */
#include <stdint.h>
#include "bn.h"

#define BN_RDMA_HEADROOM 256         /* receive buffers start here in their frame, as kernel frames do */
#define BN_RDMA_SIGNAL_EVERY 16
#define BN_RDMA_MAX_GIDS 16
#define BN_RDMA_MAX_DEVICES 8

struct bn_rdma_config {
	char device[64];
	uint32_t port_num;           /* 1-based */
	int32_t gid_index;           /* -1: the first RoCE v2 IPv4-mapped GID, else the first valid one */
	uint32_t rq_depth;           /* receive buffers posted (power of two) */
	uint32_t sq_depth;           /* send work requests in flight (power of two) */
};

/* What one end tells the other (through the controllers' authenticated channel). */
struct bn_rdma_endpoint {
	uint32_t qpn;
	uint32_t psn;                /* 24 bits */
	uint8_t gid[16];
	uint64_t credit_addr;        /* the cell the peer writes its posted-receive total into */
	uint32_t credit_rkey;
	uint32_t mtu;                /* enum ibv_mtu of the port */
	uint32_t max_msg;            /* largest message its receive buffers take (header + frame) */
	int32_t gid_index;
	uint32_t lid;                /* InfiniBand link layer; 0 on RoCE */
};

struct bn_rdma_gid {
	uint32_t index;
	uint8_t gid[16];
	uint32_t type;               /* 0 IB/RoCE v1, 1 RoCE v2 */
};

struct bn_rdma_port_info {
	uint32_t num;
	uint32_t state;              /* enum ibv_port_state */
	uint32_t active_mtu;         /* bytes */
	uint32_t link_layer;         /* 1 InfiniBand, 2 Ethernet */
	uint32_t n_gids;
	struct bn_rdma_gid gids[BN_RDMA_MAX_GIDS];
};

struct bn_rdma_device_info {
	char name[64];
	uint64_t node_guid;
	uint32_t max_qp_wr, max_sge, max_cqe, max_inline;
	uint32_t n_ports;
	struct bn_rdma_port_info ports[2];
};

/* Lists the RDMA devices this process can open; -errno (ENOSYS: no RDMA in this kernel). */
int bn_rdma__devices(struct bn_rdma_device_info *out, uint32_t max, uint32_t *n, struct bn_error *e);

struct bn_queue;
struct bn_pool;

/* JS thread. Opens the device, registers the worker's pool, creates the queue pair (INIT).
 * The queue is not polled until connected. */
int bn_rdma_queue__open(struct bn_queue **out, struct bn_pool *pool,
			const struct bn_rdma_config *cfg, struct bn_rdma_endpoint *local, struct bn_error *e);
/* INIT -> RTR -> RTS against the peer's endpoint; errors name the step. `wait_for_peer`: the
 * peer connects after this end (it waits for our endpoint): write nothing until it has. */
int bn_rdma_queue__connect(struct bn_queue *q, const struct bn_rdma_endpoint *remote, int wait_for_peer,
			   struct bn_error *e);
/* Largest inner frame plus header both ends' receive buffers take. */
uint32_t bn_rdma_queue__max_msg(const struct bn_queue *q);
/* Queue detached from its worker (or never attached): error state, frames back to the pool,
 * then everything destroyed in the reverse order of creation. Frees q. */
void bn_rdma_queue__close(struct bn_queue *q);

#endif
