/* banana-traffic recv (TPACKET_V3 ring) and reflect (TPACKET_V2 ring). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "traffic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* reflect uses TPACKET_V2: it wakes per frame, so a ping-pong is not delayed
 * by V3's block retire timeout. */
#define RING_BLOCK_SIZE (1u << 20)

struct ring {
  uint8_t *map;
  size_t len;
  uint32_t frame_size;
  uint32_t frame_nr;
  uint32_t head;
};

static void ring_setup(int fd, struct ring *r, uint32_t frame_size,
                       uint32_t frames_wanted) {
  int v = TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
    bt_die_errno("setsockopt(PACKET_VERSION, TPACKET_V2)");
  uint32_t per_block = RING_BLOCK_SIZE / frame_size;
  uint32_t blocks = (frames_wanted + per_block - 1) / per_block;
  for (;;) {
    struct tpacket_req req = {
        .tp_block_size = RING_BLOCK_SIZE,
        .tp_block_nr = blocks,
        .tp_frame_size = frame_size,
        .tp_frame_nr = blocks * per_block,
    };
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) == 0) break;
    if (errno != ENOMEM || blocks <= 1) bt_die_errno("setsockopt(PACKET_RX_RING)");
    blocks /= 2;
  }
  r->frame_size = frame_size;
  r->frame_nr = blocks * per_block;
  r->len = (size_t)blocks * RING_BLOCK_SIZE;
  r->head = 0;
  r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                fd, 0);
  if (r->map == MAP_FAILED) bt_die_errno("mmap(PACKET_RX_RING)");
}

static struct tpacket2_hdr *ring_frame(const struct ring *r, uint32_t i) {
  return (struct tpacket2_hdr *)(void *)(r->map + (size_t)i * r->frame_size);
}

/* Returns the head frame if user space owns it, else NULL. */
static struct tpacket2_hdr *ring_peek(const struct ring *r, uint32_t i) {
  struct tpacket2_hdr *h = ring_frame(r, i);
  uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
  return (st & TP_STATUS_USER) ? h : NULL;
}

static void ring_release(struct tpacket2_hdr *h) {
  __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

static uint32_t ring_next(const struct ring *r, uint32_t i) {
  return i + 1 == r->frame_nr ? 0 : i + 1;
}

static int open_bound(const struct bt_opts *o, uint16_t proto,
                      struct ring *r, uint32_t frame_size, uint32_t frames) {
  int ifindex = bt_ifindex(o);
  int fd = bt_packet_socket(proto, o->qdisc_bypass);
  ring_setup(fd, r, frame_size, frames);
  bt_bind_packet(fd, proto, ifindex, o);
  return fd;
}

static uint64_t ring_drops(int fd) {
  struct tpacket_stats st;
  socklen_t len = sizeof st;
  memset(&st, 0, sizeof st);
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return 0;
  return st.tp_drops;
}

static uint64_t min_nonzero(uint64_t a, uint64_t b) {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/* ---- recv ------------------------------------------------------------- */

/* recv uses TPACKET_V3: the kernel fills whole blocks and wakes us once per
 * block (or after RECV_BLOCK_TOV_MS), so a fast sender does not pay for a
 * wake-up per frame. Latency is therefore computed from the kernel's
 * per-frame receive timestamp (CLOCK_REALTIME, converted to CLOCK_MONOTONIC
 * with an offset re-measured every block), not from when we read the block. */
#define RECV_BLOCK_SIZE (1u << 19)
#define RECV_BLOCK_NR 64u
#define RECV_BLOCK_TOV_MS 1u
#define RECV_SNAPLEN 128u /* socket filter truncates copies to this */

struct ring3 {
  uint8_t *map;
  size_t len;
  uint32_t block_nr;
  uint32_t head;
};

static void ring3_setup(int fd, struct ring3 *r) {
  int v = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
    bt_die_errno("setsockopt(PACKET_VERSION, TPACKET_V3)");
  /* cBPF "accept, but copy at most RECV_SNAPLEN bytes": we only parse the
   * first 38 bytes, tp_len still reports the full frame length. */
  struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, RECV_SNAPLEN}};
  struct sock_fprog prog = {.len = 1, .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
    bt_die_errno("setsockopt(SO_ATTACH_FILTER)");
  uint32_t blocks = RECV_BLOCK_NR;
  for (;;) {
    struct tpacket_req3 req = {
        .tp_block_size = RECV_BLOCK_SIZE,
        .tp_block_nr = blocks,
        .tp_frame_size = 2048, /* unused by V3 beyond sanity checks */
        .tp_frame_nr = blocks * (RECV_BLOCK_SIZE / 2048),
        .tp_retire_blk_tov = RECV_BLOCK_TOV_MS,
        .tp_sizeof_priv = 0,
        .tp_feature_req_word = 0,
    };
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) == 0) break;
    if (errno != ENOMEM || blocks <= 2) bt_die_errno("setsockopt(PACKET_RX_RING)");
    blocks /= 2;
  }
  r->block_nr = blocks;
  r->len = (size_t)blocks * RECV_BLOCK_SIZE;
  r->head = 0;
  r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                fd, 0);
  if (r->map == MAP_FAILED) bt_die_errno("mmap(PACKET_RX_RING)");
}

