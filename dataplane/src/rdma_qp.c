/* The rdma carrier: an RC queue pair as a queue of the switch (see rdma_qp.h). */
#include "rdma_qp.h"
#include "port.h"
#include "counters.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <infiniband/verbs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NO_FRAME UINT64_MAX
#define CREDIT_EVERY_DIV 16          /* report posted receives every rq_depth/16 buffers */

struct bn_rdma_queue {
	struct bn_queue q;           /* first: the engine sees only this */
	/* hot */
	struct ibv_qp *qp;
	struct ibv_cq *scq, *rcq;
	uint8_t *area;
	uint32_t lkey;
	uint32_t max_inline;
	uint32_t rq_mask, sq_mask;
	uint64_t rq_head, rq_tail;   /* receives posted / completed */
	uint64_t sq_head, sq_tail;   /* send work requests posted / known complete */
	uint64_t *rq_addr, *sq_addr;
	struct bn_pkt *backlog;      /* frames waiting for credit, sent in order */
	uint32_t bl_mask;
	uint64_t bl_head, bl_tail;
	uint64_t sends;              /* SENDs posted: each used one of the peer's receive buffers */
	uint64_t recv_total;         /* receive buffers ever posted */
	uint64_t reported;           /* ...as last written to the peer */
	uint64_t *credit;            /* [0]: the peer's posted total (written by its NIC); [1..]: write sources */
	uint32_t credit_lkey;
	uint32_t credit_rkey;        /* the peer's */
	uint64_t credit_raddr;
	int wc_error;                /* first failed completion status */
	int wait_peer;               /* write nothing until the peer has written its credits */
	/* cold */
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *pool_mr, *credit_mr;
	uint32_t port_num;
	int gid_index;
	uint32_t psn;
	enum ibv_mtu mtu;
	uint32_t max_msg;            /* our receive buffers */
	uint32_t peer_max_msg;
};

static inline struct bn_rdma_queue *rq_of(struct bn_queue *q)
{
	return (struct bn_rdma_queue *)q;
}

/* ---- hot path ---------------------------------------------------------------- */

static uint64_t peer_posted(const struct bn_rdma_queue *r)
{
	/* The peer's NIC writes the cell whenever it likes: read until two reads agree, so a
	 * write landing mid-read never shows a torn (larger) total. */
	uint64_t a, b = __atomic_load_n(&r->credit[0], __ATOMIC_ACQUIRE);
	do {
		a = b;
		b = __atomic_load_n(&r->credit[0], __ATOMIC_ACQUIRE);
	} while (a != b);
	return a;
}

static void note_error(struct bn_rdma_queue *r, enum ibv_wc_status status)
{
	if (!r->wc_error)
		r->wc_error = (int)status;
	bn_count(r->q.counters, BN_PC_rdma_wc_errors, 1);
}

/* Completions of signalled sends: everything up to a signalled request is done (RC sends
 * complete in order), so its frames go back to the pool. */
