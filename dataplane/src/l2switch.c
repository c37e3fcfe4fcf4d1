/* The learning switch: learn the source MAC, look up the destination, and queue the frame
 * for its egress port; flood broadcast, multicast and unknown unicast with copies. Frames
 * going to a single port move without a copy (one frame pool per worker, shared by all of
 * its sockets). Nothing here allocates, locks, logs or sleeps. */
#include <string.h>

#include "counters.h"
#include "engine.h"
#include "worker.h"

#define ETH_HLEN_MIN 14
/* A sequence this far behind the expected one means the peer restarted, not reordering. */
#define BN_WIRE_RESYNC (1ULL << 20)

static inline uint32_t slot_of(uint32_t port_id)
{
	return port_id & 0xff;
}

void bn_l2__queue_out(struct bn_worker *w, uint32_t slot, uint64_t addr, uint32_t len)
{
	struct bn_batch *b = &w->out[slot];
	if (b->n == 0)
		w->dirty[w->n_dirty++] = (uint8_t)slot;
	b->pkts[b->n].addr = addr;
	b->pkts[b->n].len = len;
	b->n++;
	/* A batch never outgrows one burst: a burst adds at most one frame per port per frame. */
}

static int copy_frame(struct bn_worker *w, const uint8_t *src, uint32_t len, uint64_t *addr)
{
	uint64_t base;
	if (!bn_pool__alloc(&w->pool, &base))
		return 0;
	*addr = base + BN_COPY_HEADROOM;
	memcpy(bn_pool__data(&w->pool, *addr), src, len);
	return 1;
}

static void flood(struct bn_worker *w, const struct bn_wtable *t, uint32_t in_slot, const struct bn_pkt *p)
{
	int last = -1;
	const uint8_t *data = bn_pool__data(&w->pool, p->addr);
	const uint16_t domain = t->egress[in_slot].domain;
	for (uint32_t i = 0; i < t->n_ports; i++) {
		uint32_t s = t->ports[i];
		if (s == in_slot || t->egress[s].domain != domain || t->egress[s].receive_only)
			continue;
		if (last >= 0) {
			uint64_t copy;
			uint64_t *row = bn_engine__port_row(&w->engine->cfg, (uint32_t)last, w->index);
			if (copy_frame(w, data, p->len, &copy)) {
				bn_count(w->counters, BN_WC_flood_copies, 1);
				bn_count(row, BN_PC_flood_packets, 1);
				bn_l2__queue_out(w, (uint32_t)last, copy, p->len);
			} else {
				bn_count(row, BN_PC_drop_no_frame, 1);
			}
		}
		last = (int)s;
	}
	if (last < 0) {
		bn_pool__free(&w->pool, p->addr);
		return;
	}
	bn_count(bn_engine__port_row(&w->engine->cfg, (uint32_t)last, w->index), BN_PC_flood_packets, 1);
	bn_l2__queue_out(w, (uint32_t)last, p->addr, p->len);
}

struct rx_tally {
	uint64_t packets, bytes, malformed, hairpin, tail_flood;
};

/* Learn, look up and queue one received frame coming in on port in_port. */
static inline void switch_one(struct bn_worker *w, const struct bn_wtable *t, uint32_t in_port, struct bn_pkt *p,
			      struct rx_tally *tally)
{
	const uint32_t max_len = w->pool.frame_size - BN_COPY_HEADROOM;
	if (bn_unlikely(p->len < ETH_HLEN_MIN || p->len > max_len)) {
		tally->malformed++;
		bn_pool__free(&w->pool, p->addr);
		return;
	}
	tally->packets++;
	tally->bytes += p->len;
	const uint8_t *eth = bn_pool__data(&w->pool, p->addr);
	const uint8_t *dst = eth, *src = eth + 6;
	const uint16_t domain = t->egress[slot_of(in_port)].domain;
	if (!(src[0] & 1) && !t->egress[slot_of(in_port)].receive_only) {
		int learned = bn_fdb__learn(&w->engine->fdb, bn_fdb_key(src, domain), in_port, w->now_ns);
		if (learned > 0)
			bn_count(w->counters, BN_WC_fdb_learned, 1);
		else if (learned < 0)
			bn_count(w->counters, BN_WC_fdb_full, 1);
	}
	uint32_t to;
	/* The egress must still be in the frame's domain: a port that moved (setDomain) may have
	 * left an entry behind that a concurrent learner wrote after the flush. */
	if (!(dst[0] & 1) && bn_fdb__lookup(&w->engine->fdb, bn_fdb_key(dst, domain), w->now_ns, &to) &&
	    t->egress[slot_of(to)].port_id == to && t->egress[slot_of(to)].domain == domain &&
	    !t->egress[slot_of(to)].receive_only) {
		if (bn_unlikely(to == in_port)) {
			tally->hairpin++;
			bn_pool__free(&w->pool, p->addr);
		} else {
			bn_l2__queue_out(w, slot_of(to), p->addr, p->len);
		}
		return;
	}
	/* A receive-only tail delivers frames that were on their way to a known port; the wire
	 * that replaced it carries broadcasts (flooding from both would duplicate them and loop
	 * between the two Corms' segment and the Spike). */
	if (bn_unlikely(t->egress[slot_of(in_port)].receive_only)) {
		tally->tail_flood++;
		bn_pool__free(&w->pool, p->addr);
		return;
	}
	flood(w, t, slot_of(in_port), p);
}

