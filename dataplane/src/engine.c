#include "engine.h"

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"

#define BN_ACK_TIMEOUT_NS (2ULL * 1000 * 1000 * 1000)
#define BN_PAUSE_TIMEOUT_NS (2ULL * 1000 * 1000 * 1000)

/* ---- tables ------------------------------------------------------------------ */

static struct bn_port *port_by_id(struct bn_engine *eng, uint32_t id);

static void map_wire(struct bn_wtable *t, uint32_t wire_id, uint32_t slot, uint32_t path)
{
	uint32_t h = (wire_id * 2654435761u) >> 24;
	for (uint32_t i = 0; i < BN_WIRE_MAP; i++) {
		struct bn_wire_entry *e = &t->wires[(h + i) & (BN_WIRE_MAP - 1)];
		if (!e->used) {
			e->wire_id = wire_id;
			e->slot = (uint16_t)slot;
			e->path = (uint8_t)path;
			e->used = 1;
			return;
		}
	}
}

static int is_underlay(const struct bn_port *p)
{
	return p->cfg.underlay_udp_port || p->rdma;
}

/* Where a port's frames leave from on worker w: its own queue there, else another worker's. */
static struct bn_queue *local_queue(const struct bn_port *p, uint32_t w)
{
	for (uint32_t i = 0; i < p->n_queues; i++)
		if (p->queues[i]->worker == w)
			return p->queues[i];
	return NULL;
}

static void route_egress(struct bn_egress *eg, const struct bn_port *p, uint32_t w)
{
	eg->local = local_queue(p, w);
	if (!eg->local && p->n_queues)
		eg->via_worker = p->queues[0]->worker;
}

static uint32_t distinct_workers(const struct bn_port *p)
{
	uint32_t seen = 0, n = 0;
	for (uint32_t i = 0; i < p->n_queues; i++)
		if (!(seen & 1u << p->queues[i]->worker)) {
			seen |= 1u << p->queues[i]->worker;
			n++;
		}
	return n;
}

static struct bn_wtable *build_table(struct bn_engine *eng, uint32_t w, uint64_t epoch)
{
	struct bn_wtable *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->epoch = epoch;
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		struct bn_egress *eg = &t->egress[s];
		eg->via_worker = -1;
		struct bn_port *p = eng->ports[s];
		if (!p || (p->rdma && !p->rdma_connected))
			continue;
		eg->port_id = p->id;
		eg->domain = p->cfg.domain;
		eg->receive_only = (uint8_t)(p->cfg.receive_only != 0);
		if (p->wire) {
			struct bn_udp_wire *wire = p->wire;
			/* Each path has its carrier: the underlay port (udp) or queue pair (rdma) it
			 * leaves through. A hot-swap may move the wire from one carrier to another. */
			struct bn_port *under = port_by_id(eng, wire->path[wire->tx_path].cfg.underlay_port);
			eg->wire = wire;
			eg->tx = &wire->path[wire->tx_path];
			const struct bn_udp_path *other = &wire->path[wire->tx_path ^ 1];
			struct bn_port *other_under = other->used ? port_by_id(eng, other->cfg.underlay_port) : NULL;
			if (wire->phase == BN_SWAP_PREPARED) {
				eg->standby = other;
				eg->standby_local = other_under ? local_queue(other_under, w) : NULL;
			} else if (wire->phase == BN_SWAP_CUT_OVER) {
				eg->drain = other;
				eg->drain_local = other_under ? local_queue(other_under, w) : NULL;
			}
			eg->drain_epoch = wire->drain_epoch;
			eg->quiesced = (uint8_t)wire->quiesced;
			/* One marker from every worker that transmitted on the drained path. */
			if (other_under && wire->phase == BN_SWAP_CUT_OVER)
				eg->n_markers = (uint8_t)distinct_workers(other_under);
			else if (under)
				eg->n_markers = (uint8_t)distinct_workers(under);
			if (under && wire->quiesced && (int32_t)w != wire->txq_worker) {
				/* Quiesced: one worker queues, the others hand their frames to it. */
				eg->via_worker = wire->txq_worker;
				eg->underlay_row = bn_engine__port_row(&eng->cfg, under->id & 0xff, w);
			} else if (under) {
				route_egress(eg, under, w);
				eg->underlay_row = bn_engine__port_row(&eng->cfg, under->id & 0xff, w);
			}
			for (uint32_t k = 0; k < 2; k++)
				if (wire->path[k].used) {
					map_wire(t, wire->path[k].cfg.wire_id, s, k);
					eg->n_paths++;
				}
			t->ports[t->n_ports++] = (uint8_t)s;
			continue;
		}
		/* An underlay carries wires; it is not a switch port and never floods. */
		if (!is_underlay(p))
			t->ports[t->n_ports++] = (uint8_t)s;
		for (uint32_t i = 0; i < p->n_queues; i++) {
			struct bn_queue *q = p->queues[i];
			if (q->worker == w) {
				if (t->n_queues < BN_MAX_WORKER_QUEUES)
					t->queues[t->n_queues++] = q;
				if (!eg->local)
					eg->local = q;
			}
		}
		if (!eg->local && p->n_queues)
			eg->via_worker = p->queues[0]->worker;
	}
	return t;
}

/* Publishes a fresh table to every worker and frees the old ones once no worker can
 * still be reading them. */
