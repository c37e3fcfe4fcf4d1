/* banana-traffic: sequence-numbered Ethernet traffic generator / analyser.
 *
 * Shared declarations. See README.md for the frame format and invariants.
 */
#ifndef BANANA_TRAFFIC_H
#define BANANA_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- frame format ------------------------------------------------------ */

#define BT_ETHERTYPE 0x88B5u /* IEEE 802 local experimental EtherType 1 */
#define BT_MAGIC 0x42414E41u /* "BANA" */
#define BT_ETH_HLEN 14u
#define BT_OFF_MAGIC (BT_ETH_HLEN + 0u)
#define BT_OFF_FLOW (BT_ETH_HLEN + 4u)
#define BT_OFF_SEQ (BT_ETH_HLEN + 8u)
#define BT_OFF_TS (BT_ETH_HLEN + 16u)
#define BT_HDR_LEN (BT_ETH_HLEN + 24u) /* bytes we need to parse a frame */
#define BT_MIN_SIZE 60u
#define BT_MAX_SIZE 9000u

struct bt_frame_info {
  uint32_t flow;
  uint64_t seq;
  uint64_t ts_ns;
};

/* Fill buf[0..size) with a complete frame (zero padding included). */
void bt_frame_build(uint8_t *buf, uint32_t size, const uint8_t dst[6],
                    const uint8_t src[6], uint32_t flow, uint64_t seq,
                    uint64_t ts_ns);
/* Patch only the sequence number / timestamp of a pre-built frame. */
void bt_frame_patch(uint8_t *buf, uint64_t seq, uint64_t ts_ns);
/* Returns true when buf holds one of our frames (EtherType + magic). */
bool bt_frame_parse(const uint8_t *buf, size_t len, struct bt_frame_info *out);

/* ---- options ----------------------------------------------------------- */

enum bt_cmd { BT_SEND = 1, BT_RECV = 2, BT_REFLECT = 4, BT_RTT = 8 };
enum bt_backend { BT_BACKEND_PACKET = 0, BT_BACKEND_XDP_LIVE = 1 };

struct bt_opts {
  enum bt_cmd cmd;
  const char *cmd_name;
  const char *netns;
  const char *ifname;
  uint8_t src_mac[6];
  uint8_t dst_mac[6];
  bool have_src_mac, have_dst_mac;
  uint32_t size;
  uint64_t count;
  bool have_count;
  uint64_t duration_ms;
  bool have_duration;
  uint64_t rate;
  uint32_t flow;
  bool have_flow;
  uint32_t batch;
  uint64_t start_seq;
  uint64_t expect;
  bool have_expect;
  uint64_t idle_ms;
  uint64_t linger_ms;
  uint64_t warmup;
  uint64_t interval_us;
  uint64_t timeout_ms;
  bool qdisc_bypass;
  bool busy_poll;
  enum bt_backend backend;
};

/* ---- common helpers (common.c) ------------------------------------------ */

#define BT_EXIT_RUNTIME 1
#define BT_EXIT_USAGE 2

uint64_t bt_now_ns(void);
void bt_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void bt_die_errno(const char *what) __attribute__((noreturn));

/* Enter --netns (if any). Exits with status 1 on failure. */
void bt_enter_netns(const struct bt_opts *o);
/* Resolve the interface index; exits 1 naming interface + namespace. */
int bt_ifindex(const struct bt_opts *o);
/* Exits 1 if --size does not fit the interface MTU. */
void bt_check_size(const struct bt_opts *o);
/* Unbound AF_PACKET SOCK_RAW socket; the caller binds it with proto (host
 * order; 0 = transmit only). Receiving sockets get PACKET_IGNORE_OUTGOING so
 * they never see their own transmissions. */
int bt_packet_socket(uint16_t proto, bool qdisc_bypass);
/* Binds an AF_PACKET socket to one interface and protocol; dies with the interface named. */
void bt_bind_packet(int fd, uint16_t proto, int ifindex, const struct bt_opts *o);

/* Signal handling: SIGINT/SIGTERM are blocked for the whole run and only
 * delivered inside bt_wait_fd()/bt_sleep_until(), which makes "check flag,
 * then sleep" race free. bt_stop_requested() also picks up pending signals
 * so busy loops notice them. */
void bt_signals_init(void);
bool bt_stop_requested(void);
/* Wait until fd is readable/writable (events) or deadline_ns (0 = none).
 * Returns >0 ready, 0 timeout or interrupted by a stop signal. */
int bt_wait_fd(int fd, short events, uint64_t deadline_ns);
void bt_sleep_until(uint64_t deadline_ns);

/* ---- statistics (stats.c) ---------------------------------------------- */

/* Sequence tracker: bitmap over [base, base + 64 * nwords), grown on demand
 * in both directions up to BT_SEQ_MAX_SPAN sequence numbers. */
#define BT_SEQ_MAX_SPAN (1ull << 32)
struct bt_seqtrack {
  uint64_t *words;
  size_t nwords;
  uint64_t base;
  bool any;
  uint64_t min_seq, max_seq;
  uint64_t unique, duplicated, reordered;
};
enum bt_seq_result { BT_SEQ_NEW, BT_SEQ_DUP, BT_SEQ_OUT_OF_RANGE };
void bt_seq_init(struct bt_seqtrack *t);
enum bt_seq_result bt_seq_add(struct bt_seqtrack *t, uint64_t seq);
void bt_seq_free(struct bt_seqtrack *t);

/* Log-linear histogram: exact below 64, then 32 linear sub-buckets per
 * power of two (relative error <= 1/32). */
#define BT_HIST_SUB_BITS 5u
#define BT_HIST_SUB (1u << BT_HIST_SUB_BITS)
#define BT_HIST_BUCKETS ((64u - BT_HIST_SUB_BITS + 1u) * BT_HIST_SUB)
struct bt_hist {
  uint64_t count;
  uint64_t min, max;
  uint64_t buckets[BT_HIST_BUCKETS];
};
void bt_hist_init(struct bt_hist *h);
void bt_hist_add(struct bt_hist *h, uint64_t v);
/* q in [0,1]; returns the upper bound of the bucket holding the q-quantile,
 * clamped to the observed max (0 if empty). */
uint64_t bt_hist_quantile(const struct bt_hist *h, double q);
/* Writes the non-empty buckets to f as a JSON array of [upper_ns, count]
 * pairs in ascending order (upper = the bucket's inclusive upper bound). */
void bt_hist_print_json(const struct bt_hist *h, FILE *f);

/* ---- send backends (send.c, xdp.c) --------------------------------------- */

/* A transmit backend: xmit() sends n frames with seqs seq..seq+n-1 and
 * returns how many went out (fewer only if a stop signal arrived). */
struct bt_tx {
  uint32_t per_call; /* largest n the pacing loop passes to xmit() */
  uint64_t retries;
  uint32_t (*xmit)(struct bt_tx *tx, uint32_t n, uint64_t seq);
  void (*close)(struct bt_tx *tx);
  void *priv;
};
/* BPF_PROG_RUN live-frames backend (exits 1 if the kernel refuses it). */
void bt_xdp_live_open(struct bt_tx *tx, const struct bt_opts *o, int ifindex);

/* ---- subcommands -------------------------------------------------------- */

int bt_cmd_send(const struct bt_opts *o);
int bt_cmd_recv(const struct bt_opts *o);
int bt_cmd_reflect(const struct bt_opts *o);
int bt_cmd_rtt(const struct bt_opts *o);

#endif
