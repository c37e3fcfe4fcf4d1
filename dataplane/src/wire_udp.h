#ifndef BANANA_WIRE_UDP_H
#define BANANA_WIRE_UDP_H
/* The `udp` wire's encapsulation: an inner Ethernet frame carried in IPv4/UDP over a host's
 * underlay interface, behind a 16-byte Banana header. Encapsulation writes the outer headers
 * into the frame's headroom (no copy); decapsulation moves the frame start past them.
 *
 *   outer Ethernet (14) | IPv4 (20, DF, no options) | UDP (8, checksum 0) | Banana (16) | inner frame
 *
 * Banana header, network byte order:
 *   u8  version   = 1
 *   u8  type      1 data, 2 keepalive, 3 drain marker, 4 echo (a round-trip probe)
 *   u16 flags     drain marker: how many markers the sender sends (one per transmitting
 *                 worker); echo: 0 request, 1 reply; otherwise 0
 *   u32 wire id   agreed by both ends at connect
 *   u64 sequence  per wire and direction, from 0; keepalives carry the next data sequence;
 *                 an echo carries the requester's clock when it sent it, and its reply the same
 *
 * Hot-swap: a wire has up to two paths (wire ids). A new path is prepared on both ends and
 * verified with keepalives; at cutover each sender moves to it and ends the old path with
 * drain markers; each receiver holds the new path's frames until the old path's markers
 * arrived, then delivers them. The sequence continues across paths. */
#include <stdint.h>
#include "bn.h"

#define BN_WIRE_VERSION 1
#define BN_WIRE_DATA 1
#define BN_WIRE_KEEPALIVE 2
#define BN_WIRE_DRAIN 3
#define BN_WIRE_ECHO 4
#define BN_ECHO_REQUEST 0
#define BN_ECHO_REPLY 1
#define BN_WIRE_HDR_LEN 16
#define BN_UDP_ENCAP_LEN (14 + 20 + 8 + BN_WIRE_HDR_LEN)   /* 58 */
#define BN_UDP_OVERHEAD (20 + 8 + BN_WIRE_HDR_LEN)          /* what the underlay MTU must also fit */

struct bn_wire_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t wire_id;
	uint64_t seq;
} __attribute__((packed));

struct bn_udp_wire_config {
	uint32_t wire_id;
	uint32_t underlay_port;      /* port id of the underlay port */
	uint8_t local_mac[6];
	uint8_t next_hop_mac[6];
	uint32_t local_ip;           /* network order */
	uint32_t remote_ip;          /* network order */
	uint16_t local_port;         /* network order; also the source port, so a wire stays on one queue */
	uint16_t remote_port;        /* network order */
	uint32_t underlay_mtu;
	uint32_t keepalive_ms;
	uint16_t domain;             /* switching domain of the wire's port */
	uint16_t rdma;               /* carried by an RDMA queue pair: the Banana header only, no outer
	                              * headers; underlay_mtu is then the largest message (set by the engine) */
};

/* Frames of the new path a receiver holds while the old path drains, at most. */
#define BN_SWAP_HOLD 1024
/* Frames a quiesced wire queues for its peer, at most (and at most a quarter of the pool). */
#define BN_QUIESCE_HOLD 4096
/* A hold whose drain markers never came (lost, or the peer died mid-swap) is delivered after this. */
#define BN_SWAP_MARKER_TIMEOUT_NS (200ULL * 1000 * 1000)

/* One way through the underlay: a wire id and the outer headers that carry it. */
struct bn_udp_path {
	struct bn_udp_wire_config cfg;
	uint8_t outer_template[BN_UDP_ENCAP_LEN];  /* outer headers with lengths, checksum, seq left to fill */
	uint32_t encap_len;                  /* bytes in front of the inner frame: BN_UDP_ENCAP_LEN, or the header alone */
	uint32_t max_inner;                  /* largest inner frame (bytes, without FCS) */
	uint32_t used;
	uint64_t last_rx_ns;                 /* any frame from the peer on this path (atomic) */
	uint64_t last_tx_ns;                 /* keepalive pacing of a path being verified (atomic) */
};

struct bn_held_frame {
	uint64_t addr;                       /* already past the outer headers */
	uint64_t seq;
	uint32_t len;
	uint32_t pad;
};

enum bn_swap_phase { BN_SWAP_NONE = 0, BN_SWAP_PREPARED = 1, BN_SWAP_CUT_OVER = 2 };