static void count_rx(uint64_t *row, const struct rx_tally *tally)
{
	bn_count(row, BN_PC_rx_packets, tally->packets);
	bn_count(row, BN_PC_rx_bytes, tally->bytes);
	if (tally->malformed)
		bn_count(row, BN_PC_drop_malformed, tally->malformed);
	if (tally->hairpin)
		bn_count(row, BN_PC_drop_hairpin, tally->hairpin);
	if (tally->tail_flood)
		bn_count(row, BN_PC_drop_tail_flood, tally->tail_flood);
}

/* The kernel wrote these frames on another core: ask for every header of the burst at once
 * so the cache misses overlap instead of stalling one frame at a time. */
static inline void prefetch_headers(const struct bn_worker *w, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		__builtin_prefetch(bn_pool__data(&w->pool, w->rx[i].addr));
}

void bn_l2__process(struct bn_worker *w, const struct bn_wtable *t, struct bn_queue *in, uint32_t n)
{
	struct rx_tally tally = {0};
	prefetch_headers(w, n);
	for (uint32_t i = 0; i < n; i++)
		switch_one(w, t, in->port, &w->rx[i], &tally);
	count_rx(in->counters, &tally);
}

static const struct bn_wire_entry *find_wire(const struct bn_wtable *t, uint32_t wire_id)
{
	uint32_t h = (wire_id * 2654435761u) >> 24;
	for (uint32_t i = 0; i < BN_WIRE_MAP; i++) {
		const struct bn_wire_entry *e = &t->wires[(h + i) & (BN_WIRE_MAP - 1)];
		if (!e->used)
			return NULL;
		if (e->wire_id == wire_id)
			return e;
	}
	return NULL;
}

/* Frames of one burst usually come from one wire: their counters are added once per run
 * of the same wire, not per frame. */
struct wire_run {
	uint32_t slot;
	uint32_t path;
	uint64_t *row;
	struct rx_tally tally;
};

static void end_run(struct bn_worker *w, struct wire_run *r)
{
	if (!r->row)
		return;
	count_rx(r->row, &r->tally);
	bn_gauge(r->row, BN_PC_peer_last_rx_ns, w->now_ns);
	r->row = NULL;
	r->tally = (struct rx_tally){0};
}

/* Sequence accounting, then the frame (already past its outer headers) enters the switch
 * through the wire's port. */
static void deliver(struct bn_worker *w, const struct bn_wtable *t, const struct bn_egress *eg, struct bn_pkt *p,
		    uint64_t seq, uint64_t *row, struct rx_tally *tally)
{
	struct bn_udp_wire *wire = eg->wire;
	/* One worker receives a wire (its source port pins it to one underlay queue). */
	if (bn_likely(seq == wire->rx_next)) {
		wire->rx_next++;
	} else if (seq > wire->rx_next) {
		bn_count(row, BN_PC_wire_seq_gaps, seq - wire->rx_next);
		wire->rx_next = seq + 1;
	} else if (wire->rx_next - seq > BN_WIRE_RESYNC) {
		/* Far behind: the peer restarted its numbering, not a late frame. */
		wire->rx_next = seq + 1;
	} else {
		bn_count(row, BN_PC_wire_seq_late, 1);
	}
	switch_one(w, t, eg->port_id, p, tally);
}

