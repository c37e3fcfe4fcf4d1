/* banana-traffic send --backend xdp-live: BPF_PROG_RUN "live frames".
 *
 * The kernel runs a tiny XDP program `repeat` times on copies of one template
 * frame, in process context, and transmits every frame the program returns
 * XDP_TX for out of the "ingress" interface (via its ndo_xdp_xmit). The
 * program stamps each frame with the next sequence number (a counter in a
 * one-slot array map) and bpf_ktime_get_ns() (CLOCK_MONOTONIC), so frames
 * carry per-frame timestamps. Needs kernel >= 5.18 and a device whose
 * ndo_xdp_xmit works (for veth: the peer must have NAPI enabled, i.e. an XDP
 * program attached or GRO turned on). Frames the device fails to transmit
 * are not visible here (see the device's XDP/ethtool counters). No --rate:
 * the kernel loop cannot be paced from user space.
 *
 * The program is assembled here by hand so the build needs no BPF toolchain.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "traffic.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every BPF_PROG_RUN call pays a fixed set-up/tear-down cost (a page pool is
 * created and destroyed; ~30 ms measured on kernel 6.18, mostly waiting), so
 * calls must be big. We size them to last about XDP_LIVE_CALL_NS, which is
 * also the granularity of --duration-ms and of reacting to SIGINT/SIGTERM. */
#define XDP_LIVE_FIRST_CALL 131072u
#define XDP_LIVE_MIN_CALL 16384u
#define XDP_LIVE_MAX_CALL (1u << 24)
#define XDP_LIVE_CALL_NS 200000000ull

struct xdp_tx {
  const struct bt_opts *o;
  int ifindex;
  int map_fd;
  int prog_fd;
  uint8_t *frame;
};

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                            int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

/* Builds the program into p (at least 32 slots); returns the insn count. */
static unsigned build_prog(struct bpf_insn *p, int map_fd) {
  enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
  unsigned n = 0;
  /* r6 = ctx; r2 = data; r3 = data_end; r7 = data */
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, R6, R1, 0, 0);
  p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R2, R6, (int16_t)offsetof(struct xdp_md, data), 0);
  p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R3, R6, (int16_t)offsetof(struct xdp_md, data_end), 0);
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, R7, R2, 0, 0);
  /* if (data + BT_HDR_LEN > data_end) goto drop */
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, R4, R2, 0, 0);
  p[n++] = insn(BPF_ALU64 | BPF_ADD | BPF_K, R4, 0, 0, (int32_t)BT_HDR_LEN);
  unsigned jmp_len = n;
  p[n++] = insn(BPF_JMP | BPF_JGT | BPF_X, R4, R3, 0 /* patched */, 0);
  /* r0 = map_lookup_elem(&counter, &(u32){0}) */
  p[n++] = insn(BPF_ST | BPF_MEM | BPF_W, R10, 0, -4, 0);
  p[n++] = insn(BPF_LD | BPF_DW | BPF_IMM, R1, BPF_PSEUDO_MAP_FD, 0, map_fd);
  p[n++] = insn(0, 0, 0, 0, 0);
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, R2, R10, 0, 0);
  p[n++] = insn(BPF_ALU64 | BPF_ADD | BPF_K, R2, 0, 0, -4);
  p[n++] = insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
  unsigned jmp_null = n;
  p[n++] = insn(BPF_JMP | BPF_JEQ | BPF_K, R0, 0, 0 /* patched */, 0);
  /* r8 = (*r0)++ */
  p[n++] = insn(BPF_LDX | BPF_MEM | BPF_DW, R8, R0, 0, 0);
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, R1, R8, 0, 0);
  p[n++] = insn(BPF_ALU64 | BPF_ADD | BPF_K, R1, 0, 0, 1);
  p[n++] = insn(BPF_STX | BPF_MEM | BPF_DW, R0, R1, 0, 0);
  /* seq and timestamp, big endian, into the frame */
  p[n++] = insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ktime_get_ns);
  p[n++] = insn(BPF_ALU | BPF_END | BPF_TO_BE, R8, 0, 0, 64);
  p[n++] = insn(BPF_STX | BPF_MEM | BPF_DW, R7, R8, (int16_t)BT_OFF_SEQ, 0);
  p[n++] = insn(BPF_ALU | BPF_END | BPF_TO_BE, R0, 0, 0, 64);
  p[n++] = insn(BPF_STX | BPF_MEM | BPF_DW, R7, R0, (int16_t)BT_OFF_TS, 0);
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, XDP_TX);
  p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  unsigned drop = n;
  p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, XDP_DROP);
  p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  p[jmp_len].off = (int16_t)(drop - jmp_len - 1);
  p[jmp_null].off = (int16_t)(drop - jmp_null - 1);
  return n;
}