static int publish(struct bn_engine *eng, struct bn_error *e)
{
	uint32_t n = eng->cfg.n_workers;
	struct bn_wtable *fresh[BN_MAX_WORKERS], *old[BN_MAX_WORKERS];
	uint64_t epoch = ++eng->epoch;
	for (uint32_t w = 0; w < n; w++) {
		fresh[w] = build_table(eng, w, epoch);
		if (!fresh[w]) {
			while (w--)
				free(fresh[w]);
			return bn_fail(e, ENOMEM, "publish", "out of memory for forwarding tables");
		}
	}
	for (uint32_t w = 0; w < n; w++) {
		old[w] = eng->workers[w].table;
		__atomic_store_n(&eng->workers[w].table, fresh[w], __ATOMIC_RELEASE);
		bn_worker__wake(&eng->workers[w]);
	}
	if (eng->running) {
		uint64_t deadline = bn_now_ns() + BN_ACK_TIMEOUT_NS;
		const struct timespec nap = {0, 20 * 1000};
		for (uint32_t w = 0; w < n; w++) {
			while (__atomic_load_n(&eng->workers[w].ack_epoch, __ATOMIC_ACQUIRE) < epoch) {
				if (bn_now_ns() > deadline) {
					/* Leaking the old tables is the only safe choice: a worker may still use them. */
					return bn_fail(e, ETIMEDOUT, "publish",
						       "worker %u did not adopt the new configuration within 2 s", w);
				}
				nanosleep(&nap, NULL);
			}
		}
	}
	for (uint32_t w = 0; w < n; w++)
		free(old[w]);
	return 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

int bn_engine__create(struct bn_engine **out, const struct bn_engine_config *cfg, struct bn_error *e)
{
	bn_stamp_init();
	int rc;
	if (cfg->n_workers == 0 || cfg->n_workers > BN_MAX_WORKERS)
		return bn_fail(e, EINVAL, "create", "workers must be 1-%d, got %u", BN_MAX_WORKERS, cfg->n_workers);
	struct bn_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		return bn_fail(e, ENOMEM, "create", "out of memory");
	eng->cfg = *cfg;
	eng->event_fd = eventfd(0, EFD_CLOEXEC);
	if (eng->event_fd < 0) {
		rc = bn_fail(e, errno, "create", "eventfd: %s", strerror(errno));
		goto err_free;
	}
	if (bn_fdb__init(&eng->fdb, cfg->fdb_size, cfg->fdb_ageing_ns) < 0) {
		rc = bn_fail(e, ENOMEM, "create", "out of memory for the MAC table");
		goto err_close_eventfd;
	}
	uint32_t n = cfg->n_workers;
	eng->handoff = calloc((size_t)n * n, sizeof(*eng->handoff));
	if (!eng->handoff) {
		rc = bn_fail(e, ENOMEM, "create", "out of memory");
		goto err_fdb;
	}
	for (uint32_t i = 0; n > 1 && i < n * n; i++)
		if (i / n != i % n &&
		    bn_spsc__init(&eng->handoff[i], cfg->handoff_slots, sizeof(struct bn_handoff_slot) + cfg->frame_size) < 0) {
			rc = bn_fail(e, ENOMEM, "create", "out of memory for worker handoff rings");
			goto err_handoff;
		}
	eng->workers = aligned_alloc(BN_CACHELINE, sizeof(*eng->workers) * n);
	if (!eng->workers) {
		rc = bn_fail(e, ENOMEM, "create", "out of memory");
		goto err_handoff;
	}
	memset(eng->workers, 0, sizeof(*eng->workers) * n);
	uint32_t w;
	for (w = 0; w < n; w++) {
		struct bn_worker *wk = &eng->workers[w];
		wk->engine = eng;
		wk->index = w;
		wk->cpu = cfg->cpus[w];
		wk->counters = cfg->worker_counters + (size_t)w * BN_WORKER_ROW;
		if ((rc = bn_pool__init(&wk->pool, cfg->frames_per_worker, cfg->frame_size, e)) < 0)
			goto err_workers;
		if (bn_spsc__init(&wk->events, 256, sizeof(struct bn_event)) < 0) {
			bn_pool__destroy(&wk->pool);
			rc = bn_fail(e, ENOMEM, "create", "out of memory");
			goto err_workers;
		}
		wk->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (wk->wake_fd < 0) {
			rc = bn_fail(e, errno, "create", "eventfd: %s", strerror(errno));
			bn_spsc__free(&wk->events);
			bn_pool__destroy(&wk->pool);
			goto err_workers;
		}
	}
	if ((rc = publish(eng, e)) < 0)
		goto err_workers;
	*out = eng;
	return 0;

err_workers:
	while (w--) {
		close(eng->workers[w].wake_fd);
		bn_spsc__free(&eng->workers[w].events);
		bn_pool__destroy(&eng->workers[w].pool);
	}
	free(eng->workers);
err_handoff:
	for (uint32_t i = 0; i < n * n; i++)
		bn_spsc__free(&eng->handoff[i]);
	free(eng->handoff);
err_fdb:
	bn_fdb__destroy(&eng->fdb);
err_close_eventfd:
	close(eng->event_fd);
err_free:
	free(eng);
	return rc;
}

int bn_engine__start(struct bn_engine *eng, struct bn_error *e)
{
	if (eng->running)
		return 0;
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++) {
		struct bn_worker *wk = &eng->workers[w];
		wk->stop = 0;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		if (wk->cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(wk->cpu, &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		int rc = pthread_create(&wk->thread, &attr, bn_worker__run, wk);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			eng->running = 1;
			bn_engine__stop(eng);
			return bn_fail(e, rc, "start", "cannot start worker %u%s: %s", w,
				       wk->cpu >= 0 ? " (pinned)" : "", strerror(rc));
		}
		wk->started = 1;
	}
	eng->running = 1;
	return 0;
}

void bn_engine__stop(struct bn_engine *eng)
{
	if (!eng->running)
		return;
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++)
		__atomic_store_n(&eng->workers[w].stop, 1, __ATOMIC_RELEASE);
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++) {
		struct bn_worker *wk = &eng->workers[w];
		if (wk->started)
			pthread_join(wk->thread, NULL);
		wk->started = 0;
		/* A stopped worker will not read its return ring; take the frames now. */
		bn_pool__take_returned(&wk->pool);
	}
	eng->running = 0;
}

