/* banana-traffic: command line parsing and dispatch. */
#include "traffic.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL (BT_SEND | BT_RECV | BT_REFLECT | BT_RTT)
#define NO_HAVE ((size_t)-1)
#define OFF(f) offsetof(struct bt_opts, f)

enum kind { K_STR, K_MAC, K_U32, K_U64, K_FLAG, K_BACKEND };

struct optdef {
  const char *name;
  enum kind kind;
  unsigned cmds;
  size_t off;
  size_t have_off;
  uint64_t min, max;
};

static const struct optdef OPTS[] = {
    {"netns", K_STR, ALL, OFF(netns), NO_HAVE, 0, 0},
    {"ifname", K_STR, ALL, OFF(ifname), NO_HAVE, 0, 0},
    {"src-mac", K_MAC, BT_SEND | BT_RTT, OFF(src_mac), OFF(have_src_mac), 0, 0},
    {"dst-mac", K_MAC, BT_SEND | BT_RTT, OFF(dst_mac), OFF(have_dst_mac), 0, 0},
    {"size", K_U32, BT_SEND | BT_RTT, OFF(size), NO_HAVE, BT_MIN_SIZE, BT_MAX_SIZE},
    {"count", K_U64, BT_SEND | BT_RTT, OFF(count), OFF(have_count), 1, UINT64_MAX},
    {"duration-ms", K_U64, BT_SEND | BT_RECV, OFF(duration_ms), OFF(have_duration),
     1, UINT64_MAX / 1000000u},
    {"rate", K_U64, BT_SEND, OFF(rate), NO_HAVE, 0, 1000000000u},
    {"flow", K_U32, ALL, OFF(flow), OFF(have_flow), 0, UINT32_MAX},
    {"batch", K_U32, BT_SEND | BT_REFLECT, OFF(batch), NO_HAVE, 1, 1024},
    {"start-seq", K_U64, BT_SEND | BT_RTT, OFF(start_seq), NO_HAVE, 0, UINT64_MAX},
    {"expect", K_U64, BT_RECV, OFF(expect), OFF(have_expect), 1, UINT64_MAX},
    {"idle-ms", K_U64, BT_RECV, OFF(idle_ms), NO_HAVE, 0, UINT64_MAX / 1000000u},
    {"linger-ms", K_U64, BT_RECV, OFF(linger_ms), NO_HAVE, 0, UINT64_MAX / 1000000u},
    {"warmup", K_U64, BT_RTT, OFF(warmup), NO_HAVE, 0, 1000000000u},
    {"interval-us", K_U64, BT_RTT, OFF(interval_us), NO_HAVE, 0, UINT64_MAX / 1000u},
    {"timeout-ms", K_U64, BT_RTT, OFF(timeout_ms), NO_HAVE, 1, UINT64_MAX / 1000000u},
    {"qdisc-bypass", K_FLAG, BT_SEND | BT_REFLECT | BT_RTT, OFF(qdisc_bypass), NO_HAVE, 0, 0},
    {"busy-poll", K_FLAG, BT_RTT, OFF(busy_poll), NO_HAVE, 0, 0},
    {"backend", K_BACKEND, BT_SEND, 0, NO_HAVE, 0, 0},
};

static const char USAGE[] =
    "usage: banana-traffic <send|recv|reflect|rtt> --ifname IF [options]\n"
    "  all:     --netns NAME\n"
    "  send:    --src-mac MAC --dst-mac MAC [--size 64] [--count N] [--duration-ms D]\n"
    "           [--rate PPS (0 = max)] [--flow F] [--batch 64] [--start-seq 0]\n"
    "           [--qdisc-bypass] [--backend af-packet|xdp-live]\n"
    "  recv:    [--flow 0] [--expect N] [--duration-ms D] [--idle-ms 500]\n"
    "           [--linger-ms 0]\n"
    "  reflect: [--flow F (default: any)] [--batch 64] [--qdisc-bypass]\n"
    "  rtt:     --src-mac MAC --dst-mac MAC [--size 64] [--count 1000] [--warmup 10]\n"
    "           [--interval-us 0] [--timeout-ms 1000] [--flow 0] [--start-seq 0]\n"
    "           [--busy-poll] [--qdisc-bypass]\n"
    "Each command prints one JSON line on stdout. Exit 2 = bad arguments,\n"
    "1 = runtime error (e.g. missing interface or namespace).\n";

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("banana-traffic: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(run 'banana-traffic --help' for usage)\n", stderr);
  exit(BT_EXIT_USAGE);
}

/* Decimal or 0x-prefixed hex, no sign, no trailing junk. */
static bool parse_u64(const char *s, uint64_t *out) {
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (*s == '\0') return false;
  for (const char *p = s; *p; p++) {
    bool ok = base == 10 ? (*p >= '0' && *p <= '9')
                         : ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                            (*p >= 'A' && *p <= 'F'));
    if (!ok) return false;
  }
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, base);
  if (errno == ERANGE || !end || *end != '\0') return false;
  *out = (uint64_t)v;
  return true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool parse_mac(const char *s, uint8_t mac[6]) {
  if (strlen(s) != 17) return false;
  for (int i = 0; i < 6; i++) {
    const char *p = s + i * 3;
    int hi = hexval(p[0]), lo = hexval(p[1]);
    if (hi < 0 || lo < 0) return false;
    if (i < 5 && p[2] != ':' && p[2] != '-') return false;
    mac[i] = (uint8_t)(hi * 16 + lo);
  }
  return true;
}

