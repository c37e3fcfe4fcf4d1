/* banana-traffic rtt: one frame in flight, wait for its reflection. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "traffic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void send_one(const struct bt_opts *o, int fd, const uint8_t *frame) {
  for (;;) {
    ssize_t r = send(fd, frame, o->size, 0);
    if (r >= 0) return;
    if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
      if (bt_stop_requested()) return;
      sched_yield();
      continue;
    }
    if (errno == ENETDOWN) bt_die("interface '%s' is down", o->ifname);
    bt_die("send on '%s': %s", o->ifname, strerror(errno));
  }
}

/* Wait for the reflection of seq; returns its RTT in ns or UINT64_MAX. */
static uint64_t await_reply(const struct bt_opts *o, int fd, uint64_t seq,
                            uint64_t deadline) {
  uint8_t buf[256];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    uint64_t now = bt_now_ns();
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        bt_die("recv on '%s': %s", o->ifname, strerror(errno));
      if (now >= deadline || bt_stop_requested()) return UINT64_MAX;
      if (!o->busy_poll) bt_wait_fd(fd, POLLIN, deadline);
      continue;
    }
    struct bt_frame_info fi;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf;
    if (!bt_frame_parse(buf, len, &fi) || fi.flow != o->flow || fi.seq != seq)
      continue; /* foreign, or a late reply to an earlier probe */
    return now > fi.ts_ns ? now - fi.ts_ns : 0;
  }
}

int bt_cmd_rtt(const struct bt_opts *o) {
  bt_enter_netns(o);
  int ifindex = bt_ifindex(o);
  bt_check_size(o);
  int fd = bt_packet_socket(BT_ETHERTYPE, o->qdisc_bypass);
  bt_bind_packet(fd, BT_ETHERTYPE, ifindex, o);

  uint8_t *frame = calloc(1, o->size);
  struct bt_hist *h = malloc(sizeof *h);
  if (!frame || !h) bt_die("out of memory");
  bt_frame_build(frame, o->size, o->dst_mac, o->src_mac, o->flow, 0, 0);
  bt_hist_init(h);
  bt_signals_init();

  uint64_t sent = 0, received = 0;
  const uint64_t total = o->warmup + o->count;
  for (uint64_t i = 0; i < total && !bt_stop_requested(); i++) {
    uint64_t seq = o->start_seq + i;
    uint64_t ts = bt_now_ns();
    bt_frame_patch(frame, seq, ts);
    send_one(o, fd, frame);
    bool measured = i >= o->warmup;
    if (measured) sent++;
    uint64_t rtt = await_reply(o, fd, seq, ts + o->timeout_ms * 1000000ull);
    if (rtt == UINT64_MAX && measured && bt_stop_requested()) {
      sent--; /* interrupted probe: neither received nor lost */
      break;
    }
    if (rtt != UINT64_MAX && measured) {
      received++;
      bt_hist_add(h, rtt);
    }
    if (o->interval_us) bt_sleep_until(ts + o->interval_us * 1000ull);
  }

  printf("{\"mode\":\"rtt\",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
         ",\"lost\":%" PRIu64 ",\"rttNs\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
         ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64
         ",\"min\":%" PRIu64 "},\"hist\":",
         sent, received, sent - received, bt_hist_quantile(h, 0.50),
         bt_hist_quantile(h, 0.90), bt_hist_quantile(h, 0.99),
         bt_hist_quantile(h, 0.999), h->count ? h->max : 0,
         h->count ? h->min : 0);
  bt_hist_print_json(h, stdout);
  fputs("}\n", stdout);
  fflush(stdout);
  close(fd);
  free(frame);
  free(h);
  return 0;
}