static struct tpacket_block_desc *ring3_peek(const struct ring3 *r) {
  struct tpacket_block_desc *b =
      (struct tpacket_block_desc *)(void *)(r->map + (size_t)r->head * RECV_BLOCK_SIZE);
  uint32_t st = __atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
  return (st & TP_STATUS_USER) ? b : NULL;
}

static void ring3_release(struct ring3 *r, struct tpacket_block_desc *b) {
  __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  r->head = r->head + 1 == r->block_nr ? 0 : r->head + 1;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, in ns. */
static int64_t realtime_offset(void) {
  struct timespec m1, rt, m2;
  clock_gettime(CLOCK_MONOTONIC, &m1);
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &m2);
  int64_t a = (int64_t)m1.tv_sec * 1000000000 + m1.tv_nsec;
  int64_t b = (int64_t)m2.tv_sec * 1000000000 + m2.tv_nsec;
  int64_t r = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
  return r - (a + (b - a) / 2);
}

struct recv_state {
  struct bt_seqtrack seqs;
  struct bt_hist *lat;
  uint64_t received, foreign;
  uint64_t first_ns, last_ns, expect_reached_ns;
};

static void recv_frame(const struct bt_opts *o, struct recv_state *st,
                       const struct tpacket3_hdr *h, int64_t rt_off) {
  const uint8_t *data = (const uint8_t *)h + h->tp_mac;
  struct bt_frame_info fi;
  if (!bt_frame_parse(data, h->tp_snaplen, &fi) || fi.flow != o->flow) {
    st->foreign++;
    return;
  }
  if (bt_seq_add(&st->seqs, fi.seq) == BT_SEQ_OUT_OF_RANGE) {
    st->foreign++;
    return;
  }
  uint64_t rx;
  if (h->tp_sec || h->tp_nsec)
    rx = (uint64_t)((int64_t)h->tp_sec * 1000000000 + h->tp_nsec - rt_off);
  else
    rx = bt_now_ns();
  st->received++;
  if (!st->first_ns) st->first_ns = rx;
  st->last_ns = rx;
  bt_hist_add(st->lat, rx > fi.ts_ns ? rx - fi.ts_ns : 0);
  if (o->have_expect && !st->expect_reached_ns && st->seqs.unique >= o->expect)
    st->expect_reached_ns = bt_now_ns();
}

static void recv_block(const struct bt_opts *o, struct recv_state *st,
                       struct ring3 *r, struct tpacket_block_desc *b) {
  int64_t rt_off = realtime_offset();
  uint32_t n = b->hdr.bh1.num_pkts;
  const uint8_t *p = (const uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
  for (uint32_t i = 0; i < n; i++) {
    const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)(const void *)p;
    recv_frame(o, st, h, rt_off);
    p += h->tp_next_offset;
  }
  ring3_release(r, b);
}