/* Queues and program are torn down inside the port's namespace: the XDP detach speaks
 * netlink, and an ifindex only means something in its own namespace. */
static void close_port(struct bn_engine *eng, struct bn_port *p)
{
	if (p->rdma) {
		for (uint32_t i = 0; i < p->n_queues; i++)
			bn_rdma_queue__close(p->queues[i]);
		p->n_queues = 0;
		if (!eng->running)
			for (uint32_t w = 0; w < eng->cfg.n_workers; w++)
				bn_pool__take_returned(&eng->workers[w].pool);
		return;
	}
	struct bn_netns_guard ns;
	struct bn_error ignored;
	int in_ns = bn_netns__enter(&ns, p->cfg.netns, &ignored) == 0;
	for (uint32_t i = p->n_queues; i-- > 0;) {
		bn_afxdp_queue__close(p, p->queues[i]);
		free(p->queues[i]);
	}
	/* A namespace that vanished took the interface and its program with it; an interface
	 * that moved to another namespace (a VM's tap in a migration) took the program along,
	 * and its ifindex here may name another interface by now. */
	if (in_ns && if_nametoindex(p->cfg.ifname) == (unsigned)p->ifindex)
		bn_afxdp_port__detach(p);
	else
		bn_xdp_prog__forget(&p->prog);
	if (in_ns)
		bn_netns__leave(&ns);
	/* Frames a hot-swap or a quiesce was holding go back to the worker they came from. */
	if (p->wire && p->wire->hold_worker >= 0)
		for (uint32_t i = 0; i < p->wire->n_held; i++)
			bn_pool__give_back(&eng->workers[p->wire->hold_worker].pool, p->wire->held[i].addr);
	if (p->wire && p->wire->txq_worker >= 0)
		for (uint32_t i = 0; i < p->wire->txq_n; i++)
			bn_pool__give_back(&eng->workers[p->wire->txq_worker].pool, p->wire->txq[i].addr);
	if (!eng->running)
		for (uint32_t w = 0; w < eng->cfg.n_workers; w++)
			bn_pool__take_returned(&eng->workers[w].pool);
	free(p->wire);
	p->wire = NULL;
}

void bn_engine__destroy(struct bn_engine *eng)
{
	if (!eng)
		return;
	bn_engine__stop(eng);
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		if (!eng->ports[s])
			continue;
		struct bn_port *p = eng->ports[s];
		eng->ports[s] = NULL;
		close_port(eng, p);
		free(p);
	}
	uint32_t n = eng->cfg.n_workers;
	for (uint32_t w = 0; w < n; w++) {
		free(eng->workers[w].table);
		close(eng->workers[w].wake_fd);
		bn_spsc__free(&eng->workers[w].events);
		bn_pool__destroy(&eng->workers[w].pool);
	}
	free(eng->workers);
	for (uint32_t i = 0; i < n * n; i++)
		bn_spsc__free(&eng->handoff[i]);
	free(eng->handoff);
	bn_fdb__destroy(&eng->fdb);
	close(eng->event_fd);
	free(eng);
}

/* ---- ports ----------------------------------------------------------------------- */

static int share_fd_for(struct bn_engine *eng, uint32_t worker, const struct bn_port *also)
{
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		const struct bn_port *p = eng->ports[s] ? eng->ports[s] : NULL;
		for (uint32_t i = 0; p && i < p->n_queues; i++)
			if (p->queues[i]->worker == worker && !p->queues[i]->failed && !p->rdma)
				return p->queues[i]->xsk.fd;
	}
	for (uint32_t i = 0; i < also->n_queues; i++)
		if (also->queues[i]->worker == worker)
			return also->queues[i]->xsk.fd;
	return -1;
}

static int find_duplicate(const struct bn_engine *eng, const struct bn_port *np)
{
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		const struct bn_port *p = eng->ports[s];
		if (p && p->ifindex == np->ifindex && p->netns_ino == np->netns_ino)
			return (int)s;
	}
	return -1;
}

/* Fill rings are refilled greedily from the worker's pool: if their sizes add up to more than
 * the pool, the last socket's fill ring stays empty and the kernel drops what it receives.
 * Refuse such a port up front instead. */
#define BN_POOL_SLACK (8 * BN_BURST)   /* frames in flight: tx, handoff, flood copies */

static int check_pool_room(struct bn_engine *eng, const struct bn_port *p, struct bn_error *e)
{
	uint64_t committed[BN_MAX_WORKERS] = {0};
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		const struct bn_port *o = eng->ports[s];
		for (uint32_t i = 0; o && i < o->n_queues; i++)
			committed[o->queues[i]->worker] += o->cfg.ring_size;
	}
	for (uint32_t i = 0; i < p->cfg.n_queues; i++) {
		uint32_t w = (eng->next_worker + i) % eng->cfg.n_workers;
		committed[w] += p->cfg.ring_size;
		if (committed[w] + BN_POOL_SLACK > eng->cfg.frames_per_worker)
			return bn_fail(e, ENOSPC, "add_port",
				       "worker %u's pool of %u frames cannot also fill %s's %u-entry ring (%llu frames already "
				       "committed to fill rings): raise framesPerWorker or lower ringSize",
				       w, eng->cfg.frames_per_worker, p->cfg.ifname, p->cfg.ring_size,
				       (unsigned long long)(committed[w] - p->cfg.ring_size));
	}
	return 0;
}

