/* The AF_XDP backend: one XDP program per interface, one socket per queue, all sockets of
 * a worker sharing that worker's frame pool as UMEM. */
#include "port.h"
#include "counters.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* Copy mode transmits at most 32 descriptors per sendto(): kick until the ring drains. */
#define BN_MAX_KICKS 128
/* Empty polls after which an idle queue is busy-polled every this many loops (power of 2). */
#define BN_BUSY_POLL_QUIET 64

/* ---- hot path ---------------------------------------------------------------- */

static void reclaim_completions(struct bn_queue *q)
{
	struct bn_xring *comp = &q->xsk.comp;
	uint32_t n = bn_xring_cons_avail(comp, comp->size);
	if (n == 0)
		return;
	uint32_t idx = comp->cached_cons;
	for (uint32_t i = 0; i < n; i++)
		bn_pool__free(q->pool, *bn_xring_addr(comp, idx + i));
	bn_xring_cons_release(comp, n);
	q->tx_inflight -= n;
}

static void kick_tx(struct bn_queue *q)
{
	q->tx_pending = 0;
	if (!bn_xring_needs_wakeup(&q->xsk.tx))
		return;
	uint32_t before = bn_xring_outstanding(&q->xsk.tx);
	for (int i = 0; i < BN_MAX_KICKS; i++) {
		bn_count(q->counters, BN_PC_tx_wakeups, 1);
		if (sendto(q->xsk.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
			int err = errno;
			if (err == ENXIO || err == ENETDOWN || err == EBADF) {
				q->tx_errno = err;
				return;
			}
		}
		reclaim_completions(q);
		uint32_t left = bn_xring_outstanding(&q->xsk.tx);
		/* Empty: done. No progress (a congested link): try again next poll, not 128 times now. */
		if (left == 0 || left == before)
			return;
		before = left;
	}
}

static uint32_t afxdp_rx_burst(struct bn_queue *q, struct bn_pkt *pkts, uint32_t max)
{
	struct bn_xring *rx = &q->xsk.rx;
	uint32_t n = bn_xring_cons_avail(rx, max);
	if (n == 0) {
		q->quiet_polls++;
		q->rx_backlog = 0;
		return 0;
	}
	q->quiet_polls = 0;
	q->rx_backlog = n == max;
	uint32_t idx = rx->cached_cons;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = bn_xring_desc(rx, idx + i);
		pkts[i].addr = d->addr;
		pkts[i].len = d->len;
	}
	bn_xring_cons_release(rx, n);
	return n;
}

static uint32_t afxdp_tx_burst(struct bn_queue *q, const struct bn_pkt *pkts, uint32_t n)
{
	struct bn_xring *tx = &q->xsk.tx;
	uint32_t room = bn_xring_prod_room(tx, n);
	if (room < n) {
		kick_tx(q);
		room = bn_xring_prod_room(tx, n);
	}
	uint32_t idx = tx->cached_prod;
	for (uint32_t i = 0; i < room; i++) {
		struct xdp_desc *d = bn_xring_desc(tx, idx + i);
		d->addr = pkts[i].addr;
		d->len = pkts[i].len;
		d->options = 0;
	}
	bn_xring_prod_submit(tx, room);
	q->tx_pending += room;
	q->tx_inflight += room;
	return room;
}

static void refill(struct bn_queue *q)
{
	struct bn_xring *fill = &q->xsk.fill;
	struct bn_pool *pool = q->pool;
	if (pool->n_free <= q->fill_reserve) {
		bn_count(q->counters, BN_PC_fill_empty, 1);
		return;
	}
	uint32_t want = pool->n_free - q->fill_reserve;
	uint32_t n = bn_xring_prod_room(fill, want < fill->size ? want : fill->size);
	if (n < BN_BURST && n < want)
		return;   /* wait for a batch worth of room */
	uint32_t idx = fill->cached_prod;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = 0;
		bn_pool__alloc(pool, &addr);
		*bn_xring_addr(fill, idx + i) = addr;
	}
	bn_xring_prod_submit(fill, n);
}

