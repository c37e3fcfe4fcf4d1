#ifndef BANANA_ENGINE_H
#define BANANA_ENGINE_H
/* The engine: workers, ports, the MAC table, counters. Every function here runs on the JS
 * thread; the workers only ever see what the JS thread published to them. */
#include "bn.h"
#include "counters.h"
#include "events.h"
#include "fdb.h"
#include "port.h"
#include "rdma_qp.h"
#include "spsc.h"
#include "worker.h"

struct bn_engine_config {
	uint32_t n_workers;
	int cpus[BN_MAX_WORKERS];       /* -1: not pinned */
	enum bn_idle_policy idle;
	uint32_t spin_loops;            /* backoff: empty loops before the first sleep */
	uint32_t max_sleep_us;          /* backoff: longest sleep */
	uint32_t frames_per_worker;
	uint32_t frame_size;            /* 2048 or 4096 */
	uint32_t fdb_size;              /* power of two */
	uint64_t fdb_ageing_ns;
	uint32_t handoff_slots;         /* power of two */
	char bpf_obj_path[512];
	uint64_t *port_counters;        /* [BN_MAX_PORTS][n_workers][BN_PORT_ROW], owned by the caller */
	uint64_t *worker_counters;      /* [n_workers][BN_WORKER_ROW] */
};

struct bn_handoff_slot {
	uint32_t port;
	uint32_t len;
	uint32_t domain;                /* of the egress when the frame was switched */
	uint32_t pad;
	uint8_t data[];
};

struct bn_engine {
	struct bn_engine_config cfg;
	struct bn_worker *workers;
	struct bn_port *ports[BN_MAX_PORTS];
	uint32_t generation[BN_MAX_PORTS];
	struct bn_fdb fdb;
	struct bn_spsc *handoff;        /* [src * n_workers + dst] */
	int event_fd;
	int running;
	uint64_t epoch;
	uint32_t next_worker;
};

struct bn_port_info {
	uint32_t id;
	int ifindex;
	enum bn_xdp_mode mode;
	int zero_copy;
	uint32_t n_queues;
	uint32_t queue_ids[BN_MAX_QUEUES];
	uint32_t workers[BN_MAX_QUEUES];
};

struct bn_frame_audit {
	uint32_t total;
	uint32_t placed[BN_IN__COUNT];
	uint32_t missing;
	uint32_t kernel_tx;             /* of the missing: sent, completion not yet back (skbs the kernel holds) */
	uint32_t duplicated;
	uint32_t foreign;               /* addresses outside the pool */
};

int bn_engine__create(struct bn_engine **out, const struct bn_engine_config *cfg, struct bn_error *e);
void bn_engine__destroy(struct bn_engine *eng);
int bn_engine__start(struct bn_engine *eng, struct bn_error *e);
void bn_engine__stop(struct bn_engine *eng);
int bn_engine__add_port(struct bn_engine *eng, const struct bn_port_config *cfg, struct bn_port_info *info,
			struct bn_error *e);
int bn_engine__remove_port(struct bn_engine *eng, uint32_t port_id, struct bn_error *e);
/* A udp wire is a port of the switch without queues of its own: it sends through its
 * underlay port (encapsulated) and receives what that port decapsulates for its wire id.
 * Removed with bn_engine__remove_port. */
int bn_engine__add_udp_wire(struct bn_engine *eng, const struct bn_udp_wire_config *cfg, uint32_t *id,
			    uint32_t *max_inner, struct bn_error *e);
/* An RDMA queue pair as a carrier of wires: opened (its endpoint returned for the peer),
 * then connected with the peer's endpoint, after which its worker polls it and wires can be
 * added on it (underlay_port = its id). Removed with bn_engine__remove_port. */
int bn_engine__add_rdma_port(struct bn_engine *eng, const struct bn_rdma_config *cfg, struct bn_rdma_endpoint *local,
			     uint32_t *id, uint32_t *worker, struct bn_error *e);
int bn_engine__rdma_connect(struct bn_engine *eng, uint32_t port_id, const struct bn_rdma_endpoint *remote,
			    int wait_for_peer, uint32_t *max_msg, struct bn_error *e);