static void reap_sends(struct bn_rdma_queue *r)
{
	struct ibv_wc wc[BN_BURST];
	int n;
	while ((n = ibv_poll_cq(r->scq, BN_BURST, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			if (bn_unlikely(wc[i].status != IBV_WC_SUCCESS))
				note_error(r, wc[i].status);
			uint64_t upto = wc[i].wr_id + 1;
			while (r->sq_tail < upto) {
				uint64_t a = r->sq_addr[r->sq_tail & r->sq_mask];
				if (a != NO_FRAME)
					bn_pool__free(r->q.pool, a);
				r->sq_tail++;
			}
		}
	}
}

static uint32_t rdma_rx_burst(struct bn_queue *q, struct bn_pkt *pkts, uint32_t max)
{
	struct bn_rdma_queue *r = rq_of(q);
	struct ibv_wc wc[BN_BURST];
	int n = ibv_poll_cq(r->rcq, (int)(max < BN_BURST ? max : BN_BURST), wc);
	uint32_t k = 0;
	for (int i = 0; i < n; i++) {
		r->rq_tail++;
		if (bn_unlikely(wc[i].status != IBV_WC_SUCCESS)) {
			note_error(r, wc[i].status);
			bn_pool__free(q->pool, wc[i].wr_id);
			continue;
		}
		pkts[k].addr = wc[i].wr_id;
		pkts[k].len = wc[i].byte_len;
		k++;
	}
	return k;
}

/* Posts pkts[0..k) as linked SENDs (k <= send_room()); returns how many were posted. */
static uint32_t post_sends(struct bn_rdma_queue *r, const struct bn_pkt *pkts, uint32_t k)
{
	struct ibv_send_wr wr[BN_BURST];
	struct ibv_sge sge[BN_BURST];
	for (uint32_t i = 0; i < k; i++) {
		uint64_t idx = r->sq_head + i;
		int inl = pkts[i].len <= r->max_inline;
		sge[i] = (struct ibv_sge){.addr = (uintptr_t)(r->area + pkts[i].addr), .length = pkts[i].len, .lkey = r->lkey};
		wr[i] = (struct ibv_send_wr){
			.wr_id = idx, .sg_list = &sge[i], .num_sge = 1, .opcode = IBV_WR_SEND, .next = &wr[i + 1],
			.send_flags = (inl ? IBV_SEND_INLINE : 0) |
				      ((idx % BN_RDMA_SIGNAL_EVERY == BN_RDMA_SIGNAL_EVERY - 1 || i == k - 1) ? IBV_SEND_SIGNALED : 0),
		};
		r->sq_addr[idx & r->sq_mask] = inl ? NO_FRAME : pkts[i].addr;
	}
	wr[k - 1].next = NULL;
	struct ibv_send_wr *bad = NULL;
	uint32_t posted = k;
	int rc = ibv_post_send(r->qp, wr, &bad);
	if (bn_unlikely(rc)) {
		posted = bad ? (uint32_t)(bad - wr) : 0;
		r->q.tx_errno = rc;
	}
	/* Inline data was copied when posted: those frames are free already. */
	for (uint32_t i = 0; i < posted; i++)
		if (pkts[i].len <= r->max_inline)
			bn_pool__free(r->q.pool, pkts[i].addr);
	r->sq_head += posted;
	r->sends += posted;
	return posted;
}

/* SENDs that may be posted now: one per receive buffer the peer has free, and one per free
 * send slot less one, kept for the credit write (or two ends that both ran out of room could
 * each wait for the other's credits forever). */
static uint32_t send_room(struct bn_rdma_queue *r)
{
	uint64_t credits = peer_posted(r) - r->sends;
	uint64_t room = (uint64_t)r->sq_mask - (r->sq_head - r->sq_tail);
	uint64_t m = credits < room ? credits : room;
	return m < BN_BURST ? (uint32_t)m : BN_BURST;
}

/* Frames that waited for credit go out first, in order, as far as credit allows. */
static void flush_backlog(struct bn_rdma_queue *r)
{
	while (r->bl_tail != r->bl_head && !r->q.tx_errno) {
		uint32_t k = send_room(r);
		uint32_t n = 0;
		struct bn_pkt batch[BN_BURST];
		while (n < k && r->bl_tail + n != r->bl_head) {
			batch[n] = r->backlog[(r->bl_tail + n) & r->bl_mask];
			n++;
		}
		if (n == 0)
			return;
		uint32_t posted = post_sends(r, batch, n);
		r->bl_tail += posted;
		if (posted < n)
			return;
	}
}

/* A receiver that falls behind (its worker descheduled) must not cost frames: what credit does
 * not cover yet waits in the backlog, behind what waits already; only a full backlog refuses. */
static uint32_t rdma_tx_burst(struct bn_queue *q, const struct bn_pkt *pkts, uint32_t n)
{
	struct bn_rdma_queue *r = rq_of(q);
	reap_sends(r);
	flush_backlog(r);
	uint32_t taken = 0;
	if (r->bl_tail == r->bl_head) {
		uint32_t room = send_room(r);
		uint32_t k = n < room ? n : room;
		if (k) {
			taken = post_sends(r, pkts, k);
			if (taken < k)
				return taken;   /* the post failed (tx_errno): the rest is dropped */
		}
	}
	uint32_t direct = taken;
	while (taken < n && r->bl_head - r->bl_tail <= r->bl_mask)
		r->backlog[r->bl_head++ & r->bl_mask] = pkts[taken++];
	if (taken > direct)
		bn_count(q->counters, BN_PC_rdma_credit_waits, taken - direct);
	if (taken < n)
		bn_count(q->counters, BN_PC_rdma_no_credit, n - taken);
	return taken;
}

static void refill(struct bn_rdma_queue *r)
{
	struct bn_queue *q = &r->q;
	uint64_t want = (uint64_t)r->rq_mask + 1 - (r->rq_head - r->rq_tail);
	while (want) {
		struct ibv_recv_wr wr[BN_BURST];
		struct ibv_sge sge[BN_BURST];
		uint32_t k = 0;
		uint64_t base;
		while (k < BN_BURST && k < want && q->pool->n_free > q->fill_reserve && bn_pool__alloc(q->pool, &base)) {
			uint64_t addr = base + BN_RDMA_HEADROOM;
			sge[k] = (struct ibv_sge){.addr = (uintptr_t)(r->area + addr), .length = r->max_msg, .lkey = r->lkey};
			wr[k] = (struct ibv_recv_wr){.wr_id = addr, .sg_list = &sge[k], .num_sge = 1, .next = &wr[k + 1]};
			r->rq_addr[(r->rq_head + k) & r->rq_mask] = addr;
			k++;
		}
		if (k == 0) {
			bn_count(q->counters, BN_PC_fill_empty, 1);
			return;
		}
		wr[k - 1].next = NULL;
		struct ibv_recv_wr *bad = NULL;
		uint32_t posted = k;
		if (bn_unlikely(ibv_post_recv(r->qp, wr, &bad))) {
			posted = bad ? (uint32_t)(bad - wr) : 0;
			for (uint32_t i = posted; i < k; i++)
				bn_pool__free(q->pool, wr[i].wr_id);
			q->tx_errno = EIO;
		}
		r->rq_head += posted;
		r->recv_total += posted;
		bn_count(q->counters, BN_PC_rdma_recv_posted, posted);
		if (posted < k)
			return;
		want -= k;
	}
}

/* Tells the peer how many receive buffers are posted, once enough were added that its view
 * could run short. */
static void report_credits(struct bn_rdma_queue *r)
{
	/* The end that connected first stays quiet until the peer, connected after it, has
	 * written: before that the peer's queue pair may not accept anything yet, and what we
	 * sent would use up the transport's retries and fail ours. */
	if (r->wait_peer) {
		if (peer_posted(r) == 0)
			return;
		r->wait_peer = 0;
	}
	uint64_t unreported = r->recv_total - r->reported;
	if (unreported == 0 || (r->reported && unreported < (r->rq_mask + 1) / CREDIT_EVERY_DIV))
		return;
	if (r->sq_head - r->sq_tail > r->sq_mask)
		return;   /* no slot: the next service tries again */
	uint64_t idx = r->sq_head;
	uint64_t *src = &r->credit[1 + (idx & r->sq_mask)];
	*src = r->recv_total;
	struct ibv_sge sge = {.addr = (uintptr_t)src, .length = sizeof(*src), .lkey = r->credit_lkey};
	struct ibv_send_wr wr = {
		.wr_id = idx, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = {.remote_addr = r->credit_raddr, .rkey = r->credit_rkey},
	};
	struct ibv_send_wr *bad = NULL;
	if (bn_unlikely(ibv_post_send(r->qp, &wr, &bad))) {
		r->q.tx_errno = EIO;
		return;
	}
	r->sq_addr[idx & r->sq_mask] = NO_FRAME;
	r->sq_head++;
	r->reported = r->recv_total;
	bn_count(r->q.counters, BN_PC_rdma_credit_writes, 1);
}

static void rdma_service(struct bn_queue *q)
{
	struct bn_rdma_queue *r = rq_of(q);
	reap_sends(r);
	refill(r);
	report_credits(r);
	flush_backlog(r);
}

static int rdma_housekeep(struct bn_queue *q)
{
	struct bn_rdma_queue *r = rq_of(q);
	if (r->wc_error)
		return -EIO;
	return q->tx_errno ? -q->tx_errno : 0;
}

static int rdma_drain(struct bn_queue *q, uint64_t timeout_ns)
{
	struct bn_rdma_queue *r = rq_of(q);
	uint64_t deadline = bn_now_ns() + timeout_ns;
	const struct timespec pause = {0, 20 * 1000};
	for (;;) {
		reap_sends(r);
		flush_backlog(r);
		if (r->sq_tail == r->sq_head && r->bl_tail == r->bl_head)
			return 0;
		/* A backlog that no credit will move (the peer is gone or silent) is not waited for:
		 * its frames go back to the pool when the queue closes. */
		int stuck = r->sq_tail == r->sq_head && send_room(r) == 0;
		if (r->wc_error || r->q.tx_errno || stuck || bn_now_ns() >= deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
}

static uint32_t rdma_kernel_held(struct bn_queue *q)
{
	(void)q;
	return 0;   /* frames the device still owns stay in the send ring and are visited there */
}

static int rdma_wait_fd(struct bn_queue *q)
{
	(void)q;
	return -1;  /* no completion channel: an idle backoff sleep is bounded by its maximum instead */
}

static void rdma_for_each_frame(struct bn_queue *q, void (*visit)(void *ctx, uint64_t addr, int where), void *ctx)
{
	struct bn_rdma_queue *r = rq_of(q);
	for (uint64_t i = r->rq_tail; i != r->rq_head; i++)
		visit(ctx, r->rq_addr[i & r->rq_mask], BN_IN_FILL);
	for (uint64_t i = r->sq_tail; i != r->sq_head; i++)
		if (r->sq_addr[i & r->sq_mask] != NO_FRAME)
			visit(ctx, r->sq_addr[i & r->sq_mask], BN_IN_TX);
	for (uint64_t i = r->bl_tail; i != r->bl_head; i++)
		visit(ctx, r->backlog[i & r->bl_mask].addr, BN_IN_TX);
}

static const struct bn_queue_ops bn_rdma_queue_ops = {
	.rx_burst = rdma_rx_burst,
	.tx_burst = rdma_tx_burst,
	.service = rdma_service,
	.housekeep = rdma_housekeep,
	.drain = rdma_drain,
	.kernel_held = rdma_kernel_held,
	.wait_fd = rdma_wait_fd,
	.for_each_frame = rdma_for_each_frame,
};

/* ---- control plane (JS thread) ------------------------------------------------- */

static uint32_t mtu_bytes(enum ibv_mtu m)
{
	return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128u << m : 0;
}

static int no_devices(struct bn_error *e)
{
	int err = errno ? errno : ENODEV;
	return bn_fail(e, err, "rdma_devices",
		       "cannot list RDMA devices (%s): this kernel has no RDMA support or no RDMA module is loaded "
		       "(real NICs: mlx5_ib etc.; Soft-RoCE: modprobe rdma_rxe && rdma link add rxe0 type rxe netdev IF)",
		       strerror(err));
}

static int query_gids(struct ibv_context *ctx, uint32_t port, uint32_t tbl_len, struct bn_rdma_port_info *pi)
{
	for (uint32_t i = 0; i < tbl_len && pi->n_gids < BN_RDMA_MAX_GIDS; i++) {
		struct ibv_gid_entry g;
		if (ibv_query_gid_ex(ctx, port, i, &g, 0))
			continue;   /* an empty slot */
		struct bn_rdma_gid *o = &pi->gids[pi->n_gids++];
		o->index = i;
		memcpy(o->gid, g.gid.raw, 16);
		o->type = g.gid_type == IBV_GID_TYPE_ROCE_V2 ? 1 : 0;
	}
	return 0;
}

/* The largest inline send a queue pair of this device accepts (a probe: devices only say it
 * when asked for one). */
static uint32_t probe_inline(struct ibv_context *ctx)
{
	uint32_t got = 0;
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = pd ? ibv_create_cq(ctx, 4, NULL, NULL, 0) : NULL;
	static const uint32_t tries[] = {512, 256, 128, 64, 0};
	for (size_t i = 0; cq && i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct ibv_qp_init_attr a = {
			.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
			.cap = {.max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1, .max_inline_data = tries[i]},
		};
		struct ibv_qp *qp = ibv_create_qp(pd, &a);
		if (qp) {
			got = a.cap.max_inline_data;
			ibv_destroy_qp(qp);
			break;
		}
	}
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	return got;
}

int bn_rdma__devices(struct bn_rdma_device_info *out, uint32_t max, uint32_t *n, struct bn_error *e)
{
	int num = 0;
	errno = 0;
	struct ibv_device **list = ibv_get_device_list(&num);
	if (!list)
		return no_devices(e);
	*n = 0;
	for (int d = 0; d < num && *n < max; d++) {
		struct ibv_context *ctx = ibv_open_device(list[d]);
		if (!ctx)
			continue;
		struct ibv_device_attr da;
		struct bn_rdma_device_info *o = &out[*n];
		memset(o, 0, sizeof(*o));
		if (ibv_query_device(ctx, &da) == 0) {
			snprintf(o->name, sizeof(o->name), "%s", ibv_get_device_name(list[d]));
			o->node_guid = be64toh(da.node_guid);
			o->max_qp_wr = (uint32_t)da.max_qp_wr;
			o->max_sge = (uint32_t)da.max_sge;
			o->max_cqe = (uint32_t)da.max_cqe;
			o->max_inline = probe_inline(ctx);
			for (uint32_t p = 1; p <= da.phys_port_cnt && o->n_ports < 2; p++) {
				struct ibv_port_attr pa;
				if (ibv_query_port(ctx, (uint8_t)p, &pa))
					continue;
				struct bn_rdma_port_info *pi = &o->ports[o->n_ports++];
				pi->num = p;
				pi->state = pa.state;
				pi->active_mtu = mtu_bytes(pa.active_mtu);
				pi->link_layer = pa.link_layer == IBV_LINK_LAYER_ETHERNET ? 2 : 1;
				query_gids(ctx, p, (uint32_t)pa.gid_tbl_len, pi);
			}
			(*n)++;
		}
		ibv_close_device(ctx);
	}
	ibv_free_device_list(list);
	return 0;
}

static int pick_gid(struct ibv_context *ctx, uint32_t port, int32_t want, const char *dev, union ibv_gid *gid,
		    struct bn_error *e)
{
	struct ibv_port_attr pa;
	if (ibv_query_port(ctx, (uint8_t)port, &pa))
		return bn_fail(e, errno, "rdma_query_port", "%s has no port %u", dev, port);
	if (pa.state != IBV_PORT_ACTIVE)
		return bn_fail(e, ENETDOWN, "rdma_query_port", "%s port %u is not active (state %d)", dev, port, pa.state);
	if (want >= 0) {
		if (ibv_query_gid(ctx, (uint8_t)port, want, gid))
			return bn_fail(e, errno ? errno : EINVAL, "rdma_query_gid", "%s port %u has no GID %d", dev, port, want);
		return want;
	}
	int first = -1, v2 = -1;
	for (int i = 0; i < pa.gid_tbl_len && i < 256; i++) {
		struct ibv_gid_entry g;
		if (ibv_query_gid_ex(ctx, port, (uint32_t)i, &g, 0))
			continue;
		if (first < 0)
			first = i;
		/* RoCE v2 over an IPv4 address routes like the udp wire; prefer it. */
		static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (g.gid_type == IBV_GID_TYPE_ROCE_V2 && !memcmp(g.gid.raw, v4mapped, 12)) {
			v2 = i;
			break;
		}
	}
	int idx = v2 >= 0 ? v2 : first;
	if (idx < 0)
		return bn_fail(e, EADDRNOTAVAIL, "rdma_query_gid", "%s port %u has no GID (no address on its netdev?)", dev, port);
	if (ibv_query_gid(ctx, (uint8_t)port, idx, gid))
		return bn_fail(e, errno, "rdma_query_gid", "%s port %u GID %d", dev, port, idx);
	return idx;
}

static struct ibv_context *open_by_name(const char *name, struct bn_error *e)
{
	int num = 0;
	errno = 0;
	struct ibv_device **list = ibv_get_device_list(&num);
	if (!list) {
		no_devices(e);
		return NULL;
	}
	struct ibv_context *ctx = NULL;
	int found = 0;
	for (int d = 0; d < num && !found; d++)
		if (!strcmp(ibv_get_device_name(list[d]), name)) {
			found = 1;
			if (!(ctx = ibv_open_device(list[d])))
				bn_fail(e, errno ? errno : EIO, "rdma_open", "cannot open RDMA device %s", name);
		}
	ibv_free_device_list(list);
	if (!found)
		bn_fail(e, ENODEV, "rdma_open", "no RDMA device named %s (%d devices here)", name, num);
	return ctx;
}

static int pow2(uint32_t v)
{
	return v >= 64 && !(v & (v - 1));
}

int bn_rdma_queue__open(struct bn_queue **out, struct bn_pool *pool,
			const struct bn_rdma_config *cfg, struct bn_rdma_endpoint *local, struct bn_error *e)
{
	int rc;
	if (!pow2(cfg->rq_depth) || !pow2(cfg->sq_depth))
		return bn_fail(e, EINVAL, "rdma_open", "rqDepth and sqDepth must be powers of two >= 64, got %u and %u",
			       cfg->rq_depth, cfg->sq_depth);
	struct bn_rdma_queue *r = aligned_alloc(BN_CACHELINE, sizeof(*r));
	if (!r)
		return bn_fail(e, ENOMEM, "rdma_open", "out of memory");
	memset(r, 0, sizeof(*r));
	r->rq_addr = calloc(cfg->rq_depth, sizeof(uint64_t));
	r->sq_addr = calloc(cfg->sq_depth, sizeof(uint64_t));
	r->backlog = calloc(cfg->sq_depth, sizeof(struct bn_pkt));
	r->bl_mask = cfg->sq_depth - 1;
	size_t credit_len = ((1 + cfg->sq_depth) * sizeof(uint64_t) + 4095) & ~(size_t)4095;
	r->credit = aligned_alloc(4096, credit_len);
	if (!r->rq_addr || !r->sq_addr || !r->backlog || !r->credit) {
		rc = bn_fail(e, ENOMEM, "rdma_open", "out of memory");
		goto err_mem;
	}
	memset(r->credit, 0, credit_len);
	r->rq_mask = cfg->rq_depth - 1;
	r->sq_mask = cfg->sq_depth - 1;
	r->port_num = cfg->port_num ? cfg->port_num : 1;
	r->area = pool->area;
	r->max_msg = pool->frame_size - BN_RDMA_HEADROOM;

	if (!(r->ctx = open_by_name(cfg->device, e))) {
		rc = -e->err;
		goto err_mem;
	}
	union ibv_gid gid;
	if ((rc = pick_gid(r->ctx, r->port_num, cfg->gid_index, cfg->device, &gid, e)) < 0)
		goto err_ctx;
	r->gid_index = rc;
	struct ibv_port_attr pa;
	ibv_query_port(r->ctx, (uint8_t)r->port_num, &pa);
	r->mtu = pa.active_mtu;
	if (!(r->pd = ibv_alloc_pd(r->ctx))) {
		rc = bn_fail(e, errno ? errno : ENOMEM, "rdma_alloc_pd", "%s: protection domain", cfg->device);
		goto err_ctx;
	}
	if (!(r->pool_mr = ibv_reg_mr(r->pd, pool->area, pool->area_len, IBV_ACCESS_LOCAL_WRITE))) {
		rc = bn_fail(e, errno ? errno : ENOMEM, "rdma_reg_mr",
			     "%s: registering the worker's %llu-byte frame pool (memlock limit? ulimit -l unlimited)",
			     cfg->device, (unsigned long long)pool->area_len);
		goto err_pd;
	}
	if (!(r->credit_mr = ibv_reg_mr(r->pd, r->credit, credit_len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE))) {
		rc = bn_fail(e, errno ? errno : ENOMEM, "rdma_reg_mr", "%s: registering the credit cell", cfg->device);
		goto err_pool_mr;
	}
	if (!(r->scq = ibv_create_cq(r->ctx, (int)cfg->sq_depth, NULL, NULL, 0)) ||
	    !(r->rcq = ibv_create_cq(r->ctx, (int)cfg->rq_depth, NULL, NULL, 0))) {
		rc = bn_fail(e, errno ? errno : ENOMEM, "rdma_create_cq", "%s: completion queues of %u and %u entries",
			     cfg->device, cfg->sq_depth, cfg->rq_depth);
		goto err_cq;
	}
	static const uint32_t inline_tries[] = {256, 128, 64, 0};
	for (size_t i = 0; i < sizeof(inline_tries) / sizeof(inline_tries[0]) && !r->qp; i++) {
		struct ibv_qp_init_attr a = {
			.send_cq = r->scq, .recv_cq = r->rcq, .qp_type = IBV_QPT_RC,
			.cap = {.max_send_wr = cfg->sq_depth, .max_recv_wr = cfg->rq_depth, .max_send_sge = 1,
				.max_recv_sge = 1, .max_inline_data = inline_tries[i]},
		};
		if ((r->qp = ibv_create_qp(r->pd, &a)))
			r->max_inline = a.cap.max_inline_data;
	}
	if (!r->qp) {
		rc = bn_fail(e, errno ? errno : ENOMEM, "rdma_create_qp", "%s: RC queue pair with %u send and %u receive requests",
			     cfg->device, cfg->sq_depth, cfg->rq_depth);
		goto err_cq;
	}
	struct ibv_qp_attr init = {
		.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = (uint8_t)r->port_num,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE,
	};
	if ((rc = ibv_modify_qp(r->qp, &init, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))) {
		rc = bn_fail(e, rc, "rdma_qp_init", "%s: queue pair %u to INIT", cfg->device, r->qp->qp_num);
		goto err_qp;
	}
	if (getrandom(&r->psn, sizeof(r->psn), 0) != sizeof(r->psn))
		r->psn = (uint32_t)bn_now_ns();
	r->psn &= 0xffffff;
	r->lkey = r->pool_mr->lkey;
	r->credit_lkey = r->credit_mr->lkey;
	r->q.ops = &bn_rdma_queue_ops;
	r->q.pool = pool;
	r->q.fill_reserve = 4 * BN_BURST;
	r->q.underlay = BN_UNDERLAY_RDMA;
	r->q.xsk.fd = -1;
	*local = (struct bn_rdma_endpoint){
		.qpn = r->qp->qp_num, .psn = r->psn, .credit_addr = (uintptr_t)r->credit,
		.credit_rkey = r->credit_mr->rkey, .mtu = r->mtu, .max_msg = r->max_msg, .gid_index = r->gid_index,
		.lid = pa.lid,
	};
	memcpy(local->gid, gid.raw, 16);
	*out = &r->q;
	return 0;

err_qp:
	ibv_destroy_qp(r->qp);
err_cq:
	if (r->rcq)
		ibv_destroy_cq(r->rcq);
	if (r->scq)
		ibv_destroy_cq(r->scq);
	ibv_dereg_mr(r->credit_mr);
err_pool_mr:
	ibv_dereg_mr(r->pool_mr);
err_pd:
	ibv_dealloc_pd(r->pd);
err_ctx:
	ibv_close_device(r->ctx);
err_mem:
	free(r->credit);
	free(r->backlog);
	free(r->sq_addr);
	free(r->rq_addr);
	free(r);
	return rc;
}

int bn_rdma_queue__connect(struct bn_queue *q, const struct bn_rdma_endpoint *remote, int wait_for_peer,
			   struct bn_error *e)
{
	struct bn_rdma_queue *r = rq_of(q);
	r->wait_peer = wait_for_peer;
	static const uint8_t zero[16];
	struct ibv_qp_attr rtr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = remote->mtu && remote->mtu < (uint32_t)r->mtu ? (enum ibv_mtu)remote->mtu : r->mtu,
		.dest_qp_num = remote->qpn,
		.rq_psn = remote->psn & 0xffffff,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.dlid = (uint16_t)remote->lid,
			.port_num = (uint8_t)r->port_num,
			.is_global = memcmp(remote->gid, zero, 16) != 0,
			.grh = {.sgid_index = (uint8_t)r->gid_index, .hop_limit = 64},
		},
	};
	memcpy(rtr.ah_attr.grh.dgid.raw, remote->gid, 16);
	int rc = ibv_modify_qp(r->qp, &rtr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	if (rc)
		return bn_fail(e, rc, "rdma_qp_rtr", "queue pair %u to RTR (peer QPN %u, path MTU %u): %s", r->qp->qp_num,
			       remote->qpn, mtu_bytes(rtr.path_mtu), strerror(rc));
	/* Credits keep receive buffers posted ahead of every SEND, so an RNR is a bug: retry
	 * it forever rather than break the queue pair. Transport retries are finite: timeout 18
	 * (1.07 s, as UCX uses), 6 retries (7 means forever to some providers, rxe among them):
	 * a dead peer fails the queue pair in about 7.5 s and the controller fails the wire over,
	 * while a peer stalled for a second or two (a busy host, an emulated one) does not. The
	 * keepalives report the wire down long before. */
	struct ibv_qp_attr rts = {
		.qp_state = IBV_QPS_RTS, .timeout = 18, .retry_cnt = 6, .rnr_retry = 7,
		.sq_psn = r->psn, .max_rd_atomic = 1,
	};
	rc = ibv_modify_qp(r->qp, &rts, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
	if (rc)
		return bn_fail(e, rc, "rdma_qp_rts", "queue pair %u to RTS: %s", r->qp->qp_num, strerror(rc));
	r->credit_raddr = remote->credit_addr;
	r->credit_rkey = remote->credit_rkey;
	r->peer_max_msg = remote->max_msg;
	return 0;
}

uint32_t bn_rdma_queue__max_msg(const struct bn_queue *q)
{
	const struct bn_rdma_queue *r = (const struct bn_rdma_queue *)q;
	return r->peer_max_msg && r->peer_max_msg < r->max_msg ? r->peer_max_msg : r->max_msg;
}

void bn_rdma_queue__close(struct bn_queue *q)
{
	struct bn_rdma_queue *r = rq_of(q);
	struct ibv_qp_attr err = {.qp_state = IBV_QPS_ERR};
	ibv_modify_qp(r->qp, &err, IBV_QP_STATE);
	/* With the queue pair gone the device no longer touches the pool: every frame posted to
	 * it goes back to the worker. */
	ibv_destroy_qp(r->qp);
	for (uint64_t i = r->rq_tail; i != r->rq_head; i++)
		bn_pool__give_back(q->pool, r->rq_addr[i & r->rq_mask]);
	for (uint64_t i = r->sq_tail; i != r->sq_head; i++)
		if (r->sq_addr[i & r->sq_mask] != NO_FRAME)
			bn_pool__give_back(q->pool, r->sq_addr[i & r->sq_mask]);
	for (uint64_t i = r->bl_tail; i != r->bl_head; i++)
		bn_pool__give_back(q->pool, r->backlog[i & r->bl_mask].addr);
	ibv_destroy_cq(r->rcq);
	ibv_destroy_cq(r->scq);
	ibv_dereg_mr(r->credit_mr);
	ibv_dereg_mr(r->pool_mr);
	ibv_dealloc_pd(r->pd);
	ibv_close_device(r->ctx);
	free(r->credit);
	free(r->backlog);
	free(r->sq_addr);
	free(r->rq_addr);
	free(r);
}