int bn_engine__add_port(struct bn_engine *eng, const struct bn_port_config *cfg, struct bn_port_info *info,
			struct bn_error *e)
{
	int rc;
	uint32_t slot;
	for (slot = 0; slot < BN_MAX_PORTS && eng->ports[slot]; slot++)
		;
	if (slot == BN_MAX_PORTS)
		return bn_fail(e, ENOSPC, "add_port", "the engine already has %d ports", BN_MAX_PORTS);
	if (cfg->domain > BN_MAX_DOMAIN)
		return bn_fail(e, EINVAL, "add_port", "domain must be 0-%d, got %u", BN_MAX_DOMAIN, cfg->domain);
	if (cfg->ring_size < 64 || (cfg->ring_size & (cfg->ring_size - 1)))
		return bn_fail(e, EINVAL, "add_port", "ringSize must be a power of two >= 64, got %u", cfg->ring_size);
	struct bn_port *p = calloc(1, sizeof(*p));
	if (!p)
		return bn_fail(e, ENOMEM, "add_port", "out of memory");
	p->cfg = *cfg;
	uint32_t gen = ++eng->generation[slot] & 0xffffff;
	if (gen == 0)
		gen = ++eng->generation[slot] & 0xffffff;
	p->id = slot | gen << 8;

	struct bn_netns_guard ns;
	if ((rc = bn_netns__enter(&ns, cfg->netns, e)) < 0)
		goto err_free;
	if ((rc = bn_afxdp_port__resolve(p, e)) < 0)
		goto err_leave;
	if (find_duplicate(eng, p) >= 0) {
		rc = bn_fail(e, EEXIST, "add_port", "%s is already a port of this engine", cfg->ifname);
		goto err_leave;
	}
	if ((rc = check_pool_room(eng, p, e)) < 0)
		goto err_leave;
	if ((rc = bn_afxdp_port__attach(p, eng->cfg.bpf_obj_path, e)) < 0)
		goto err_leave;
	for (uint32_t i = 0; i < BN_MAX_WORKERS && i < eng->cfg.n_workers; i++)
		memset(bn_engine__port_row(&eng->cfg, slot, i), 0, BN_PORT_ROW * sizeof(uint64_t));
	for (uint32_t i = 0; i < p->cfg.n_queues; i++) {
		struct bn_queue *q = aligned_alloc(BN_CACHELINE, sizeof(*q));
		if (!q) {
			rc = bn_fail(e, ENOMEM, "add_port", "out of memory");
			goto err_queues;
		}
		memset(q, 0, sizeof(*q));
		uint32_t w = (eng->next_worker + i) % eng->cfg.n_workers;
		q->worker = (uint16_t)w;
		q->pool = &eng->workers[w].pool;
		q->port = p->id;
		q->counters = bn_engine__port_row(&eng->cfg, slot, w);
		int share = share_fd_for(eng, w, p);
		if ((rc = bn_afxdp_queue__open(p, q, p->cfg.first_queue + i, share, e)) < 0) {
			free(q);
			goto err_queues;
		}
		if (i == 0)
			p->zero_copy = q->xsk.zero_copy;
		p->queues[p->n_queues++] = q;
	}
	bn_netns__leave(&ns);
	eng->next_worker = (eng->next_worker + p->n_queues) % eng->cfg.n_workers;
	eng->ports[slot] = p;
	/* A failed publish may have reached some workers: the port stays registered (and is
	 * closed with the engine) rather than freed under a worker that polls it. */
	if ((rc = publish(eng, e)) < 0)
		return rc;
	info->id = p->id;
	info->ifindex = p->ifindex;
	info->mode = p->prog.mode;
	info->zero_copy = p->zero_copy;
	info->n_queues = p->n_queues;
	for (uint32_t i = 0; i < p->n_queues; i++) {
		info->queue_ids[i] = p->queues[i]->queue_id;
		info->workers[i] = p->queues[i]->worker;
	}
	return 0;

err_queues:
	/* Queues never published: their fill rings are empty and they own no frames. */
	for (uint32_t i = p->n_queues; i-- > 0;) {
		bn_xdp_prog__clear_socket(&p->prog, p->queues[i]->queue_id);
		bn_xsk__close(&p->queues[i]->xsk);
		bn_xsk__unmap(&p->queues[i]->xsk);
		free(p->queues[i]);
	}
	bn_afxdp_port__detach(p);
err_leave:
	bn_netns__leave(&ns);
err_free:
	free(p);
	return rc;
}

static struct bn_port *port_by_id(struct bn_engine *eng, uint32_t id)
{
	if (id == 0)
		return NULL;
	struct bn_port *p = eng->ports[id & 0xff & (BN_MAX_PORTS - 1)];
	return p && p->id == id ? p : NULL;
}

int bn_engine__remove_port(struct bn_engine *eng, uint32_t port_id, struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p)
		return bn_fail(e, ENOENT, "remove_port", "no port with id %u (already removed?)", port_id);
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++)
		for (uint32_t k = 0; k < 2 && eng->ports[s] && eng->ports[s]->wire; k++) {
			const struct bn_udp_path *path = &eng->ports[s]->wire->path[k];
			if (path->used && path->cfg.underlay_port == port_id)
				return bn_fail(e, EBUSY, "remove_port", "%s carries wire %u: remove its wires first",
					       p->cfg.ifname, path->cfg.wire_id);
		}
	eng->ports[port_id & 0xff] = NULL;
	int rc = publish(eng, e);
	if (rc < 0) {
		eng->ports[port_id & 0xff] = p;
		return rc;
	}
	/* No worker can reach the port any more: its queues belong to this thread now. */
	close_port(eng, p);
	bn_fdb__flush(&eng->fdb, port_id & 0xff);
	free(p);
	return 0;
}

