/* The learning switch: learn the source MAC, look up the destination, and queue the frame
 * for its egress port; flood broadcast, multicast and unknown unicast with copies. Frames
 * going to a single port move without a copy (one frame pool per worker, shared by all of
 * its sockets). Nothing here allocates, locks, logs or sleeps. */
#include <string.h>

#include "counters.h"
#include "engine.h"
#include "worker.h"

#define ETH_HLEN_MIN 14
/* Copies start at the same offset the kernel uses, so every frame looks alike. */
#define BN_COPY_HEADROOM 256

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
	for (uint32_t i = 0; i < t->n_ports; i++) {
		uint32_t s = t->ports[i];
		if (s == in_slot)
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

void bn_l2__process(struct bn_worker *w, const struct bn_wtable *t, struct bn_queue *in, uint32_t n)
{
	struct bn_fdb *fdb = &w->engine->fdb;
	uint32_t in_slot = slot_of(in->port);
	uint64_t bytes = 0, malformed = 0, hairpin = 0;
	const uint32_t max_len = w->pool.frame_size - BN_COPY_HEADROOM;
	for (uint32_t i = 0; i < n; i++) {
		struct bn_pkt *p = &w->rx[i];
		if (bn_unlikely(p->len < ETH_HLEN_MIN || p->len > max_len)) {
			malformed++;
			bn_pool__free(&w->pool, p->addr);
			continue;
		}
		bytes += p->len;
		const uint8_t *eth = bn_pool__data(&w->pool, p->addr);
		const uint8_t *dst = eth, *src = eth + 6;
		if (!(src[0] & 1)) {
			int learned = bn_fdb__learn(fdb, src, in->port, w->now_ns);
			if (learned > 0)
				bn_count(w->counters, BN_WC_fdb_learned, 1);
			else if (learned < 0)
				bn_count(w->counters, BN_WC_fdb_full, 1);
		}
		uint32_t to;
		if (!(dst[0] & 1) && bn_fdb__lookup(fdb, dst, w->now_ns, &to) &&
		    t->egress[slot_of(to)].port_id == to) {
			if (bn_unlikely(to == in->port)) {
				hairpin++;
				bn_pool__free(&w->pool, p->addr);
			} else {
				bn_l2__queue_out(w, slot_of(to), p->addr, p->len);
			}
			continue;
		}
		flood(w, t, in_slot, p);
	}
	bn_count(in->counters, BN_PC_rx_packets, n - malformed);
	bn_count(in->counters, BN_PC_rx_bytes, bytes);
	if (malformed)
		bn_count(in->counters, BN_PC_drop_malformed, malformed);
	if (hairpin)
		bn_count(in->counters, BN_PC_drop_hairpin, hairpin);
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

void bn_l2__flush(struct bn_worker *w, const struct bn_wtable *t)
{
	for (uint32_t d = 0; d < w->n_dirty; d++) {
		uint32_t slot = w->dirty[d];
		struct bn_batch *b = &w->out[slot];
		const struct bn_egress *eg = &t->egress[slot];
		uint64_t *row = bn_engine__port_row(&w->engine->cfg, slot, w->index);
		uint32_t sent = 0;
		if (eg->local && !eg->local->failed) {
			sent = eg->local->ops->tx_burst(eg->local, b->pkts, b->n);
			uint64_t bytes = 0;
			for (uint32_t i = 0; i < sent; i++)
				bytes += b->pkts[i].len;
			bn_count(row, BN_PC_tx_packets, sent);
			bn_count(row, BN_PC_tx_bytes, bytes);
			if (sent < b->n)
				bn_count(row, BN_PC_drop_tx_ring_full, b->n - sent);
		} else if (eg->via_worker >= 0 && eg->port_id) {
			handoff_out(w, eg, b, row);
			sent = b->n;
			b->n = 0;
			continue;
		} else {
			bn_count(row, BN_PC_drop_port_down, b->n);
		}
		for (uint32_t i = sent; i < b->n; i++)
			bn_pool__free(&w->pool, b->pkts[i].addr);
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
			if (t->egress[slot].port_id != s->port || !t->egress[slot].local)
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