/* The old path drained (or never will): the new path becomes the one received from, and
 * what it held is delivered first, in arrival order, in bursts the out batches can take. */
static void release_hold(struct bn_worker *w, const struct bn_wtable *t, const struct bn_egress *eg, uint32_t new_path)
{
	struct bn_udp_wire *wire = eg->wire;
	uint64_t *row = bn_engine__port_row(&w->engine->cfg, slot_of(eg->port_id), w->index);
	struct rx_tally tally = {0};
	bn_l2__flush(w, t);
	for (uint32_t i = 0; i < wire->n_held; i++) {
		struct bn_pkt p = {.addr = wire->held[i].addr, .len = wire->held[i].len};
		deliver(w, t, eg, &p, wire->held[i].seq, row, &tally);
		if ((i + 1) % BN_BURST == 0)
			bn_l2__flush(w, t);
	}
	bn_l2__flush(w, t);
	count_rx(row, &tally);
	__atomic_store_n(&wire->n_held, 0, __ATOMIC_RELAXED);
	wire->hold_worker = -1;
	wire->markers_seen = 0;
	wire->late_path = new_path ^ 1;
	__atomic_store_n(&wire->rx_path, new_path, __ATOMIC_RELAXED);
}

/* A frame on the path the receiver is not (yet) taking frames from: the new path of a
 * hot-swap whose old path has not drained. Returns 1 if the frame was kept. */
static int standby_rx(struct bn_worker *w, struct bn_udp_wire *wire, const struct bn_pkt *p, const struct bn_decap *d,
		      uint32_t encap, uint64_t *row)
{
	if (d->type == BN_WIRE_KEEPALIVE) {
		bn_count(row, BN_PC_keepalive_rx, 1);
		return 0;
	}
	if (d->type != BN_WIRE_DATA)
		return 0;
	if (wire->n_held == BN_SWAP_HOLD) {
		bn_count(row, BN_PC_drop_swap_hold_full, 1);
		return 0;
	}
	if (wire->n_held == 0) {
		wire->hold_since_ns = w->now_ns;
		wire->hold_worker = (int32_t)w->index;
	}
	wire->held[wire->n_held] = (struct bn_held_frame){
		.addr = p->addr + encap, .len = d->inner_len, .seq = d->seq};
	__atomic_store_n(&wire->n_held, wire->n_held + 1, __ATOMIC_RELAXED);
	bn_count(row, BN_PC_swap_held, 1);
	return 1;
}

static void on_echo(struct bn_worker *w, const struct bn_egress *eg, const struct bn_pkt *p, const struct bn_decap *d,
		    uint32_t encap);