static void afxdp_service(struct bn_queue *q)
{
	if (q->tx_pending)
		kick_tx(q);
	reclaim_completions(q);
	refill(q);
	/* A queue that received nothing for a while is busy-polled only now and then: its frames,
	 * if any arrive, still come in through softirq after gro_flush_timeout, and the next
	 * frame seen brings it back to a poll on every loop. This halves the syscalls of a
	 * one-way flow (the egress queue never receives). A queue whose ring still holds frames
	 * is not polled at all: there is work without asking the kernel for more, and a poll
	 * would pull receive processing onto this core while it is the bottleneck. */
	if (q->busy_poll && !q->rx_backlog &&
	    (q->quiet_polls < BN_BUSY_POLL_QUIET || (q->quiet_polls & (BN_BUSY_POLL_QUIET - 1)) == 0)) {
		bn_count(q->counters, BN_PC_busy_polls, 1);
		recvfrom(q->xsk.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	} else if (bn_unlikely(bn_xring_needs_wakeup(&q->xsk.fill))) {
		bn_count(q->counters, BN_PC_rx_wakeups, 1);
		recvfrom(q->xsk.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static int afxdp_housekeep(struct bn_queue *q)
{
	if (q->tx_errno)
		return -q->tx_errno;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(q->xsk.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
		return -soerr;
	struct xdp_statistics st;
	len = sizeof(st);
	if (getsockopt(q->xsk.fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0) {
		bn_gauge(q->counters, BN_PC_kernel_rx_dropped, st.rx_dropped);
		bn_gauge(q->counters, BN_PC_kernel_rx_ring_full, st.rx_ring_full);
		bn_gauge(q->counters, BN_PC_kernel_fill_ring_empty, st.rx_fill_ring_empty_descs);
		bn_gauge(q->counters, BN_PC_kernel_tx_ring_empty, st.tx_ring_empty_descs);
		bn_gauge(q->counters, BN_PC_kernel_invalid_descs, st.rx_invalid_descs + st.tx_invalid_descs);
	}
	return 0;
}

static int afxdp_drain(struct bn_queue *q, uint64_t timeout_ns)
{
	uint64_t deadline = bn_now_ns() + timeout_ns;
	const struct timespec pause = {0, 50 * 1000};
	for (;;) {
		q->tx_pending = 1;
		kick_tx(q);
		reclaim_completions(q);
		if (q->tx_inflight == 0)
			return 0;
		if (bn_now_ns() > deadline || q->tx_errno)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

static void visit_addrs(struct bn_xring *r, void (*visit)(void *, uint64_t, int), void *ctx, int where)
{
	uint32_t cons = bn_xring_load(r->consumer), prod = bn_xring_load(r->producer);
	for (uint32_t i = cons; i != prod; i++)
		visit(ctx, *bn_xring_addr(r, i), where);
}

static void visit_descs(struct bn_xring *r, void (*visit)(void *, uint64_t, int), void *ctx, int where)
{
	uint32_t cons = bn_xring_load(r->consumer), prod = bn_xring_load(r->producer);
	for (uint32_t i = cons; i != prod; i++)
		visit(ctx, bn_xring_desc(r, i)->addr, where);
}

static void afxdp_for_each_frame(struct bn_queue *q, void (*visit)(void *, uint64_t, int), void *ctx)
{
	visit_addrs(&q->xsk.fill, visit, ctx, BN_IN_FILL);
	visit_descs(&q->xsk.rx, visit, ctx, BN_IN_RX);
	visit_descs(&q->xsk.tx, visit, ctx, BN_IN_TX);
	visit_addrs(&q->xsk.comp, visit, ctx, BN_IN_COMP);
}

static uint32_t afxdp_kernel_held(struct bn_queue *q)
{
	uint32_t visible = bn_xring_outstanding(&q->xsk.tx) + bn_xring_outstanding(&q->xsk.comp);
	return q->tx_inflight > visible ? q->tx_inflight - visible : 0;
}

static int afxdp_wait_fd(struct bn_queue *q)
{
	return q->xsk.fd;
}

const struct bn_queue_ops bn_afxdp_queue_ops = {
	.wait_fd = afxdp_wait_fd,
	.kernel_held = afxdp_kernel_held,
	.rx_burst = afxdp_rx_burst,
	.tx_burst = afxdp_tx_burst,
	.service = afxdp_service,
	.housekeep = afxdp_housekeep,
	.drain = afxdp_drain,
	.for_each_frame = afxdp_for_each_frame,
};

/* ---- control plane (JS thread, inside the port's namespace) --------------------- */

static uint32_t queue_count(const char *ifname)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ch;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	int rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (rc < 0)
		return 1;   /* drivers without channel reporting have one queue */
	uint32_t n = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
	return n ? n : 1;
}

int bn_afxdp_port__resolve(struct bn_port *p, struct bn_error *e)
{
	const char *ns = p->cfg.netns[0] ? p->cfg.netns : "(current)";
	p->ifindex = (int)if_nametoindex(p->cfg.ifname);
	if (p->ifindex == 0)
		return bn_fail(e, ENODEV, "resolve", "interface %s not found in network namespace %s",
			       p->cfg.ifname, ns);
	struct stat st;
	if (stat("/proc/thread-self/ns/net", &st) == 0)
		p->netns_ino = (uint64_t)st.st_ino;
	uint32_t have = queue_count(p->cfg.ifname);
	if (p->cfg.n_queues == 0) {
		if (p->cfg.first_queue >= have)
			return bn_fail(e, EINVAL, "resolve", "queue %u out of range: %s has %u queue(s)",
				       p->cfg.first_queue, p->cfg.ifname, have);
		p->cfg.n_queues = have - p->cfg.first_queue;
	}
	if (p->cfg.first_queue + p->cfg.n_queues > have)
		return bn_fail(e, EINVAL, "resolve", "queue %u out of range: %s has %u queue(s) (0-%u)",
			       p->cfg.first_queue + p->cfg.n_queues - 1, p->cfg.ifname, have, have - 1);
	if (p->cfg.n_queues > BN_MAX_QUEUES)
		return bn_fail(e, EINVAL, "resolve", "%u queues requested on %s; at most %d", p->cfg.n_queues,
			       p->cfg.ifname, BN_MAX_QUEUES);
	return 0;
}

int bn_afxdp_port__attach(struct bn_port *p, const char *bpf_obj, struct bn_error *e)
{
	if (p->cfg.mode == BN_XDP_GENERIC && p->cfg.zero_copy == 1)
		return bn_fail(e, EOPNOTSUPP, "bind",
			       "zero-copy AF_XDP needs native XDP; %s was asked for generic mode", p->cfg.ifname);
	return bn_xdp_prog__attach(&p->prog, bpf_obj, p->ifindex, p->cfg.ifname, p->cfg.mode, p->cfg.underlay_udp_port,
				   p->cfg.xdp_takeover, e);
}

int bn_afxdp_queue__open(struct bn_port *p, struct bn_queue *q, uint32_t queue_id, int share_fd,
			 struct bn_error *e)
{
	int zc = p->prog.mode == BN_XDP_GENERIC ? 0 : p->cfg.zero_copy;
	if (zc == 1 && p->prog.mode == BN_XDP_GENERIC)
		return bn_fail(e, EOPNOTSUPP, "bind", "zero-copy AF_XDP needs native XDP mode");
	struct bn_xsk_config cfg = {
		.ifindex = p->ifindex,
		.queue = queue_id,
		.ring_size = p->cfg.ring_size,
		.umem_area = q->pool->area,
		.umem_len = q->pool->area_len,
		.frame_size = q->pool->frame_size,
		.share_fd = share_fd,
		.zero_copy = zc,
		.busy_poll_budget = p->cfg.busy_poll_budget,
		.busy_poll_usecs = p->cfg.busy_poll_usecs,
	};
	int rc = bn_xsk__open(&q->xsk, &cfg, e);
	if (rc < 0)
		return rc;
	q->ops = &bn_afxdp_queue_ops;
	q->queue_id = queue_id;
	q->busy_poll = p->cfg.busy_poll_budget != 0;
	q->underlay = p->cfg.underlay_udp_port ? BN_UNDERLAY_UDP : 0;
	q->fill_reserve = 4 * BN_BURST;
	if ((rc = bn_xdp_prog__set_socket(&p->prog, queue_id, q->xsk.fd, e)) < 0) {
		bn_xsk__close(&q->xsk);
		bn_xsk__unmap(&q->xsk);
		return rc;
	}
	return 0;
}

struct give_back_ctx {
	struct bn_pool *pool;
	uint8_t *seen;      /* a frame can show in two rings while the kernel's indices lag */
};

static void give_back(void *arg, uint64_t addr, int where)
{
	struct give_back_ctx *c = arg;
	(void)where;
	if (addr >= c->pool->area_len)
		return;
	uint32_t idx = bn_pool__index(c->pool, addr);
	if (c->seen) {
		if (c->seen[idx])
			return;
		c->seen[idx] = 1;
	}
	bn_pool__give_back(c->pool, addr);
}

/* Like drain, but on the JS thread: completions stay in their ring (the pool's free stack
 * belongs to the worker) and are handed back with everything else. */
static void drain_detached(struct bn_queue *q, uint64_t timeout_ns)
{
	uint64_t deadline = bn_now_ns() + timeout_ns;
	const struct timespec pause = {0, 50 * 1000};
	while (bn_now_ns() < deadline) {
		if (bn_xring_outstanding(&q->xsk.tx) != 0)
			sendto(q->xsk.fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
		else if (bn_xring_outstanding(&q->xsk.comp) >= q->tx_inflight)
			return;
		nanosleep(&pause, NULL);
	}
}

void bn_afxdp_queue__close(struct bn_port *p, struct bn_queue *q)
{
	if (q->xsk.fd < 0)
		return;
	drain_detached(q, 100ULL * 1000 * 1000);
	bn_xdp_prog__clear_socket(&p->prog, q->queue_id);
	/* Receive paths that already looked up the socket finish within a softirq. */
	const struct timespec grace = {0, 2 * 1000 * 1000};
	nanosleep(&grace, NULL);
	struct give_back_ctx ctx = {.pool = q->pool, .seen = calloc(q->pool->n_frames, 1)};
	afxdp_for_each_frame(q, give_back, &ctx);
	free(ctx.seen);
	/* The ring mappings hold the socket open: it unbinds at unmap, not at close. */
	bn_xsk__close(&q->xsk);
	bn_xsk__unmap(&q->xsk);
}

void bn_afxdp_port__detach(struct bn_port *p)
{
	bn_xdp_prog__detach(&p->prog);
}
