#ifndef BANANA_PORT_H
#define BANANA_PORT_H
/* A switch port and its queues, behind one backend interface. The switch core sees only
 * packets (an offset in the worker's frame pool and a length) and these operations;
 * AF_XDP is one backend, DPDK's rte_ethdev will be another. */
#include "bn.h"
#include "pool.h"
#include "afxdp_socket.h"
#include "xdp_prog.h"
#include "wire_udp.h"

/* What a queue's frames are: switch traffic, or a carrier of wires. */
#define BN_UNDERLAY_UDP 1         /* IPv4/UDP-encapsulated wire frames (an AF_XDP underlay port) */
#define BN_UNDERLAY_RDMA 2        /* Banana header + frame, one message each (an RDMA queue pair) */


struct bn_queue;

struct bn_queue_ops {
	/* Worker thread, hot path. */
	uint32_t (*rx_burst)(struct bn_queue *q, struct bn_pkt *pkts, uint32_t max);
	/* Takes ownership of the first n' <= n packets; returns n'. */
	uint32_t (*tx_burst)(struct bn_queue *q, const struct bn_pkt *pkts, uint32_t n);
	/* Kick transmission, collect completions, refill receive buffers. */
	void (*service)(struct bn_queue *q);
	/* Worker thread, a few times a second: refresh kernel counters; -errno if the queue died. */
	int (*housekeep)(struct bn_queue *q);
	/* Transmit everything queued and wait (bounded) for completions; 0 when all came back. */
	int (*drain)(struct bn_queue *q, uint64_t timeout_ns);
	/* Frames handed to the kernel for transmission whose completion has not come back:
	 * skbs still in flight or parked (a peer's backlog, a per-CPU deferred-free list). */
	uint32_t (*kernel_held)(struct bn_queue *q);
	/* A file descriptor that polls readable when frames are waiting, for idle sleeps. */
	int (*wait_fd)(struct bn_queue *q);
	/* Calls visit for every frame the queue's rings hold (fill, rx, tx, completion). */
	void (*for_each_frame)(struct bn_queue *q, void (*visit)(void *ctx, uint64_t addr, int where), void *ctx);
};

enum bn_frame_place { BN_IN_FREE, BN_IN_FILL, BN_IN_RX, BN_IN_TX, BN_IN_COMP, BN_IN_RETURNED, BN_IN_HELD, BN_IN__COUNT };

struct bn_queue {
	/* hot: read every poll */
	const struct bn_queue_ops *ops;
	struct bn_pool *pool;
	uint64_t *counters;           /* this port's counter row for this queue's worker */
	uint32_t port;                /* slot | generation << 8 */
	uint16_t worker;
	uint16_t failed;              /* set by the worker when housekeep reports an error */
	uint32_t queue_id;
	uint32_t tx_pending;          /* descriptors queued but not yet kicked */
	uint32_t tx_inflight;         /* handed to the tx ring, completion not yet seen */
	uint32_t fill_reserve;        /* frames the pool keeps back from the fill ring */
	int tx_errno;                 /* last fatal sendto() error, reported by housekeep */
	uint32_t busy_poll;           /* drive the receive NAPI with recvfrom() */
	uint32_t underlay;            /* 0: switch traffic; else BN_UNDERLAY_*: wire traffic to decapsulate */
	uint32_t quiet_polls;         /* polls in a row that received nothing */
	uint32_t rx_backlog;          /* the last burst left frames in the receive ring */
	uint64_t last_stats_ns;
	/* cold */
	struct bn_xsk xsk;
} BN_ALIGNED;

struct bn_port_config {
	char ifname[16];       /* IFNAMSIZ */
	char netns[256];
	uint32_t first_queue;
	uint32_t n_queues;            /* 0: every queue the interface has */
	enum bn_xdp_mode mode;
	int zero_copy;                /* 1 required, 0 off, -1 auto */
	uint32_t ring_size;
	uint32_t busy_poll_budget;    /* 0: off */
	uint32_t busy_poll_usecs;
	uint16_t underlay_udp_port;   /* network order; 0: a switch port, else the wires' underlay */
	uint16_t domain;              /* switching domain (0..BN_MAX_DOMAIN); frames never cross domains */
	int xdp_takeover;             /* replace a Banana XDP program left on the interface */
	int receive_only;             /* delivers what arrives, but never learns, floods or is an egress */
};

struct bn_port {
	uint32_t id;                  /* slot | generation << 8 */
	struct bn_port_config cfg;
	int ifindex;
	uint64_t netns_ino;
	int zero_copy;
	struct bn_xdp_prog prog;
	uint32_t n_queues;
	struct bn_queue *queues[BN_MAX_QUEUES];
	struct bn_udp_wire *wire;     /* a wire port: no queues, sends through its underlay port */
	int rdma;                     /* an RDMA queue pair carrying wires: one queue, polled once connected */
	int rdma_connected;
};

extern const struct bn_queue_ops bn_afxdp_queue_ops;

/* Control plane, JS thread. */
int bn_afxdp_port__resolve(struct bn_port *p, struct bn_error *e);
int bn_afxdp_port__attach(struct bn_port *p, const char *bpf_obj, struct bn_error *e);
int bn_afxdp_queue__open(struct bn_port *p, struct bn_queue *q, uint32_t queue_id, int share_fd,
			 struct bn_error *e);
/* Queue already detached from its worker: drain, close, return its frames to the pool. */
void bn_afxdp_queue__close(struct bn_port *p, struct bn_queue *q);
void bn_afxdp_port__detach(struct bn_port *p);

#endif
