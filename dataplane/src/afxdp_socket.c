#include "afxdp_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

/* The kernel may still be tearing down a previous socket on the same queue. */
#define BN_BIND_BUSY_RETRIES 50
#define BN_BIND_BUSY_SLEEP_NS (10 * 1000 * 1000)

static int map_ring(struct bn_xring *r, int fd, uint32_t size, const struct xdp_ring_offset *off,
		    size_t desc_size, off_t pgoff, struct bn_error *e, const char *name)
{
	size_t len = off->desc + (size_t)size * desc_size;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (map == MAP_FAILED)
		return bn_fail(e, errno, "mmap_ring", "cannot map the %s ring (%u entries): %s", name, size,
			       strerror(errno));
	r->map = map;
	r->map_len = len;
	r->producer = (uint32_t *)((char *)map + off->producer);
	r->consumer = (uint32_t *)((char *)map + off->consumer);
	r->flags = (uint32_t *)((char *)map + off->flags);
	r->descs = (char *)map + off->desc;
	r->size = size;
	r->mask = size - 1;
	r->cached_prod = bn_xring_load(r->producer);
	r->cached_cons = bn_xring_load(r->consumer);
	return 0;
}

static int set_ring_size(int fd, int opt, uint32_t size, struct bn_error *e, const char *name)
{
	int v = (int)size;
	if (setsockopt(fd, SOL_XDP, opt, &v, sizeof(v)) < 0)
		return bn_fail(e, errno, "ring_size", "cannot size the %s ring to %u: %s", name, size,
			       strerror(errno));
	return 0;
}

static int register_umem(int fd, const struct bn_xsk_config *cfg, struct bn_error *e)
{
	struct xdp_umem_reg reg = {
		.addr = (uint64_t)(uintptr_t)cfg->umem_area,
		.len = cfg->umem_len,
		.chunk_size = cfg->frame_size,
		.headroom = 0,
	};
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) == 0)
		return 0;
	int err = errno;
	if (err == ENOBUFS || err == ENOMEM)
		return bn_fail(e, err, "umem_register",
			       "registering %llu KiB of UMEM exceeds the locked-memory limit: raise RLIMIT_MEMLOCK "
			       "(ulimit -l unlimited, LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK",
			       (unsigned long long)(cfg->umem_len / 1024));
	if (err == EPERM)
		return bn_fail(e, err, "umem_register",
			       "registering UMEM needs CAP_NET_RAW and CAP_IPC_LOCK (or a high RLIMIT_MEMLOCK)");
	return bn_fail(e, err, "umem_register", "cannot register %llu bytes of UMEM: %s",
		       (unsigned long long)cfg->umem_len, strerror(err));
}

static int bind_socket(int fd, const struct bn_xsk_config *cfg, uint16_t flags)
{
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)cfg->ifindex,
		.sxdp_queue_id = cfg->queue,
		.sxdp_flags = flags,
	};
	if (flags & XDP_SHARED_UMEM)
		sxdp.sxdp_shared_umem_fd = (uint32_t)cfg->share_fd;
	const struct timespec pause = {0, BN_BIND_BUSY_SLEEP_NS};
	for (int attempt = 0;; attempt++) {
		if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) == 0)
			return 0;
		if (errno != EBUSY || attempt >= BN_BIND_BUSY_RETRIES)
			return -errno;
		nanosleep(&pause, NULL);
	}
}

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

/* Preferred busy polling: the worker's own recvfrom()/sendto() run the device's receive
 * NAPI on the worker's core, instead of softirq on whichever core raised it. */
static int enable_busy_poll(int fd, const struct bn_xsk_config *cfg, struct bn_error *e)
{
	int one = 1, usecs = (int)cfg->busy_poll_usecs, budget = (int)cfg->busy_poll_budget;
	if (setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)) < 0)
		return bn_fail(e, errno, "busy_poll", "cannot enable preferred busy polling (budget %d, %d us): %s%s",
			       budget, usecs, strerror(errno), errno == EPERM ? " (a budget above 8 needs CAP_NET_ADMIN)" : "");
	return 0;
}