static uint32_t take_slot(struct bn_engine *eng, uint32_t *id)
{
	uint32_t slot;
	for (slot = 0; slot < BN_MAX_PORTS && eng->ports[slot]; slot++)
		;
	if (slot == BN_MAX_PORTS)
		return slot;
	uint32_t gen = ++eng->generation[slot] & 0xffffff;
	if (gen == 0)
		gen = ++eng->generation[slot] & 0xffffff;
	*id = slot | gen << 8;
	return slot;
}

static int wire_id_in_use(struct bn_engine *eng, uint32_t wire_id)
{
	for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
		const struct bn_udp_wire *w = eng->ports[s] ? eng->ports[s]->wire : NULL;
		for (uint32_t k = 0; w && k < 2; k++)
			if (w->path[k].used && w->path[k].cfg.wire_id == wire_id)
				return 1;
	}
	return 0;
}

/* A wire's settings as its carrier shapes them: over RDMA, the largest message both ends'
 * receive buffers take stands for the MTU, and the queue pair is the peer's address. */
static int carrier_config(const struct bn_port *under, const struct bn_udp_wire_config *cfg,
			  struct bn_udp_wire_config *out, const char *step, struct bn_error *e)
{
	*out = *cfg;
	out->rdma = (uint16_t)(under && under->rdma);
	if (out->rdma) {
		out->underlay_mtu = bn_rdma_queue__max_msg(under->queues[0]);
		out->remote_ip = 0;
	}
	if (out->underlay_mtu <= (out->rdma ? BN_WIRE_HDR_LEN : BN_UDP_OVERHEAD) + 14)
		return bn_fail(e, EINVAL, step, "underlay MTU %u leaves no room for a frame", out->underlay_mtu);
	return 0;
}

/* ---- RDMA carriers ------------------------------------------------------------- */

int bn_engine__add_rdma_port(struct bn_engine *eng, const struct bn_rdma_config *cfg, struct bn_rdma_endpoint *local,
			     uint32_t *id, uint32_t *worker, struct bn_error *e)
{
	uint32_t port_id = 0, slot = take_slot(eng, &port_id);
	if (slot == BN_MAX_PORTS)
		return bn_fail(e, ENOSPC, "rdma_open", "the engine already has %d ports and wires", BN_MAX_PORTS);
	struct bn_port *p = calloc(1, sizeof(*p));
	if (!p)
		return bn_fail(e, ENOMEM, "rdma_open", "out of memory");
	snprintf(p->cfg.ifname, sizeof(p->cfg.ifname), "%.11s/qp", cfg->device);
	p->cfg.n_queues = 1;
	p->cfg.ring_size = cfg->rq_depth;   /* receive buffers come from the worker's pool like a fill ring */
	int rc = check_pool_room(eng, p, e);
	if (rc < 0) {
		free(p);
		return rc;
	}
	uint32_t w = eng->next_worker % eng->cfg.n_workers;
	struct bn_queue *q = NULL;
	rc = bn_rdma_queue__open(&q, &eng->workers[w].pool, cfg, local, e);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->id = port_id;
	p->rdma = 1;
	snprintf(p->cfg.ifname, sizeof(p->cfg.ifname), "qp%u", local->qpn);
	q->worker = (uint16_t)w;
	q->port = port_id;
	q->queue_id = 0;
	q->counters = bn_engine__port_row(&eng->cfg, slot, w);
	p->queues[p->n_queues++] = q;
	for (uint32_t i = 0; i < eng->cfg.n_workers; i++)
		memset(bn_engine__port_row(&eng->cfg, slot, i), 0, BN_PORT_ROW * sizeof(uint64_t));
	eng->next_worker = (eng->next_worker + 1) % eng->cfg.n_workers;
	/* Not polled until connected: the table leaves it out. */
	eng->ports[slot] = p;
	*id = port_id;
	*worker = w;
	return 0;
}

int bn_engine__rdma_connect(struct bn_engine *eng, uint32_t port_id, const struct bn_rdma_endpoint *remote,
			    int wait_for_peer, uint32_t *max_msg, struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p || !p->rdma)
		return bn_fail(e, ENOENT, "rdma_connect", "no RDMA queue pair with port id %u", port_id);
	if (p->rdma_connected)
		return bn_fail(e, EISCONN, "rdma_connect", "%s is already connected", p->cfg.ifname);
	int rc = bn_rdma_queue__connect(p->queues[0], remote, wait_for_peer, e);
	if (rc < 0)
		return rc;
	p->rdma_connected = 1;
	*max_msg = bn_rdma_queue__max_msg(p->queues[0]);
	return publish(eng, e);
}

int bn_engine__add_udp_wire(struct bn_engine *eng, const struct bn_udp_wire_config *cfg, uint32_t *id,
			    uint32_t *max_inner, struct bn_error *e)
{
	struct bn_port *under = port_by_id(eng, cfg->underlay_port);
	if (!under || !is_underlay(under))
		return bn_fail(e, EINVAL, "add_wire", "port %u is not an underlay port", cfg->underlay_port);
	if (under->rdma && !under->rdma_connected)
		return bn_fail(e, ENOTCONN, "add_wire", "RDMA queue pair %s is not connected yet", under->cfg.ifname);
	if (wire_id_in_use(eng, cfg->wire_id))
		return bn_fail(e, EEXIST, "add_wire", "wire id %u is already in use", cfg->wire_id);
	if (cfg->domain > BN_MAX_DOMAIN)
		return bn_fail(e, EINVAL, "add_wire", "domain must be 0-%d, got %u", BN_MAX_DOMAIN, cfg->domain);
	struct bn_udp_wire_config carried;
	if (carrier_config(under, cfg, &carried, "add_wire", e) < 0)
		return -e->err;
	cfg = &carried;
	uint32_t port_id = 0, slot = take_slot(eng, &port_id);
	if (slot == BN_MAX_PORTS)
		return bn_fail(e, ENOSPC, "add_wire", "the engine already has %d ports and wires", BN_MAX_PORTS);
	struct bn_port *p = calloc(1, sizeof(*p));
	struct bn_udp_wire *wire = aligned_alloc(BN_CACHELINE, sizeof(*wire));
	if (!p || !wire) {
		free(p);
		free(wire);
		return bn_fail(e, ENOMEM, "add_wire", "out of memory");
	}
	bn_udp_wire__init(wire, cfg);
	p->id = port_id;
	p->wire = wire;
	snprintf(p->cfg.ifname, sizeof(p->cfg.ifname), "wire%u", cfg->wire_id);
	p->cfg.netns[0] = '\0';
	p->cfg.domain = cfg->domain;
	for (uint32_t i = 0; i < eng->cfg.n_workers; i++)
		memset(bn_engine__port_row(&eng->cfg, slot, i), 0, BN_PORT_ROW * sizeof(uint64_t));
	eng->ports[slot] = p;
	int rc = publish(eng, e);
	if (rc < 0)
		return rc;   /* as in add_port: registered, never freed under a worker */
	*id = port_id;
	*max_inner = wire->path[0].max_inner;
	return 0;
}

