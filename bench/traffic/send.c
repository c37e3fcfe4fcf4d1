/* banana-traffic send: pacing loop + the AF_PACKET (sendmmsg) backend. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "traffic.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* When rate limited, wait at most this long to fill a whole batch; beyond it
 * send whatever is due (keeps low rates smooth instead of bursty). */
#define BURST_WINDOW_NS 200000ull

/* ---- AF_PACKET backend ---------------------------------------------------- */

struct packet_tx {
  const struct bt_opts *o;
  int fd;
  size_t stride;
  uint8_t *frames; /* batch pre-built frames; only seq/ts get patched */
  struct iovec *iov;
  struct mmsghdr *msgs;
};

static void die_send_errno(const struct bt_opts *o) {
  int e = errno;
  if (e == ENETDOWN) bt_die("interface '%s' is down", o->ifname);
  if (e == ENXIO || e == ENODEV) bt_die("interface '%s' disappeared", o->ifname);
  bt_die("sendmmsg on '%s': %s", o->ifname, strerror(e));
}

static void stamp(struct packet_tx *p, uint32_t from, uint32_t to, uint64_t seq0) {
  uint64_t ts = bt_now_ns();
  for (uint32_t i = from; i < to; i++)
    bt_frame_patch(p->frames + (size_t)i * p->stride, seq0 + i, ts);
}

static uint32_t packet_xmit(struct bt_tx *tx, uint32_t n, uint64_t seq) {
  struct packet_tx *p = tx->priv;
  stamp(p, 0, n, seq);
  uint32_t off = 0;
  unsigned backoff = 0;
  while (off < n) {
    int r = sendmmsg(p->fd, p->msgs + off, n - off, 0);
    if (r > 0) {
      off += (uint32_t)r;
      backoff = 0;
      continue;
    }
    if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
      die_send_errno(p->o);
    tx->retries++;
    if (bt_stop_requested()) break;
    if (backoff++ < 4)
      sched_yield();
    else
      bt_sleep_until(bt_now_ns() + 20000u);
    stamp(p, off, n, seq); /* latency should exclude our own backoff */
  }
  return off;
}

static void packet_close(struct bt_tx *tx) {
  struct packet_tx *p = tx->priv;
  close(p->fd);
  free(p->frames);
  free(p->iov);
  free(p->msgs);
  free(p);
}

static void packet_open(struct bt_tx *tx, const struct bt_opts *o, int ifindex) {
  struct packet_tx *p = calloc(1, sizeof *p);
  if (!p) bt_die("out of memory");
  p->o = o;
  p->fd = bt_packet_socket(0, o->qdisc_bypass);
  bt_bind_packet(p->fd, 0, ifindex, o);

  const uint32_t batch = o->batch;
  p->stride = (o->size + 63u) & ~(size_t)63u;
  p->frames = aligned_alloc(64, (size_t)batch * p->stride);
  p->iov = calloc(batch, sizeof *p->iov);
  p->msgs = calloc(batch, sizeof *p->msgs);
  if (!p->frames || !p->iov || !p->msgs) bt_die("out of memory");
  for (uint32_t i = 0; i < batch; i++) {
    uint8_t *f = p->frames + (size_t)i * p->stride;
    bt_frame_build(f, o->size, o->dst_mac, o->src_mac, o->flow, 0, 0);
    p->iov[i].iov_base = f;
    p->iov[i].iov_len = o->size;
    p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
    p->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  tx->per_call = batch;
  tx->priv = p;
  tx->xmit = packet_xmit;
  tx->close = packet_close;
}

/* ---- pacing loop ------------------------------------------------------------ */

int bt_cmd_send(const struct bt_opts *o) {
  bt_enter_netns(o);
  int ifindex = bt_ifindex(o);
  bt_check_size(o);
  struct bt_tx tx;
  memset(&tx, 0, sizeof tx);
  if (o->backend == BT_BACKEND_XDP_LIVE)
    bt_xdp_live_open(&tx, o, ifindex);
  else
    packet_open(&tx, o, ifindex);

  bt_signals_init();
  uint64_t seq = o->start_seq, sent = 0;
  const uint64_t t0 = bt_now_ns();
  const uint64_t deadline = o->have_duration ? t0 + o->duration_ms * 1000000ull : 0;
  const double step = o->rate ? 1e9 / (double)o->rate : 0;
  uint64_t t_first = 0, t_last = t0;
  bool slept = false;

  while (!bt_stop_requested()) {
    uint64_t remaining = o->have_count ? o->count - sent : UINT64_MAX;
    if (remaining == 0) break;
    uint64_t now = bt_now_ns();
    if (deadline && now >= deadline) break;
    const uint32_t per_call = tx.per_call; /* a backend may resize it */
    uint32_t n = remaining < per_call ? (uint32_t)remaining : per_call;

    if (o->rate) {
      /* frame k (0-based) is due at t0 + k * step */
      uint64_t t_full = t0 + (uint64_t)((double)(sent + n - 1) * step);
      uint64_t t_next = t0 + (uint64_t)((double)sent * step);
      if (t_full > now) {
        if (!slept || t_next > now) {
          /* sleep until a full batch is due, but no longer than the burst
           * window past the next due frame */
          uint64_t wake = now + BURST_WINDOW_NS;
          if (wake < t_next) wake = t_next;
          if (wake > t_full) wake = t_full;
          if (deadline && wake > deadline) wake = deadline;
          bt_sleep_until(wake);
          slept = true;
          continue;
        }
        /* woke up inside the burst window: send only what is due */
        uint64_t due = (uint64_t)((double)(now - t0) / step) + 1u;
        n = due > sent ? (uint32_t)(due - sent) : 1u;
        if (n > per_call) n = per_call;
      }
    }
    slept = false;

    if (!t_first) t_first = bt_now_ns();
    uint32_t done = tx.xmit(&tx, n, seq);
    sent += done;
    seq += done;
    t_last = bt_now_ns();
    if (done < n) break; /* stopped while retrying */
  }

  uint64_t elapsed = t_first ? t_last - t_first : 0;
  double pps = elapsed ? (double)sent * 1e9 / (double)elapsed : 0.0;
  printf("{\"mode\":\"send\",\"sent\":%" PRIu64 ",\"elapsedNs\":%" PRIu64
         ",\"pps\":%.1f,\"retries\":%" PRIu64 "}\n",
         sent, elapsed, pps, tx.retries);
  fflush(stdout);
  tx.close(&tx);
  return 0;
}