static void set_opt(struct bt_opts *o, const struct optdef *d, const char *val) {
  char *base = (char *)o;
  switch (d->kind) {
  case K_STR:
    if (*val == '\0') usage_error("empty value for --%s", d->name);
    *(const char **)(void *)(base + d->off) = val;
    break;
  case K_MAC:
    if (!parse_mac(val, (uint8_t *)(base + d->off)))
      usage_error("invalid value '%s' for --%s (expected a MAC like 02:00:00:00:00:01)",
                  val, d->name);
    break;
  case K_U32:
  case K_U64: {
    uint64_t v;
    if (!parse_u64(val, &v) || v < d->min || v > d->max)
      usage_error("invalid value '%s' for --%s (expected an integer in %" PRIu64
                  "..%" PRIu64 ")",
                  val, d->name, d->min, d->max);
    if (d->kind == K_U32)
      *(uint32_t *)(void *)(base + d->off) = (uint32_t)v;
    else
      *(uint64_t *)(void *)(base + d->off) = v;
    break;
  }
  case K_FLAG:
    *(bool *)(void *)(base + d->off) = true;
    break;
  case K_BACKEND:
    if (strcmp(val, "af-packet") == 0)
      o->backend = BT_BACKEND_PACKET;
    else if (strcmp(val, "xdp-live") == 0)
      o->backend = BT_BACKEND_XDP_LIVE;
    else
      usage_error("invalid value '%s' for --backend (expected af-packet or xdp-live)", val);
    break;
  }
  if (d->have_off != NO_HAVE) *(bool *)(void *)(base + d->have_off) = true;
}

static void parse_args(int argc, char **argv, struct bt_opts *o) {
  memset(o, 0, sizeof *o);
  o->size = 64;
  o->batch = 64;
  o->idle_ms = 500;
  o->timeout_ms = 1000;

  const char *cmd = argv[1];
  o->cmd_name = cmd;
  if (strcmp(cmd, "send") == 0) o->cmd = BT_SEND;
  else if (strcmp(cmd, "recv") == 0) o->cmd = BT_RECV;
  else if (strcmp(cmd, "reflect") == 0) o->cmd = BT_REFLECT;
  else if (strcmp(cmd, "rtt") == 0) o->cmd = BT_RTT;
  else usage_error("unknown subcommand '%s' (expected send, recv, reflect or rtt)", cmd);
  if (o->cmd == BT_RTT) {
    o->count = 1000;
    o->warmup = 10;
  }

  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0)
      usage_error("unexpected argument '%s' for '%s'", arg, cmd);
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const struct optdef *d = NULL;
    for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
      if (strlen(OPTS[k].name) == nlen && strncmp(OPTS[k].name, name, nlen) == 0)
        d = &OPTS[k];
    if (!d) usage_error("unknown option '%.*s' for '%s'", (int)nlen + 2, arg, cmd);
    if (!(d->cmds & o->cmd))
      usage_error("option --%s is not valid for '%s'", d->name, cmd);
    const char *val;
    if (d->kind == K_FLAG) {
      if (eq) usage_error("option --%s takes no value (got '%s')", d->name, eq + 1);
      val = "";
    } else if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) usage_error("missing value for --%s", d->name);
      val = argv[++i];
    }
    set_opt(o, d, val);
  }

  if (!o->ifname) usage_error("missing required option --ifname for '%s'", cmd);
  if (strlen(o->ifname) >= 16)
    usage_error("invalid value '%s' for --ifname (longer than 15 characters)", o->ifname);
  if (o->netns && (strchr(o->netns, '/') || strcmp(o->netns, ".") == 0 ||
                   strcmp(o->netns, "..") == 0))
    usage_error("invalid value '%s' for --netns (a name under /run/netns)", o->netns);
  if (o->cmd == BT_SEND || o->cmd == BT_RTT) {
    if (!o->have_src_mac) usage_error("missing required option --src-mac for '%s'", cmd);
    if (!o->have_dst_mac) usage_error("missing required option --dst-mac for '%s'", cmd);
  }
  if (o->cmd == BT_SEND) {
    if (!o->have_count && !o->have_duration)
      usage_error("'send' needs --count and/or --duration-ms");
    if (o->backend == BT_BACKEND_XDP_LIVE && o->rate)
      usage_error("invalid value '%" PRIu64 "' for --rate (--backend xdp-live only sends "
                  "as fast as possible: use --rate 0 or af-packet)", o->rate);
    if (o->backend == BT_BACKEND_XDP_LIVE && o->qdisc_bypass)
      usage_error("--qdisc-bypass is not valid with --backend xdp-live");
    if (o->backend == BT_BACKEND_XDP_LIVE && o->batch > 256)
      usage_error("invalid value '%u' for --batch (xdp-live allows 1..256)", (unsigned)o->batch);
    if (o->have_count && o->count - 1 > UINT64_MAX - o->start_seq)
      usage_error("invalid value '%" PRIu64 "' for --count (--start-seq + --count overflows)",
                  o->count);
  }
  if (o->cmd == BT_RTT && o->warmup + o->count - 1 > UINT64_MAX - o->start_seq)
    usage_error("--start-seq + --warmup + --count overflows");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return BT_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(USAGE, stdout);
    return 0;
  }
  struct bt_opts o;
  parse_args(argc, argv, &o);
  switch (o.cmd) {
  case BT_SEND: return bt_cmd_send(&o);
  case BT_RECV: return bt_cmd_recv(&o);
  case BT_REFLECT: return bt_cmd_reflect(&o);
  case BT_RTT: return bt_cmd_rtt(&o);
  }
  return BT_EXIT_USAGE;
}