/* Round trips a probe run records, at most. */
#define BN_PROBE_MAX 4096
/* An echo not back after this is counted lost and the next one goes out. */
#define BN_PROBE_TIMEOUT_NS (200ULL * 1000 * 1000)

/* The wire's own round trip, engine to engine: JS arms a run, a worker sends one echo at a time
 * on the wire's current path, the peer's worker reflects it in its poll loop, and the worker that
 * gets it back records the time and sends the next (ping-pong, as ib_send_lat does). */
struct bn_wire_probe {
	uint32_t left;                       /* echoes still to send (atomic: JS arms, workers take) */
	uint32_t bytes;                      /* padding behind the header, as an inner frame of this size */
	uint64_t in_flight_ns;               /* the echo out now: its send time; 0 none (atomic) */
	uint32_t n;                          /* round trips recorded (atomic, release) */
	uint32_t lost;                       /* echoes that timed out (atomic) */
	uint32_t rtt_ns[BN_PROBE_MAX];
};

/* A wire's state in the engine, shared by the workers that transmit on and receive from it. */
struct bn_udp_wire {
	struct bn_udp_wire_config cfg;       /* as created: underlay port, domain, keepalive */
	struct bn_udp_path path[2];
	/* JS thread only; workers read their table's copy */
	uint32_t tx_path;
	enum bn_swap_phase phase;
	uint64_t drain_epoch;                /* the epoch of the table that cut over */
	uint64_t tx_seq BN_ALIGNED;          /* next sequence to send (atomic) */
	uint64_t rx_next BN_ALIGNED;         /* next sequence expected (its receiving worker only) */
	uint64_t last_rx_ns;                 /* last frame of any type from the peer */
	uint64_t last_tx_ns;
	/* hot-swap, receive side: its receiving worker only (the audit reads it with workers parked) */
	uint32_t rx_path;                    /* frames on the other path wait in held[] */
	uint32_t late_path;                  /* the path received from before the last switch... */
	uint64_t late_below;                 /* ...whose frames below this sequence are late, not new */
	uint32_t markers_seen;
	uint32_t n_held;
	int32_t hold_worker;                 /* whose pool the held frames are from; -1 none */
	uint64_t hold_since_ns;
	struct bn_held_frame held[BN_SWAP_HOLD];
	/* quiesce, transmit side: frames switched to the wire wait here (not encapsulated) until
	 * resume; its owner worker only (the audit and removal read it with workers parked/gone) */
	uint32_t quiesced;                   /* JS thread; workers read their table's copy */
	int32_t txq_worker;                  /* the worker whose pool the queued frames are from */
	uint32_t txq_n;
	uint32_t txq_max;
	struct bn_pkt txq[BN_QUIESCE_HOLD];
	struct bn_wire_probe probe;
};

void bn_udp_wire__init(struct bn_udp_wire *w, const struct bn_udp_wire_config *cfg);
void bn_udp_path__init(struct bn_udp_path *p, const struct bn_udp_wire_config *cfg);
/* Writes the outer headers in front of data (which must have BN_UDP_ENCAP_LEN of headroom). */
void bn_udp_path__encap(const struct bn_udp_path *p, uint8_t *outer, uint32_t inner_len, uint8_t type, uint64_t seq,
			uint16_t flags);

enum bn_decap_result {
	BN_DECAP_OK = 0,
	BN_DECAP_MALFORMED,      /* truncated or not IPv4/UDP as the XDP filter promised */
	BN_DECAP_BAD_VERSION,
	BN_DECAP_BAD_TYPE,
};

/* Parses the outer headers; on success fills the wire id, type, seq and source address. */
struct bn_decap {
	uint32_t wire_id;
	uint32_t src_ip;        /* network order */
	uint64_t seq;
	uint32_t inner_len;     /* inner frame starts the carrier's encapsulation length in */
	uint16_t flags;
	uint8_t type;
};

/* Parses the outer headers of a frame the XDP filter sent us. */
enum bn_decap_result bn_udp_wire__parse(const uint8_t *frame, uint32_t len, struct bn_decap *d);
/* Parses a message of an RDMA carrier: the Banana header, then the inner frame (src_ip 0). */
enum bn_decap_result bn_wire_hdr__parse(const uint8_t *msg, uint32_t len, struct bn_decap *d);

#endif