static struct bn_udp_wire *wire_of(struct bn_engine *eng, uint32_t port_id, const char *step, struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p) {
		bn_fail(e, ENOENT, step, "no wire with port id %u (already removed?)", port_id);
		return NULL;
	}
	if (!p->wire) {
		bn_fail(e, EINVAL, step, "%s is not a wire", p->cfg.ifname);
		return NULL;
	}
	return p->wire;
}

int bn_engine__wire_prepare(struct bn_engine *eng, uint32_t port_id, const struct bn_udp_wire_config *next,
			    uint32_t *max_inner, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "swap_prepare", e);
	if (!w)
		return -e->err;
	if (w->phase != BN_SWAP_NONE)
		return bn_fail(e, EBUSY, "swap_prepare", "wire %u is already being swapped (to wire %u)",
			       w->path[w->tx_path].cfg.wire_id, w->path[w->tx_path ^ 1].cfg.wire_id);
	/* The receiver orders the old path's tail before the new path's head in one worker: on
	 * the same underlay both paths hash to one queue (same UDP ports); on another carrier
	 * (udp <-> rdma) both carriers must be received by one and the same worker. */
	struct bn_port *cur = port_by_id(eng, w->path[w->tx_path].cfg.underlay_port);
	struct bn_port *nxt = port_by_id(eng, next->underlay_port);
	if (!nxt || !is_underlay(nxt))
		return bn_fail(e, EINVAL, "swap_prepare", "port %u is not an underlay port or RDMA queue pair", next->underlay_port);
	if (nxt->rdma && !nxt->rdma_connected)
		return bn_fail(e, ENOTCONN, "swap_prepare", "RDMA queue pair %s is not connected yet", nxt->cfg.ifname);
	if (cur && nxt != cur &&
	    (distinct_workers(cur) != 1 || distinct_workers(nxt) != 1 || cur->queues[0]->worker != nxt->queues[0]->worker))
		return bn_fail(e, EINVAL, "swap_prepare",
			       "a hot-swap to another carrier (%s -> %s) needs both received by one worker: give the new "
			       "carrier the worker of the old one",
			       cur->cfg.ifname, nxt->cfg.ifname);
	/* The receiver still takes frames from the path the last swap left (its markers were lost
	 * and nothing came since): it moves over on the next frame, a keepalive at the latest. */
	if (__atomic_load_n(&w->rx_path, __ATOMIC_RELAXED) != w->tx_path)
		return bn_fail(e, EAGAIN, "swap_prepare", "wire %u has not settled from its last swap yet: retry",
			       w->path[w->tx_path].cfg.wire_id);
	if (wire_id_in_use(eng, next->wire_id))
		return bn_fail(e, EEXIST, "swap_prepare", "wire id %u is already in use", next->wire_id);
	struct bn_udp_wire_config carried;
	if (carrier_config(port_by_id(eng, next->underlay_port), next, &carried, "swap_prepare", e) < 0)
		return -e->err;
	struct bn_udp_path *p = &w->path[w->tx_path ^ 1];
	bn_udp_path__init(p, &carried);
	w->phase = BN_SWAP_PREPARED;
	int rc = publish(eng, e);
	if (rc < 0)
		return rc;
	*max_inner = p->max_inner;
	return 0;
}

int bn_engine__wire_cutover(struct bn_engine *eng, uint32_t port_id, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "swap_cutover", e);
	if (!w)
		return -e->err;
	if (w->phase != BN_SWAP_PREPARED)
		return bn_fail(e, EINVAL, "swap_cutover", "wire %u has no prepared path to cut over to",
			       w->path[w->tx_path].cfg.wire_id);
	w->tx_path ^= 1;
	w->phase = BN_SWAP_CUT_OVER;
	/* Each worker sends its markers when it adopts this epoch: after every frame it
	 * encapsulated for the old path, before any for the new one. */
	w->drain_epoch = eng->epoch + 1;
	return publish(eng, e);
}

int bn_engine__wire_switch(struct bn_engine *eng, uint32_t port_id, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "switch", e);
	if (!w)
		return -e->err;
	if (w->phase != BN_SWAP_PREPARED)
		return bn_fail(e, EINVAL, "switch", "wire %u has no prepared path to switch to", w->path[w->tx_path].cfg.wire_id);
	/* The old peer is gone (its VM left): no drain marker, no second look. One publish moves
	 * transmission to the new path, forgets the old one and sends what was queued. */
	w->path[w->tx_path].used = 0;
	w->tx_path ^= 1;
	w->phase = BN_SWAP_NONE;
	w->drain_epoch = 0;
	w->quiesced = 0;
	return publish(eng, e);
}

