#ifndef BANANA_WORKER_H
#define BANANA_WORKER_H
/* A poll-mode worker thread and the immutable table it forwards with. The JS thread never
 * edits a table a worker can see: it builds a new one, publishes the pointer with a
 * release store, and frees the old one after the worker acknowledged the new epoch. */
#include <pthread.h>
#include "bn.h"
#include "pool.h"
#include "port.h"
#include "spsc.h"

enum bn_idle_policy { BN_IDLE_BUSY = 0, BN_IDLE_BACKOFF = 1 };

struct bn_egress {
	struct bn_queue *local;      /* transmit queue of this port (a wire: of its underlay) on this worker */
	int32_t via_worker;          /* else the worker that owns one; -1 when none */
	uint32_t port_id;            /* 0 when the slot is empty */
	struct bn_udp_wire *wire;    /* a wire port: encapsulate before transmitting */
	const struct bn_udp_path *tx;       /* a wire port: the path frames leave on */
	const struct bn_udp_path *standby;  /* a hot-swap's new path, prepared, sent keepalives only */
	const struct bn_udp_path *drain;    /* a hot-swap's old path, cut over: drain markers go here */
	struct bn_queue *standby_local;     /* the standby path's carrier queue on this worker (keepalives) */
	struct bn_queue *drain_local;       /* the drained path's carrier queue on this worker (markers) */
	uint64_t drain_epoch;        /* the table epoch of the cutover: markers are sent on adopting it */
	uint64_t *underlay_row;      /* a wire port: its underlay's counters on this worker */
	uint16_t domain;             /* frames switch and flood only between ports of one domain */
	uint8_t n_paths;             /* a wire port: paths its wire ids map to (2 during a hot-swap) */
	uint8_t n_markers;           /* a wire port: workers that transmit on it, one drain marker each */
	uint8_t quiesced;            /* a wire port: frames for it are queued by its owner worker, not sent */
	uint8_t receive_only;        /* the tail of a wire being replaced: never learned on, flooded to or chosen */
};

#define BN_WIRE_MAP 256          /* wire id -> port slot, open addressing */

struct bn_wire_entry {
	uint32_t wire_id;
	uint16_t slot;
	uint8_t used;
	uint8_t path;                /* index in the wire's path[] */
};

struct bn_wtable {
	uint64_t epoch;
	uint32_t n_queues;
	struct bn_queue *queues[BN_MAX_WORKER_QUEUES];
	uint32_t n_ports;
	uint8_t ports[BN_MAX_PORTS];            /* active slots, the flood list */
	struct bn_egress egress[BN_MAX_PORTS];  /* by port slot */
	struct bn_wire_entry wires[BN_WIRE_MAP];
};

struct bn_batch {
	uint32_t n;
	struct bn_pkt pkts[BN_BURST];
};

struct bn_engine;

struct bn_worker {
	/* hot */
	struct bn_engine *engine;
	struct bn_wtable *table;                 /* atomic: published by the JS thread */
	uint64_t *counters;                      /* this worker's row */
	uint64_t now_ns;
	struct bn_pool pool;
	uint32_t index;
	uint32_t n_dirty;
	uint8_t dirty[BN_MAX_PORTS];
	struct bn_pkt rx[BN_BURST];
	struct bn_batch out[BN_MAX_PORTS];
	uint64_t marker_epoch[BN_MAX_PORTS];     /* per wire slot: the cutover epoch whose marker went out */
	uint32_t adopt_pending;                  /* a marker or queued frames could not go yet: retry every loop */
	/* written by the worker, read by the JS thread and other workers */
	uint64_t ack_epoch BN_ALIGNED;
	uint32_t paused;
	uint32_t sleeping;                       /* in a backoff sleep: poke wake_fd to end it */
	/* written by the JS thread */
	uint32_t stop BN_ALIGNED;
	uint32_t pause_req;
	/* cold */
	struct bn_spsc events BN_ALIGNED;        /* worker -> event pump */
	int wake_fd;                             /* eventfd a backoff sleep waits on */
	int cpu;
	int started;
	pthread_t thread;
};

void *bn_worker__run(void *arg);
/* Ends a backoff sleep early: work arrived for the worker (a handoff, a new table). */
void bn_worker__wake(struct bn_worker *w);

/* l2switch.c: the forwarding decision for one received burst, and the transmit flush. */
void bn_l2__process(struct bn_worker *w, const struct bn_wtable *t, struct bn_queue *in, uint32_t n);
/* A burst from an underlay port: decapsulate, then switch each frame in from its wire. */
void bn_l2__from_underlay(struct bn_worker *w, const struct bn_wtable *t, struct bn_queue *in, uint32_t n);
/* Housekeeping: keepalives on idle wires this worker can transmit on (and on paths being
 * verified for a hot-swap); holds of a hot-swap whose drain markers never came are delivered. */
void bn_l2__keepalives(struct bn_worker *w, const struct bn_wtable *t);
/* After adopting a table: drain markers on the old path of wires cut over in it, and the
 * queue of wires resumed in it. */
void bn_l2__after_adopt(struct bn_worker *w, const struct bn_wtable *t);
void bn_l2__queue_out(struct bn_worker *w, uint32_t slot, uint64_t addr, uint32_t len);
void bn_l2__flush(struct bn_worker *w, const struct bn_wtable *t);
uint32_t bn_l2__handoff_in(struct bn_worker *w, const struct bn_wtable *t);

#endif