int bn_xsk__open(struct bn_xsk *xsk, const struct bn_xsk_config *cfg, struct bn_error *e)
{
	int rc;
	memset(xsk, 0, sizeof(*xsk));
	xsk->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (xsk->fd < 0) {
		int err = errno;
		if (err == EPERM || err == EACCES)
			return bn_fail(e, err, "socket",
				       "creating an AF_XDP socket needs CAP_NET_RAW (run as root or grant it: "
				       "setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock+ep $(which node))");
		return bn_fail(e, err, "socket", "cannot create an AF_XDP socket: %s", strerror(err));
	}
	if (cfg->share_fd < 0 && (rc = register_umem(xsk->fd, cfg, e)) < 0)
		goto err_close;
	if ((rc = set_ring_size(xsk->fd, XDP_UMEM_FILL_RING, cfg->ring_size, e, "fill")) < 0 ||
	    (rc = set_ring_size(xsk->fd, XDP_UMEM_COMPLETION_RING, cfg->ring_size, e, "completion")) < 0 ||
	    (rc = set_ring_size(xsk->fd, XDP_RX_RING, 2 * cfg->ring_size, e, "rx")) < 0 ||
	    (rc = set_ring_size(xsk->fd, XDP_TX_RING, cfg->ring_size, e, "tx")) < 0)
		goto err_close;

	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	if (getsockopt(xsk->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) {
		rc = bn_fail(e, errno, "mmap_offsets", "cannot read ring offsets: %s", strerror(errno));
		goto err_close;
	}
	if ((rc = map_ring(&xsk->fill, xsk->fd, cfg->ring_size, &off.fr, sizeof(uint64_t),
			   XDP_UMEM_PGOFF_FILL_RING, e, "fill")) < 0)
		goto err_close;
	if ((rc = map_ring(&xsk->comp, xsk->fd, cfg->ring_size, &off.cr, sizeof(uint64_t),
			   XDP_UMEM_PGOFF_COMPLETION_RING, e, "completion")) < 0)
		goto err_unmap_fill;
	if ((rc = map_ring(&xsk->rx, xsk->fd, 2 * cfg->ring_size, &off.rx, sizeof(struct xdp_desc),
			   XDP_PGOFF_RX_RING, e, "rx")) < 0)
		goto err_unmap_comp;
	if ((rc = map_ring(&xsk->tx, xsk->fd, cfg->ring_size, &off.tx, sizeof(struct xdp_desc),
			   XDP_PGOFF_TX_RING, e, "tx")) < 0)
		goto err_unmap_rx;

	if (cfg->share_fd >= 0) {
		/* A shared socket inherits copy/zero-copy and need_wakeup from the UMEM owner. */
		rc = bind_socket(xsk->fd, cfg, XDP_SHARED_UMEM);
		xsk->zero_copy = cfg->zero_copy == 1;
	} else if (cfg->zero_copy != 0) {
		rc = bind_socket(xsk->fd, cfg, XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY);
		xsk->zero_copy = 1;
		if (rc == -EOPNOTSUPP && cfg->zero_copy < 0) {
			rc = bind_socket(xsk->fd, cfg, XDP_USE_NEED_WAKEUP | XDP_COPY);
			xsk->zero_copy = 0;
		}
	} else {
		rc = bind_socket(xsk->fd, cfg, XDP_USE_NEED_WAKEUP | XDP_COPY);
	}
	if (rc < 0) {
		if (rc == -EOPNOTSUPP && cfg->zero_copy == 1)
			rc = bn_fail(e, -rc, "bind",
				     "zero-copy AF_XDP is not supported by this driver or XDP mode (use zeroCopy: 'off' or 'auto')");
		else
			rc = bn_fail(e, -rc, "bind", "cannot bind the AF_XDP socket: %s", strerror(-rc));
		goto err_unmap_tx;
	}
	if (cfg->busy_poll_budget && (rc = enable_busy_poll(xsk->fd, cfg, e)) < 0)
		goto err_unmap_tx;
	return 0;

err_unmap_tx:
	munmap(xsk->tx.map, xsk->tx.map_len);
err_unmap_rx:
	munmap(xsk->rx.map, xsk->rx.map_len);
err_unmap_comp:
	munmap(xsk->comp.map, xsk->comp.map_len);
err_unmap_fill:
	munmap(xsk->fill.map, xsk->fill.map_len);
err_close:
	close(xsk->fd);
	xsk->fd = -1;
	return rc;
}

void bn_xsk__close(struct bn_xsk *xsk)
{
	if (xsk->fd >= 0)
		close(xsk->fd);
	xsk->fd = -1;
}

void bn_xsk__unmap(struct bn_xsk *xsk)
{
	struct bn_xring *rings[] = {&xsk->tx, &xsk->rx, &xsk->comp, &xsk->fill};
	for (size_t i = 0; i < sizeof(rings) / sizeof(rings[0]); i++) {
		if (rings[i]->map)
			munmap(rings[i]->map, rings[i]->map_len);
		rings[i]->map = NULL;
	}
}