int bn_engine__wire_finish(struct bn_engine *eng, uint32_t port_id, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "swap_finish", e);
	if (!w)
		return -e->err;
	if (w->phase == BN_SWAP_NONE)
		return bn_fail(e, EINVAL, "swap_finish", "wire %u is not being swapped", w->path[w->tx_path].cfg.wire_id);
	/* Cut over: the old path goes. Only prepared: the swap is abandoned, the new path goes. */
	w->path[w->tx_path ^ 1].used = 0;
	w->phase = BN_SWAP_NONE;
	w->drain_epoch = 0;
	return publish(eng, e);
}

int bn_engine__wire_quiesce(struct bn_engine *eng, uint32_t port_id, int on, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "quiesce", e);
	if (!w)
		return -e->err;
	if ((uint32_t)on == w->quiesced)
		return 0;
	if (on) {
		struct bn_port *under = port_by_id(eng, w->path[w->tx_path].cfg.underlay_port);
		if (!under || under->n_queues == 0)
			return bn_fail(e, ENETDOWN, "quiesce", "wire %u has no underlay queue to queue on",
				       w->path[w->tx_path].cfg.wire_id);
		/* Only ever the first queue's worker: a queue left from an earlier quiesce stays its. */
		w->txq_worker = (int32_t)under->queues[0]->worker;
		uint32_t quarter = eng->workers[w->txq_worker].pool.n_frames / 4;
		w->txq_max = quarter < BN_QUIESCE_HOLD ? quarter : BN_QUIESCE_HOLD;
	}
	w->quiesced = (uint32_t)on;
	return publish(eng, e);
}

int bn_engine__wire_info(struct bn_engine *eng, uint32_t port_id, struct bn_wire_info *info, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "wire_info", e);
	if (!w)
		return -e->err;
	memset(info, 0, sizeof(*info));
	info->phase = w->phase;
	info->tx_path = w->tx_path;
	info->rx_path = __atomic_load_n(&w->rx_path, __ATOMIC_RELAXED);
	info->n_held = __atomic_load_n(&w->n_held, __ATOMIC_RELAXED);
	info->quiesced = w->quiesced;
	info->n_queued = __atomic_load_n(&w->txq_n, __ATOMIC_RELAXED);
	for (uint32_t k = 0; k < 2; k++) {
		info->paths[k].used = w->path[k].used;
		info->paths[k].wire_id = w->path[k].cfg.wire_id;
		info->paths[k].max_inner = w->path[k].max_inner;
		info->paths[k].last_rx_ns = __atomic_load_n(&w->path[k].last_rx_ns, __ATOMIC_RELAXED);
	}
	return 0;
}

int bn_engine__wire_probe(struct bn_engine *eng, uint32_t port_id, uint32_t count, uint32_t bytes, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "probe", e);
	if (!w)
		return -e->err;
	struct bn_wire_probe *pr = &w->probe;
	if (count == 0) {   /* stop: what is out may still come back, nothing more goes */
		__atomic_store_n(&pr->left, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&pr->in_flight_ns, 0, __ATOMIC_RELEASE);
		return 0;
	}
	if (count > BN_PROBE_MAX)
		return bn_fail(e, EINVAL, "probe", "probe count %u out of range 1-%u", count, BN_PROBE_MAX);
	/* The largest inner frame the wire carries, and that fits a pool frame behind the headroom
	 * and the carrier's headers (an underlay MTU may be larger than a frame). */
	uint32_t max = w->path[w->tx_path].max_inner;
	uint32_t fits = eng->cfg.frame_size - BN_COPY_HEADROOM - w->path[w->tx_path].encap_len;
	if (fits < max)
		max = fits;
	if (bytes > max)
		return bn_fail(e, EMSGSIZE, "probe", "probe of %u bytes > wire %u's largest frame (%u bytes)", bytes,
			       w->path[w->tx_path].cfg.wire_id, max);
	__atomic_store_n(&pr->left, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&pr->in_flight_ns, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&pr->n, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&pr->lost, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&pr->bytes, bytes, __ATOMIC_RELEASE);
	__atomic_store_n(&pr->left, count, __ATOMIC_RELEASE);
	return 0;
}

int bn_engine__wire_probe_result(struct bn_engine *eng, uint32_t port_id, uint32_t *rtt_ns, uint32_t max,
				 struct bn_probe_state *st, struct bn_error *e)
{
	struct bn_udp_wire *w = wire_of(eng, port_id, "probe_result", e);
	if (!w)
		return -e->err;
	const struct bn_wire_probe *pr = &w->probe;
	st->n = __atomic_load_n(&pr->n, __ATOMIC_ACQUIRE);
	st->left = __atomic_load_n(&pr->left, __ATOMIC_RELAXED);
	st->lost = __atomic_load_n(&pr->lost, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < st->n && i < max; i++)
		rtt_ns[i] = pr->rtt_ns[i];
	return 0;
}

/* ---- observation ------------------------------------------------------------------ */

struct audit_ctx {
	const struct bn_pool *pool;
	uint8_t *seen;
	struct bn_frame_audit *a;
};

static void audit_visit(void *arg, uint64_t addr, int where)
{
	struct audit_ctx *c = arg;
	if (addr >= c->pool->area_len) {
		c->a->foreign++;
		return;
	}
	uint32_t idx = bn_pool__index(c->pool, addr);
	if (c->seen[idx]++)
		c->a->duplicated++;
	c->a->placed[where]++;
}