/* Hot-swap of a wire's path, make before break: prepare adds a second path (wire id) that
 * receives (its data held) and sends keepalives; cutover moves transmission to it and ends
 * the old path with drain markers; finish drops the old path (or, before cutover, abandons
 * the new one). The port, its domain and its MAC table entries stay as they are. */
int bn_engine__wire_prepare(struct bn_engine *eng, uint32_t port_id, const struct bn_udp_wire_config *next,
			    uint32_t *max_inner, struct bn_error *e);
int bn_engine__wire_cutover(struct bn_engine *eng, uint32_t port_id, struct bn_error *e);
int bn_engine__wire_finish(struct bn_engine *eng, uint32_t port_id, struct bn_error *e);
/* A migration's switch: cutover, finish and resume in one publish, without drain markers
 * (the old peer's VM has left it). */
int bn_engine__wire_switch(struct bn_engine *eng, uint32_t port_id, struct bn_error *e);

/* Quiesce (on) queues the frames switched to a wire instead of sending them (bounded, counted:
 * quiesce_queued, drop_quiesce_full); resume (off) sends the queue in order on the wire's
 * current path, ahead of anything new. For a Spike in flight (migration). */
int bn_engine__wire_quiesce(struct bn_engine *eng, uint32_t port_id, int on, struct bn_error *e);

struct bn_wire_info {
	uint32_t phase;                 /* enum bn_swap_phase */
	uint32_t tx_path, rx_path, n_held;
	uint32_t quiesced, n_queued;
	struct {
		uint32_t used, wire_id, max_inner;
		uint64_t last_rx_ns;
	} paths[2];
};
int bn_engine__wire_info(struct bn_engine *eng, uint32_t port_id, struct bn_wire_info *info, struct bn_error *e);

/* Arms a probe run on a wire: `count` echoes (1..BN_PROBE_MAX), one at a time, each as large as an
 * inner frame of `bytes`; what an earlier run recorded is cleared. count 0 stops a run. */
int bn_engine__wire_probe(struct bn_engine *eng, uint32_t port_id, uint32_t count, uint32_t bytes, struct bn_error *e);
struct bn_probe_state {
	uint32_t left, n, lost;
};
/* The run so far: up to `max` round trips (ns) into rtt_ns, in the order measured. */
int bn_engine__wire_probe_result(struct bn_engine *eng, uint32_t port_id, uint32_t *rtt_ns, uint32_t max,
				 struct bn_probe_state *st, struct bn_error *e);
/* A receive-only port (the tail of a wire being replaced) still delivers what arrives on it,
 * but is never learned on, flooded to or chosen as an egress. */
int bn_engine__set_receive_only(struct bn_engine *eng, uint32_t port_id, int on, struct bn_error *e);
/* Moves a port or wire to another switching domain, in one table publish. */
int bn_engine__set_domain(struct bn_engine *eng, uint32_t port_id, uint32_t domain, struct bn_error *e);
int bn_engine__audit(struct bn_engine *eng, struct bn_frame_audit *per_worker, struct bn_error *e);
uint32_t bn_engine__fdb_dump(struct bn_engine *eng, struct bn_fdb_entry *out, uint32_t max);
void bn_engine__fdb_flush(struct bn_engine *eng, uint32_t port_id);
/* Points a MAC (in the port's domain) at the port, as if a frame from it had come in there:
 * a Corm's new endpoint for a VM takes the VM's address over from where it was seen before. */
int bn_engine__fdb_learn(struct bn_engine *eng, uint32_t port_id, const uint8_t mac[6], struct bn_error *e);
/* Event pump thread: the next event from any worker, 1 if one was returned. */
int bn_engine__next_event(struct bn_engine *eng, struct bn_event *ev);

static inline uint64_t *bn_engine__port_row(const struct bn_engine_config *cfg, uint32_t slot, uint32_t worker)
{
	return cfg->port_counters + ((size_t)slot * cfg->n_workers + worker) * BN_PORT_ROW;
}

#endif