int bt_cmd_recv(const struct bt_opts *o) {
  bt_enter_netns(o);
  int ifindex = bt_ifindex(o);
  int fd = bt_packet_socket(ETH_P_ALL, false);
  struct ring3 r;
  ring3_setup(fd, &r);
  bt_bind_packet(fd, ETH_P_ALL, ifindex, o);
  bt_signals_init();
  fputs("ready\n", stderr);
  fflush(stderr);

  struct recv_state st;
  memset(&st, 0, sizeof st);
  bt_seq_init(&st.seqs);
  st.lat = malloc(sizeof *st.lat);
  if (!st.lat) bt_die("out of memory");
  bt_hist_init(st.lat);
  const uint64_t t_start = bt_now_ns();
  const uint64_t end_ns = o->have_duration ? t_start + o->duration_ms * 1000000ull : 0;
  const uint64_t idle_ns = o->idle_ms * 1000000ull;
  const uint64_t linger_ns = o->linger_ms * 1000000ull;

  for (;;) {
    struct tpacket_block_desc *b = ring3_peek(&r);
    if (b) recv_block(o, &st, &r, b);
    if (bt_stop_requested()) break;
    if (st.expect_reached_ns && !linger_ns) break;
    uint64_t now = bt_now_ns();
    uint64_t deadline = end_ns;
    if (idle_ns && st.last_ns) deadline = min_nonzero(deadline, st.last_ns + idle_ns);
    if (st.expect_reached_ns)
      deadline = min_nonzero(deadline, st.expect_reached_ns + linger_ns);
    if (deadline && now >= deadline) break;
    if (!b) bt_wait_fd(fd, POLLIN, deadline);
  }
  if (!(st.expect_reached_ns && !linger_ns)) {
    /* Frames already queued may sit in a block the kernel has not retired
     * yet (it does so RECV_BLOCK_TOV_MS after the block was opened): give it
     * a few timeouts to do so, so "send then stop" counts everything. */
    const uint64_t drain_end = bt_now_ns() + 4u * RECV_BLOCK_TOV_MS * 1000000ull + 1000000u;
    for (;;) {
      struct tpacket_block_desc *b = ring3_peek(&r);
      if (b) {
        recv_block(o, &st, &r, b);
        continue;
      }
      uint64_t now = bt_now_ns();
      if (now >= drain_end) break;
      struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
      (void)poll(&pfd, 1, (int)((drain_end - now + 999999u) / 1000000u));
    }
  }

  uint64_t drops = ring_drops(fd);
  const struct bt_seqtrack *q = &st.seqs;
  uint64_t lost;
  if (o->have_expect)
    lost = o->expect > q->unique ? o->expect - q->unique : 0;
  else
    lost = q->any ? q->max_seq - q->min_seq + 1 - q->unique : 0;
  uint64_t elapsed = st.last_ns - st.first_ns;
  double pps = elapsed && st.received > 1
                   ? (double)(st.received - 1) * 1e9 / (double)elapsed
                   : 0.0;
  const struct bt_hist *lat = st.lat;
  printf("{\"mode\":\"recv\",\"received\":%" PRIu64 ",\"unique\":%" PRIu64
         ",\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"lost\":%" PRIu64
         ",\"foreign\":%" PRIu64 ",\"firstSeq\":%" PRIu64 ",\"lastSeq\":%" PRIu64
         ",\"elapsedNs\":%" PRIu64 ",\"pps\":%.1f,\"ringDrops\":%" PRIu64
         ",\"latencyNs\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
         ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}}\n",
         st.received, q->unique, q->duplicated, q->reordered, lost, st.foreign,
         q->any ? q->min_seq : 0, q->any ? q->max_seq : 0, elapsed, pps, drops,
         bt_hist_quantile(lat, 0.50), bt_hist_quantile(lat, 0.90),
         bt_hist_quantile(lat, 0.99), bt_hist_quantile(lat, 0.999),
         lat->count ? lat->max : 0);
  fflush(stdout);
  munmap(r.map, r.len);
  close(fd);
  bt_seq_free(&st.seqs);
  free(st.lat);
  return 0;
}