void bn_l2__from_underlay(struct bn_worker *w, const struct bn_wtable *t, struct bn_queue *in, uint32_t n)
{
	uint64_t *under = in->counters;
	uint64_t bytes = 0, malformed = 0, bad_version = 0, unknown = 0, wrong_peer = 0;
	struct wire_run run = {0};
	const int rdma = in->underlay == BN_UNDERLAY_RDMA;
	const uint32_t encap = rdma ? BN_WIRE_HDR_LEN : BN_UDP_ENCAP_LEN;
	prefetch_headers(w, n);
	for (uint32_t i = 0; i < n; i++) {
		struct bn_pkt *p = &w->rx[i];
		bytes += p->len;
		struct bn_decap d;
		const uint8_t *msg = bn_pool__data(&w->pool, p->addr);
		enum bn_decap_result r = rdma ? bn_wire_hdr__parse(msg, p->len, &d) : bn_udp_wire__parse(msg, p->len, &d);
		const struct bn_wire_entry *we = r == BN_DECAP_OK ? find_wire(t, d.wire_id) : NULL;
		const struct bn_egress *eg = we ? &t->egress[we->slot] : NULL;
		/* Its peer is the address it was set up with, through the carrier it was set up on. */
		if (bn_unlikely(!eg || eg->wire->path[we->path].cfg.remote_ip != d.src_ip ||
				eg->wire->path[we->path].cfg.underlay_port != in->port)) {
			if (r == BN_DECAP_BAD_VERSION)
				bad_version++;
			else if (r != BN_DECAP_OK)
				malformed++;
			else if (!eg)
				unknown++;
			else
				wrong_peer++;
			bn_pool__free(&w->pool, p->addr);
			continue;
		}
		struct bn_udp_wire *wire = eg->wire;
		if (run.slot != we->slot || run.path != we->path || !run.row) {
			end_run(w, &run);
			run.slot = we->slot;
			run.path = we->path;
			run.row = bn_engine__port_row(&w->engine->cfg, we->slot, w->index);
			__atomic_store_n(&wire->last_rx_ns, w->now_ns, __ATOMIC_RELAXED);
			__atomic_store_n(&wire->path[we->path].last_rx_ns, w->now_ns, __ATOMIC_RELAXED);
		}
		/* Echoes are the wire's own, on any of its paths: answered or timed here, never switched. */
		if (bn_unlikely(d.type == BN_WIRE_ECHO)) {
			on_echo(w, eg, p, &d, encap);
			continue;
		}
		if (bn_unlikely(we->path != wire->rx_path)) {
			/* The old path's stragglers (the underlay reordered them past the marker, e.g. the
			 * sender moved between CPUs) are late frames, delivered, not new ones to hold. */
			int late = eg->n_paths == 2 && we->path == wire->late_path && d.seq < wire->late_below;
			if (eg->n_paths == 2 && !late) {
				if (!standby_rx(w, wire, p, &d, encap, run.row))
					bn_pool__free(&w->pool, p->addr);
				continue;
			}
			if (!late) {
				/* The old path is gone without draining (the swap was finished regardless). */
				bn_count(run.row, BN_PC_swap_marker_timeouts, 1);
				release_hold(w, t, eg, we->path);
			}
		}
		if (bn_unlikely(d.type != BN_WIRE_DATA)) {
			if (d.type == BN_WIRE_KEEPALIVE) {
				bn_count(run.row, BN_PC_keepalive_rx, 1);
			} else if (eg->n_paths == 2) {
				bn_count(run.row, BN_PC_swap_markers_rx, 1);
				/* Every transmitting worker of the peer ends the old path with its own marker;
				 * every frame it sent on the old path is numbered below the marker. */
				if (d.seq > wire->late_below)
					wire->late_below = d.seq;
				if (++wire->markers_seen >= (d.flags ? d.flags : 1u))
					release_hold(w, t, eg, we->path ^ 1);
			}
			bn_pool__free(&w->pool, p->addr);
			continue;
		}
		p->addr += encap;
		p->len = d.inner_len;
		deliver(w, t, eg, p, d.seq, run.row, &run.tally);
	}
	end_run(w, &run);
	bn_count(under, BN_PC_rx_packets, n);
	bn_count(under, BN_PC_rx_bytes, bytes);
	if (malformed)
		bn_count(under, BN_PC_drop_malformed, malformed);
	if (bad_version)
		bn_count(under, BN_PC_drop_bad_version, bad_version);
	if (unknown)
		bn_count(under, BN_PC_drop_unknown_wire, unknown);
	if (wrong_peer)
		bn_count(under, BN_PC_drop_wire_peer, wrong_peer);
}

/* Encapsulates a batch bound for a wire in place (outer headers in the frames' headroom);
 * frames too large for the wire are dropped and counted. Returns the frames kept. */
