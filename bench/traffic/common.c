/* banana-traffic: frame encoding, namespaces, sockets, signals, time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "traffic.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* ---- frames ------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  v = htobe32(v);
  memcpy(p, &v, sizeof v);
}

static void put_be64(uint8_t *p, uint64_t v) {
  v = htobe64(v);
  memcpy(p, &v, sizeof v);
}

static uint32_t get_be32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return be32toh(v);
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return be64toh(v);
}

void bt_frame_build(uint8_t *buf, uint32_t size, const uint8_t dst[6],
                    const uint8_t src[6], uint32_t flow, uint64_t seq,
                    uint64_t ts_ns) {
  memset(buf, 0, size);
  memcpy(buf, dst, 6);
  memcpy(buf + 6, src, 6);
  buf[12] = (uint8_t)(BT_ETHERTYPE >> 8);
  buf[13] = (uint8_t)(BT_ETHERTYPE & 0xff);
  put_be32(buf + BT_OFF_MAGIC, BT_MAGIC);
  put_be32(buf + BT_OFF_FLOW, flow);
  bt_frame_patch(buf, seq, ts_ns);
}

void bt_frame_patch(uint8_t *buf, uint64_t seq, uint64_t ts_ns) {
  put_be64(buf + BT_OFF_SEQ, seq);
  put_be64(buf + BT_OFF_TS, ts_ns);
}

bool bt_frame_parse(const uint8_t *buf, size_t len, struct bt_frame_info *out) {
  if (len < BT_HDR_LEN) return false;
  if (buf[12] != (uint8_t)(BT_ETHERTYPE >> 8) ||
      buf[13] != (uint8_t)(BT_ETHERTYPE & 0xff))
    return false;
  if (get_be32(buf + BT_OFF_MAGIC) != BT_MAGIC) return false;
  out->flow = get_be32(buf + BT_OFF_FLOW);
  out->seq = get_be64(buf + BT_OFF_SEQ);
  out->ts_ns = get_be64(buf + BT_OFF_TS);
  return true;
}

/* ---- errors / time ------------------------------------------------------ */

uint64_t bt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bt_die(const char *fmt, ...) {
  va_list ap;
  fputs("banana-traffic: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(BT_EXIT_RUNTIME);
}

void bt_die_errno(const char *what) {
  bt_die("%s: %s", what, strerror(errno));
}

/* ---- namespaces / interfaces / sockets ------------------------------------ */

void bt_enter_netns(const struct bt_opts *o) {
  if (!o->netns) return;
  char path[256];
  int n = snprintf(path, sizeof path, "/run/netns/%s", o->netns);
  if (n < 0 || (size_t)n >= sizeof path)
    bt_die("network namespace name '%s' is too long", o->netns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    bt_die("cannot open network namespace '%s' (%s): %s", o->netns, path,
           strerror(errno));
  if (setns(fd, CLONE_NEWNET) < 0)
    bt_die("setns into network namespace '%s' failed: %s", o->netns,
           strerror(errno));
  close(fd);
}

int bt_ifindex(const struct bt_opts *o) {
  unsigned idx = if_nametoindex(o->ifname);
  if (idx == 0) {
    if (o->netns)
      bt_die("interface '%s' not found in network namespace '%s'", o->ifname,
             o->netns);
    bt_die("interface '%s' not found in the current network namespace",
           o->ifname);
  }
  return (int)idx;
}

void bt_check_size(const struct bt_opts *o) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", o->ifname);
  int mtu = -1;
  if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
  close(fd);
  if (mtu > 0 && o->size > (uint32_t)mtu + BT_ETH_HLEN)
    bt_die("--size %u exceeds interface '%s' MTU %d (largest frame %d)",
           (unsigned)o->size, o->ifname, mtu, mtu + (int)BT_ETH_HLEN);
}

void bt_bind_packet(int fd, uint16_t proto, int ifindex, const struct bt_opts *o) {
  /* proto 0: transmit only; nothing is queued for reception. */
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(proto);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
    bt_die("bind to interface '%s': %s", o->ifname, strerror(errno));
}

int bt_packet_socket(uint16_t proto, bool qdisc_bypass) {
  /* Created with protocol 0 so nothing is queued before bind() narrows the
   * socket to one interface; bind() then sets the real protocol. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) bt_die_errno("socket(AF_PACKET, SOCK_RAW)");
  int one = 1;
  if (proto != 0 &&
      setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
    bt_die_errno("setsockopt(PACKET_IGNORE_OUTGOING)");
  if (qdisc_bypass &&
      setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0)
    bt_die_errno("setsockopt(PACKET_QDISC_BYPASS)");
  int buf = 4 << 20;
  /* Best effort: FORCE variants need CAP_NET_ADMIN, fall back silently. */
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (proto != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  return fd;
}

/* ---- signals ------------------------------------------------------------ */

static volatile sig_atomic_t g_stop;
static sigset_t g_stop_set;
static sigset_t g_wait_mask; /* mask used while sleeping: stop signals open */

static void on_stop_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

void bt_signals_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigemptyset(&g_stop_set);
  sigaddset(&g_stop_set, SIGINT);
  sigaddset(&g_stop_set, SIGTERM);
  sigset_t old;
  sigprocmask(SIG_BLOCK, &g_stop_set, &old);
  g_wait_mask = old;
  sigdelset(&g_wait_mask, SIGINT);
  sigdelset(&g_wait_mask, SIGTERM);
}

bool bt_stop_requested(void) {
  if (g_stop) return true;
  struct timespec zero = {0, 0};
  if (sigtimedwait(&g_stop_set, NULL, &zero) > 0) g_stop = 1;
  return g_stop != 0;
}

static struct timespec until(uint64_t deadline_ns, bool *forever) {
  struct timespec ts = {0, 0};
  *forever = deadline_ns == 0;
  if (*forever) return ts;
  uint64_t now = bt_now_ns();
  uint64_t d = deadline_ns > now ? deadline_ns - now : 0;
  ts.tv_sec = (time_t)(d / 1000000000ull);
  ts.tv_nsec = (long)(d % 1000000000ull);
  return ts;
}

int bt_wait_fd(int fd, short events, uint64_t deadline_ns) {
  if (g_stop) return 0;
  bool forever;
  struct timespec ts = until(deadline_ns, &forever);
  struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
  int r = ppoll(&pfd, 1, forever ? NULL : &ts, &g_wait_mask);
  if (r < 0) {
    if (errno == EINTR) return 0;
    bt_die_errno("ppoll");
  }
  if (r > 0 && (pfd.revents & (POLLERR | POLLNVAL)) && !(pfd.revents & events))
    return 1; /* let the caller's next syscall report the error */
  return r;
}

void bt_sleep_until(uint64_t deadline_ns) {
  if (g_stop || deadline_ns == 0) return;
  bool forever;
  struct timespec ts = until(deadline_ns, &forever);
  if (ts.tv_sec == 0 && ts.tv_nsec == 0) return;
  if (ppoll(NULL, 0, &ts, &g_wait_mask) < 0 && errno != EINTR)
    bt_die_errno("ppoll");
}