/* ---- reflect -------------------------------------------------------------- */

#define REFLECT_SLOT 2048u

int bt_cmd_reflect(const struct bt_opts *o) {
  bt_enter_netns(o);
  struct ring r;
  int fd = open_bound(o, BT_ETHERTYPE, &r, REFLECT_SLOT, 16u * 1024u);
  bt_signals_init();
  fputs("ready\n", stderr);
  fflush(stderr);

  const uint32_t batch = o->batch;
  struct mmsghdr *msgs = calloc(batch, sizeof *msgs);
  struct iovec *iov = calloc(batch, sizeof *iov);
  struct tpacket2_hdr **taken = calloc(batch, sizeof *taken);
  uint8_t *scratch = NULL; /* for frames longer than a ring slot */
  if (!msgs || !iov || !taken) bt_die("out of memory");
  uint64_t reflected = 0, foreign = 0, retries = 0;

  while (!bt_stop_requested()) {
    uint32_t ntaken = 0, nmsg = 0;
    uint32_t i = r.head;
    struct tpacket2_hdr *h;
    while (ntaken < batch && (h = ring_peek(&r, i)) != NULL) {
      taken[ntaken++] = h;
      i = ring_next(&r, i);
      uint8_t *data = (uint8_t *)h + h->tp_mac;
      struct bt_frame_info fi;
      if (!bt_frame_parse(data, h->tp_snaplen, &fi) ||
          (o->have_flow && fi.flow != o->flow)) {
        foreign++;
        continue;
      }
      uint8_t *out = data;
      if (h->tp_snaplen < h->tp_len) {
        /* truncated by the slot size: rebuild (our frames are zero padded) */
        if (!scratch) {
          scratch = malloc((size_t)batch * BT_MAX_SIZE);
          if (!scratch) bt_die("out of memory");
        }
        out = scratch + (size_t)nmsg * BT_MAX_SIZE;
        uint32_t len = h->tp_len > BT_MAX_SIZE ? BT_MAX_SIZE : h->tp_len;
        memcpy(out, data, h->tp_snaplen);
        memset(out + h->tp_snaplen, 0, len - h->tp_snaplen);
      }
      uint8_t mac[6];
      memcpy(mac, out, 6);
      memcpy(out, out + 6, 6);
      memcpy(out + 6, mac, 6);
      iov[nmsg].iov_base = out;
      iov[nmsg].iov_len = h->tp_len > BT_MAX_SIZE ? BT_MAX_SIZE : h->tp_len;
      memset(&msgs[nmsg].msg_hdr, 0, sizeof msgs[nmsg].msg_hdr);
      msgs[nmsg].msg_hdr.msg_iov = &iov[nmsg];
      msgs[nmsg].msg_hdr.msg_iovlen = 1;
      nmsg++;
    }
    if (ntaken == 0) {
      bt_wait_fd(fd, POLLIN, 0);
      continue;
    }
    uint32_t off = 0;
    while (off < nmsg) {
      int rc = sendmmsg(fd, msgs + off, nmsg - off, 0);
      if (rc > 0) {
        off += (uint32_t)rc;
        continue;
      }
      if (rc < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
        if (errno == ENETDOWN) bt_die("interface '%s' is down", o->ifname);
        bt_die("sendmmsg on '%s': %s", o->ifname, strerror(errno));
      }
      retries++;
      if (bt_stop_requested()) break;
      sched_yield();
    }
    reflected += off;
    for (uint32_t k = 0; k < ntaken; k++) ring_release(taken[k]);
    r.head = i;
  }

  printf("{\"mode\":\"reflect\",\"reflected\":%" PRIu64 ",\"foreign\":%" PRIu64
         ",\"retries\":%" PRIu64 "}\n",
         reflected, foreign, retries);
  fflush(stdout);
  munmap(r.map, r.len);
  close(fd);
  free(msgs);
  free(iov);
  free(taken);
  free(scratch);
  return 0;
}