static uint32_t encap_batch(struct bn_worker *w, const struct bn_egress *eg, struct bn_batch *b, uint64_t *row,
			    uint64_t *first_seq)
{
	struct bn_udp_wire *wire = eg->wire;
	const struct bn_udp_path *path = eg->tx;
	uint32_t kept = 0, too_big = 0;
	uint64_t seq = __atomic_fetch_add(&wire->tx_seq, b->n, __ATOMIC_RELAXED);
	*first_seq = seq;
	for (uint32_t i = 0; i < b->n; i++) {
		struct bn_pkt p = b->pkts[i];
		if (bn_unlikely(p.len > path->max_inner || (p.addr & (w->pool.frame_size - 1)) < path->encap_len)) {
			too_big++;
			bn_pool__free(&w->pool, p.addr);
			continue;
		}
		p.addr -= path->encap_len;
		bn_udp_path__encap(path, bn_pool__data(&w->pool, p.addr), p.len, BN_WIRE_DATA, seq + kept, 0);
		p.len += path->encap_len;
		b->pkts[kept++] = p;
	}
	/* Sequence numbers reserved for dropped frames are given back when nothing raced us,
	 * so the receiver does not count our own MTU drops as underlay loss. */
	if (too_big) {
		uint64_t expect = seq + b->n;
		__atomic_compare_exchange_n(&wire->tx_seq, &expect, seq + kept, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		bn_count(row, BN_PC_drop_mtu, too_big);
	}
	__atomic_store_n(&wire->last_tx_ns, w->now_ns, __ATOMIC_RELAXED);
	b->n = kept;
	return kept;
}

/* A frame with no inner frame (keepalive, drain marker) on one path of a wire, through this
 * worker's queue of the underlay. Returns 1 if the queue took it. */
static int send_control(struct bn_worker *w, const struct bn_egress *eg, struct bn_queue *q, const struct bn_udp_path *path,
			uint8_t type, uint16_t flags)
{
	uint64_t base;
	if (!bn_pool__alloc(&w->pool, &base))
		return 0;
	struct bn_pkt p = {.addr = base + BN_COPY_HEADROOM, .len = path->encap_len};
	bn_udp_path__encap(path, bn_pool__data(&w->pool, p.addr), 0, type,
			   __atomic_load_n(&eg->wire->tx_seq, __ATOMIC_RELAXED), flags);
	if (q->ops->tx_burst(q, &p, 1) == 1)
		return 1;
	bn_pool__free(&w->pool, p.addr);
	return 0;
}

/* An inner frame of len bytes from `inner` on stays inside its pool frame. */
static inline int fits_frame(const struct bn_worker *w, uint64_t inner, uint32_t len)
{
	return (inner & (w->pool.frame_size - 1)) + len <= w->pool.frame_size;
}

/* An echo on the wire's current path, through this worker's queue of its carrier, built in the
 * frame whose inner part starts at `inner` (a received echo is turned around in place). */
static int send_echo(struct bn_worker *w, const struct bn_egress *eg, uint64_t inner, uint32_t inner_len, uint16_t flags,
		     uint64_t stamp)
{
	const struct bn_udp_path *path = eg->tx;
	struct bn_queue *q = eg->local;
	if (!q || q->failed || !path || inner_len > path->max_inner ||
	    (inner & (w->pool.frame_size - 1)) < path->encap_len || !fits_frame(w, inner, inner_len))
		return 0;
	struct bn_pkt p = {.addr = inner - path->encap_len, .len = inner_len + path->encap_len};
	bn_udp_path__encap(path, bn_pool__data(&w->pool, p.addr), inner_len, BN_WIRE_ECHO, stamp, flags);
	return q->ops->tx_burst(q, &p, 1) == 1;
}

/* Takes one echo of the run to send, if any is left (never below zero, whichever worker asks). */
static int take_one(struct bn_wire_probe *pr)
{
	uint32_t left = __atomic_load_n(&pr->left, __ATOMIC_ACQUIRE);
	do {
		if (left == 0)
			return 0;
	} while (!__atomic_compare_exchange_n(&pr->left, &left, left - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return 1;
}

/* The next echo of an armed probe run, unless one is out and not yet timed out (one that timed
 * out is counted lost here, the run's last one too). `inner`: a frame to reuse (past its
 * headers), or 0 to take one from the pool. Returns 1 if the frame was sent. */
static int probe_next(struct bn_worker *w, const struct bn_egress *eg, uint64_t inner)
{
	struct bn_wire_probe *pr = &eg->wire->probe;
	uint64_t out = __atomic_load_n(&pr->in_flight_ns, __ATOMIC_ACQUIRE);
	if (out) {
		if (bn_stamp_ns() < out + BN_PROBE_TIMEOUT_NS ||
		    !__atomic_compare_exchange_n(&pr->in_flight_ns, &out, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return 0;
		__atomic_fetch_add(&pr->lost, 1, __ATOMIC_RELAXED);
	}
	if (__atomic_load_n(&pr->left, __ATOMIC_ACQUIRE) == 0 || !eg->tx || !eg->local || eg->local->failed)
		return 0;
	/* One echo out at a time: the slot is claimed with the current stamp, replaced by the send
	 * time once the frame is built. */
	uint64_t none = 0;
	if (!__atomic_compare_exchange_n(&pr->in_flight_ns, &none, bn_stamp_ns() | 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	if (!take_one(pr)) {
		__atomic_store_n(&pr->in_flight_ns, 0, __ATOMIC_RELEASE);
		return 0;
	}
	uint64_t base = 0;
	if (!inner && bn_pool__alloc(&w->pool, &base))
		inner = base + BN_COPY_HEADROOM + eg->tx->encap_len;
	uint32_t bytes = __atomic_load_n(&pr->bytes, __ATOMIC_RELAXED);
	if (inner && fits_frame(w, inner, bytes)) {
		memset(bn_pool__data(&w->pool, inner), 0, bytes);   /* never old frames' bytes on the wire */
		uint64_t sent = bn_stamp_ns();
		__atomic_store_n(&pr->in_flight_ns, sent, __ATOMIC_RELEASE);
		if (send_echo(w, eg, inner, bytes, BN_ECHO_REQUEST, sent))
			return 1;
	}
	__atomic_store_n(&pr->in_flight_ns, 0, __ATOMIC_RELEASE);
	__atomic_fetch_add(&pr->left, 1, __ATOMIC_RELEASE);
	if (base)
		bn_pool__free(&w->pool, base);
	return 0;
}

static void on_echo(struct bn_worker *w, const struct bn_egress *eg, const struct bn_pkt *p, const struct bn_decap *d,
		    uint32_t encap)
{
	const uint64_t inner = p->addr + encap;
	if (d->flags == BN_ECHO_REQUEST) {
		if (send_echo(w, eg, inner, d->inner_len, BN_ECHO_REPLY, d->seq))
			return;
	} else {
		uint64_t now = bn_stamp_ns();
		struct bn_wire_probe *pr = &eg->wire->probe;
		uint64_t expect = d->seq;
		/* Only the echo out now counts: a late one, or one from an earlier run, does not. */
		if (expect && __atomic_compare_exchange_n(&pr->in_flight_ns, &expect, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			uint32_t i = __atomic_load_n(&pr->n, __ATOMIC_ACQUIRE);
			if (i < BN_PROBE_MAX) {
				uint64_t rtt = now - d->seq;
				pr->rtt_ns[i] = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
				/* A run re-armed meanwhile reset the count: this sample is not its. */
				__atomic_compare_exchange_n(&pr->n, &i, i + 1, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			}
			if (probe_next(w, eg, inner))
				return;
		}
	}
	bn_pool__free(&w->pool, p->addr);
}

void bn_l2__keepalives(struct bn_worker *w, const struct bn_wtable *t)
{
	for (uint32_t i = 0; i < t->n_ports; i++) {
		uint32_t slot = t->ports[i];
		const struct bn_egress *eg = &t->egress[slot];
		if (!eg->wire)
			continue;
		struct bn_udp_wire *wire = eg->wire;
		if (bn_unlikely(wire->hold_worker == (int32_t)w->index && wire->n_held &&
				w->now_ns - wire->hold_since_ns > BN_SWAP_MARKER_TIMEOUT_NS)) {
			bn_count(bn_engine__port_row(&w->engine->cfg, slot, w->index), BN_PC_swap_marker_timeouts, 1);
			release_hold(w, t, eg, wire->rx_path ^ 1);
		}
		if (!eg->local || eg->local->failed)
			continue;
		probe_next(w, eg, 0);
		uint64_t period = (uint64_t)wire->cfg.keepalive_ms * 1000000ULL;
		uint64_t *row = bn_engine__port_row(&w->engine->cfg, slot, w->index);
		if (w->now_ns - __atomic_load_n(&wire->last_tx_ns, __ATOMIC_RELAXED) >= period &&
		    send_control(w, eg, eg->local, eg->tx, BN_WIRE_KEEPALIVE, 0)) {
			bn_count(row, BN_PC_keepalive_tx, 1);
			__atomic_store_n(&wire->last_tx_ns, w->now_ns, __ATOMIC_RELAXED);
		}
		/* A path being prepared proves itself with keepalives before traffic moves to it. */
		struct bn_udp_path *sb = (struct bn_udp_path *)eg->standby;
		if (sb && eg->standby_local && !eg->standby_local->failed &&
		    w->now_ns - __atomic_load_n(&sb->last_tx_ns, __ATOMIC_RELAXED) >= period &&
		    send_control(w, eg, eg->standby_local, sb, BN_WIRE_KEEPALIVE, 0)) {
			bn_count(row, BN_PC_keepalive_tx, 1);
			__atomic_store_n(&sb->last_tx_ns, w->now_ns, __ATOMIC_RELAXED);
		}
	}
}

static void send_batch(struct bn_worker *w, const struct bn_egress *eg, struct bn_batch *b, uint64_t *row);

/* A resumed wire's queue, in order, ahead of anything new; a burst at a time with a kick in
 * between so the transmit ring never overflows. */
static void send_queued(struct bn_worker *w, const struct bn_egress *eg, uint64_t *row)
{
	struct bn_udp_wire *wire = eg->wire;
	uint32_t done = 0;
	struct bn_batch b;
	while (done < wire->txq_n) {
		b.n = 0;
		while (b.n < BN_BURST && done < wire->txq_n)
			b.pkts[b.n++] = wire->txq[done++];
		send_batch(w, eg, &b, row);
		eg->local->ops->service(eg->local);
	}
	__atomic_store_n(&wire->txq_n, 0, __ATOMIC_RELAXED);
}

void bn_l2__after_adopt(struct bn_worker *w, const struct bn_wtable *t)
{
	w->adopt_pending = 0;
	for (uint32_t i = 0; i < t->n_ports; i++) {
		uint32_t slot = t->ports[i];
		const struct bn_egress *eg = &t->egress[slot];
		if (bn_likely(!eg->wire))
			continue;
		uint64_t *row = bn_engine__port_row(&w->engine->cfg, slot, w->index);
		if (bn_unlikely(eg->wire->txq_n && !eg->quiesced && eg->wire->txq_worker == (int32_t)w->index)) {
			if (eg->local && !eg->local->failed)
				send_queued(w, eg, row);
			else
				w->adopt_pending = 1;
		}
		if (bn_likely(!eg->drain || eg->drain_epoch != t->epoch || w->marker_epoch[slot] == t->epoch))
			continue;
		if (!eg->drain_local || eg->drain_local->failed) {
			w->marker_epoch[slot] = t->epoch;   /* frames went by handoff; their owner marks */
			continue;
		}
		if (send_control(w, eg, eg->drain_local, eg->drain, BN_WIRE_DRAIN, eg->n_markers)) {
			w->marker_epoch[slot] = t->epoch;
			bn_count(row, BN_PC_swap_markers_tx, 1);
		} else {
			w->adopt_pending = 1;
		}
	}
}

static void handoff_out(struct bn_worker *w, const struct bn_egress *eg, struct bn_batch *b, uint64_t *row)
{
	struct bn_engine *eng = w->engine;
	struct bn_spsc *r = &eng->handoff[w->index * eng->cfg.n_workers + (uint32_t)eg->via_worker];
	uint32_t room = bn_spsc__room(r);
	uint32_t k = b->n < room ? b->n : room;
	for (uint32_t i = 0; i < k; i++) {
		struct bn_handoff_slot *s = bn_spsc__slot(r, r->head + i);
		s->port = eg->port_id;
		s->len = b->pkts[i].len;
		s->domain = eg->domain;
		memcpy(s->data, bn_pool__data(&w->pool, b->pkts[i].addr), b->pkts[i].len);
	}
	if (k) {
		bn_spsc__publish(r, k);
		bn_worker__wake(&eng->workers[eg->via_worker]);
	}
	bn_count(w->counters, BN_WC_handoff_out, k);
	if (k < b->n)
		bn_count(row, BN_PC_drop_handoff_full, b->n - k);
	for (uint32_t i = 0; i < b->n; i++)
		bn_pool__free(&w->pool, b->pkts[i].addr);
}

/* Transmits a batch on its egress (encapsulated first for a wire) and counts it; frames the
 * ring refused are freed and counted. */
static void send_batch(struct bn_worker *w, const struct bn_egress *eg, struct bn_batch *b, uint64_t *row)
{
	uint64_t first_seq = 0;
	if (eg->wire && encap_batch(w, eg, b, row, &first_seq) == 0)
		return;
	uint32_t sent = eg->local->ops->tx_burst(eg->local, b->pkts, b->n);
	if (eg->wire && sent < b->n) {
		/* Numbers of frames the ring refused go back, when nothing raced us, so the peer
		 * does not count our own tail drops as underlay loss. */
		uint64_t expect = first_seq + b->n;
		__atomic_compare_exchange_n(&eg->wire->tx_seq, &expect, first_seq + sent, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < sent; i++)
		bytes += b->pkts[i].len;
	bn_count(row, BN_PC_tx_packets, sent);
	bn_count(row, BN_PC_tx_bytes, eg->wire ? bytes - (uint64_t)sent * eg->tx->encap_len : bytes);
	if (eg->wire) {
		bn_count(eg->underlay_row, BN_PC_tx_packets, sent);
		bn_count(eg->underlay_row, BN_PC_tx_bytes, bytes);
	}
	if (sent < b->n)
		bn_count(row, BN_PC_drop_tx_ring_full, b->n - sent);
	for (uint32_t i = sent; i < b->n; i++)
		bn_pool__free(&w->pool, b->pkts[i].addr);
}

/* A quiesced wire (or one whose queue is still going out): the batch joins its queue. */
static void queue_for_wire(struct bn_worker *w, const struct bn_egress *eg, struct bn_batch *b, uint64_t *row)
{
	struct bn_udp_wire *wire = eg->wire;
	uint32_t room = wire->txq_max - wire->txq_n;
	uint32_t k = b->n < room ? b->n : room;
	for (uint32_t i = 0; i < k; i++)
		wire->txq[wire->txq_n + i] = b->pkts[i];
	__atomic_store_n(&wire->txq_n, wire->txq_n + k, __ATOMIC_RELAXED);
	bn_count(row, BN_PC_quiesce_queued, k);
	if (k < b->n)
		bn_count(row, BN_PC_drop_quiesce_full, b->n - k);
	for (uint32_t i = k; i < b->n; i++)
		bn_pool__free(&w->pool, b->pkts[i].addr);
}

void bn_l2__flush(struct bn_worker *w, const struct bn_wtable *t)
{
	for (uint32_t d = 0; d < w->n_dirty; d++) {
		uint32_t slot = w->dirty[d];
		struct bn_batch *b = &w->out[slot];
		const struct bn_egress *eg = &t->egress[slot];
		uint64_t *row = bn_engine__port_row(&w->engine->cfg, slot, w->index);
		if (eg->local && !eg->local->failed) {
			if (bn_unlikely(eg->wire && (eg->quiesced || eg->wire->txq_n) && eg->wire->txq_worker == (int32_t)w->index))
				queue_for_wire(w, eg, b, row);
			else
				send_batch(w, eg, b, row);
		} else if (eg->via_worker >= 0 && eg->port_id) {
			handoff_out(w, eg, b, row);
		} else {
			bn_count(row, BN_PC_drop_port_down, b->n);
			for (uint32_t i = 0; i < b->n; i++)
				bn_pool__free(&w->pool, b->pkts[i].addr);
		}
		b->n = 0;
	}
	w->n_dirty = 0;
}

uint32_t bn_l2__handoff_in(struct bn_worker *w, const struct bn_wtable *t)
{
	struct bn_engine *eng = w->engine;
	uint32_t moved = 0;
	for (uint32_t src = 0; src < eng->cfg.n_workers; src++) {
		if (src == w->index)
			continue;
		struct bn_spsc *r = &eng->handoff[src * eng->cfg.n_workers + w->index];
		uint32_t n = bn_spsc__avail(r);
		if (n == 0)
			continue;
		if (n > BN_BURST)
			n = BN_BURST;
		for (uint32_t i = 0; i < n; i++) {
			const struct bn_handoff_slot *s = bn_spsc__slot(r, r->tail + i);
			uint32_t slot = slot_of(s->port);
			uint64_t *row = bn_engine__port_row(&eng->cfg, slot, w->index);
			uint64_t addr;
			/* A port that changed domain while the frame crossed workers is, for the frame, gone. */
			if (t->egress[slot].port_id != s->port || !t->egress[slot].local || t->egress[slot].domain != s->domain)
				bn_count(row, BN_PC_drop_port_down, 1);
			else if (!copy_frame(w, s->data, s->len, &addr))
				bn_count(row, BN_PC_drop_no_frame, 1);
			else
				bn_l2__queue_out(w, slot, addr, s->len);
		}
		bn_spsc__consume(r, n);
		bn_count(w->counters, BN_WC_handoff_in, n);
		moved += n;
		bn_l2__flush(w, t);
	}
	return moved;
}