static int pause_workers(struct bn_engine *eng, int on, struct bn_error *e)
{
	if (!eng->running)
		return 0;
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++) {
		__atomic_store_n(&eng->workers[w].pause_req, (uint32_t)on, __ATOMIC_RELEASE);
		bn_worker__wake(&eng->workers[w]);
	}
	if (!on)
		return 0;
	uint64_t deadline = bn_now_ns() + BN_PAUSE_TIMEOUT_NS;
	const struct timespec nap = {0, 50 * 1000};
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++)
		while (!__atomic_load_n(&eng->workers[w].paused, __ATOMIC_ACQUIRE)) {
			if (bn_now_ns() > deadline) {
				pause_workers(eng, 0, e);
				return bn_fail(e, ETIMEDOUT, "audit", "worker %u did not pause within 2 s", w);
			}
			nanosleep(&nap, NULL);
		}
	return 0;
}

int bn_engine__audit(struct bn_engine *eng, struct bn_frame_audit *per_worker, struct bn_error *e)
{
	int rc = pause_workers(eng, 1, e);
	if (rc < 0)
		return rc;
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++) {
		struct bn_worker *wk = &eng->workers[w];
		struct bn_frame_audit *a = &per_worker[w];
		memset(a, 0, sizeof(*a));
		a->total = wk->pool.n_frames;
		uint8_t *seen = calloc(wk->pool.n_frames, 1);
		if (!seen) {
			pause_workers(eng, 0, e);
			return bn_fail(e, ENOMEM, "audit", "out of memory");
		}
		struct audit_ctx c = {.pool = &wk->pool, .seen = seen, .a = a};
		for (uint32_t i = 0; i < wk->pool.n_free; i++)
			audit_visit(&c, wk->pool.free[i], BN_IN_FREE);
		struct bn_spsc *ret = &wk->pool.returned;
		for (uint32_t i = ret->tail; i != __atomic_load_n(&ret->head, __ATOMIC_ACQUIRE); i++)
			audit_visit(&c, *(uint64_t *)bn_spsc__slot(ret, i), BN_IN_RETURNED);
		for (uint32_t s = 0; s < BN_MAX_PORTS; s++) {
			struct bn_port *p = eng->ports[s];
			if (p && p->wire && p->wire->hold_worker == (int32_t)w)
				for (uint32_t i = 0; i < p->wire->n_held; i++)
					audit_visit(&c, p->wire->held[i].addr, BN_IN_HELD);
			if (p && p->wire && p->wire->txq_worker == (int32_t)w)
				for (uint32_t i = 0; i < p->wire->txq_n; i++)
					audit_visit(&c, p->wire->txq[i].addr, BN_IN_HELD);
			for (uint32_t i = 0; p && i < p->n_queues; i++)
				if (p->queues[i]->worker == w) {
					struct bn_queue *q = p->queues[i];
					q->ops->for_each_frame(q, audit_visit, &c);
					a->kernel_tx += q->ops->kernel_held(q);
				}
		}
		for (uint32_t i = 0; i < wk->pool.n_frames; i++)
			if (!seen[i])
				a->missing++;
		free(seen);
	}
	return pause_workers(eng, 0, e);
}

uint32_t bn_engine__fdb_dump(struct bn_engine *eng, struct bn_fdb_entry *out, uint32_t max)
{
	return bn_fdb__dump(&eng->fdb, bn_now_ns(), out, max);
}

int bn_engine__set_domain(struct bn_engine *eng, uint32_t port_id, uint32_t domain, struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p)
		return bn_fail(e, ENOENT, "set_domain", "no port with id %u (already removed?)", port_id);
	if (domain > BN_MAX_DOMAIN)
		return bn_fail(e, EINVAL, "set_domain", "domain must be 0-%d, got %u", BN_MAX_DOMAIN, domain);
	if (is_underlay(p))
		return bn_fail(e, EINVAL, "set_domain", "%s is an underlay port: it carries wires, not frames of a domain",
			       p->cfg.ifname);
	p->cfg.domain = (uint16_t)domain;
	/* A failed publish may have reached some workers: keep the new domain (as add_port keeps
	 * its port) so the configuration never disagrees with a table a worker uses. */
	int rc = publish(eng, e);
	bn_fdb__flush(&eng->fdb, port_id & 0xff);
	if (rc < 0)
		return rc;
	return 0;
}

int bn_engine__set_receive_only(struct bn_engine *eng, uint32_t port_id, int on, struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p)
		return bn_fail(e, ENOENT, "receive_only", "no port with id %u (already removed?)", port_id);
	p->cfg.receive_only = on;
	int rc = publish(eng, e);
	/* What was learned on it must not draw frames to it any more. */
	if (on)
		bn_fdb__flush(&eng->fdb, port_id & 0xff);
	return rc;
}

int bn_engine__fdb_learn(struct bn_engine *eng, uint32_t port_id, const uint8_t mac[6], struct bn_error *e)
{
	struct bn_port *p = port_by_id(eng, port_id);
	if (!p)
		return bn_fail(e, ENOENT, "fdb_learn", "no port with id %u (already removed?)", port_id);
	/* The table is lock-free for the workers' learners; this thread is one more learner. */
	if (bn_fdb__learn(&eng->fdb, bn_fdb_key(mac, p->cfg.domain), port_id, bn_now_ns()) < 0)
		return bn_fail(e, ENOSPC, "fdb_learn", "the MAC table is full");
	return 0;
}

void bn_engine__fdb_flush(struct bn_engine *eng, uint32_t port_id)
{
	bn_fdb__flush(&eng->fdb, port_id == UINT32_MAX ? UINT32_MAX : (port_id & 0xff));
}

int bn_engine__next_event(struct bn_engine *eng, struct bn_event *ev)
{
	for (uint32_t w = 0; w < eng->cfg.n_workers; w++) {
		struct bn_spsc *r = &eng->workers[w].events;
		if (bn_spsc__avail(r)) {
			*ev = *(struct bn_event *)bn_spsc__slot(r, r->tail);
			bn_spsc__consume(r, 1);
			return 1;
		}
	}
	return 0;
}