static void set_counter(struct xdp_tx *x, uint64_t v) {
  uint32_t key = 0;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)x->map_fd;
  a.key = (uint64_t)(uintptr_t)&key;
  a.value = (uint64_t)(uintptr_t)&v;
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) bt_die_errno("xdp-live: BPF_MAP_UPDATE_ELEM");
}

static uint64_t get_counter(struct xdp_tx *x) {
  uint32_t key = 0;
  uint64_t v = 0;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)x->map_fd;
  a.key = (uint64_t)(uintptr_t)&key;
  a.value = (uint64_t)(uintptr_t)&v;
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) bt_die_errno("xdp-live: BPF_MAP_LOOKUP_ELEM");
  return v;
}

static uint32_t xdp_xmit(struct bt_tx *tx, uint32_t n, uint64_t seq) {
  struct xdp_tx *x = tx->priv;
  set_counter(x, seq);
  struct xdp_md ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.data_end = x->o->size;
  ctx.ingress_ifindex = (uint32_t)x->ifindex;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.test.prog_fd = (uint32_t)x->prog_fd;
  a.test.data_in = (uint64_t)(uintptr_t)x->frame;
  a.test.data_size_in = x->o->size;
  a.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
  a.test.ctx_size_in = sizeof ctx;
  a.test.repeat = n;
  a.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  a.test.batch_size = x->o->batch;
  uint64_t t0 = bt_now_ns();
  if (sys_bpf(BPF_PROG_RUN, &a) < 0) {
    if (errno == EINTR || errno == EAGAIN) tx->retries++;
    else if (errno == EINVAL)
      bt_die("xdp-live: BPF_PROG_RUN rejected the run (EINVAL): kernel without live "
             "frames (< 5.18) or --size %u too large for one page", (unsigned)x->o->size);
    else
      bt_die_errno("xdp-live: BPF_PROG_RUN");
  }
  /* the counter tells how many frames the program actually stamped */
  uint64_t done = get_counter(x) - seq;
  if (done > n) done = n;
  /* resize the next call to take about XDP_LIVE_CALL_NS */
  uint64_t dt = bt_now_ns() - t0;
  if (done >= XDP_LIVE_MIN_CALL && dt > 0) {
    double next = (double)done * (double)XDP_LIVE_CALL_NS / (double)dt;
    if (next < XDP_LIVE_MIN_CALL) next = XDP_LIVE_MIN_CALL;
    if (next > XDP_LIVE_MAX_CALL) next = XDP_LIVE_MAX_CALL;
    tx->per_call = (uint32_t)next;
  }
  return (uint32_t)done;
}

static void xdp_close(struct bt_tx *tx) {
  struct xdp_tx *x = tx->priv;
  close(x->prog_fd);
  close(x->map_fd);
  free(x->frame);
  free(x);
}

void bt_xdp_live_open(struct bt_tx *tx, const struct bt_opts *o, int ifindex) {
  struct xdp_tx *x = calloc(1, sizeof *x);
  if (!x) bt_die("out of memory");
  x->o = o;
  x->ifindex = ifindex;
  x->frame = calloc(1, o->size);
  if (!x->frame) bt_die("out of memory");
  bt_frame_build(x->frame, o->size, o->dst_mac, o->src_mac, o->flow, 0, 0);

  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_ARRAY;
  a.key_size = 4;
  a.value_size = 8;
  a.max_entries = 1;
  long fd = sys_bpf(BPF_MAP_CREATE, &a);
  if (fd < 0) bt_die_errno("xdp-live: BPF_MAP_CREATE");
  x->map_fd = (int)fd;

  struct bpf_insn prog[32];
  unsigned len = build_prog(prog, x->map_fd);
  static char log[16384];
  static const char license[] = "GPL";
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = len;
  a.license = (uint64_t)(uintptr_t)license;
  fd = sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) { /* retry with the verifier log for the error message */
    int e = errno;
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = sizeof log;
    a.log_level = 1;
    (void)sys_bpf(BPF_PROG_LOAD, &a);
    bt_die("xdp-live: BPF_PROG_LOAD: %s\n%s", strerror(e), log);
  }
  x->prog_fd = (int)fd;

  tx->per_call = XDP_LIVE_FIRST_CALL;
  tx->priv = x;
  tx->xmit = xdp_xmit;
  tx->close = xdp_close;
}
