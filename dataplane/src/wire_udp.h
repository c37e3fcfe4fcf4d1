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
 *   u8  type      1 data, 2 keepalive, 3 drain marker
 *   u16 flags     reserved, 0
 *   u32 wire id   agreed by both ends at connect
 *   u64 sequence  per wire and direction, from 0; keepalives carry the next data sequence */
#include <stdint.h>
#include "bn.h"

#define BN_WIRE_VERSION 1
#define BN_WIRE_DATA 1
#define BN_WIRE_KEEPALIVE 2
#define BN_WIRE_DRAIN 3
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
};

/* A wire's state in the engine, shared by the workers that transmit on and receive from it. */
struct bn_udp_wire {
	struct bn_udp_wire_config cfg;
	uint8_t outer_template[BN_UDP_ENCAP_LEN];  /* outer headers with lengths, checksum, seq left to fill */
	uint32_t max_inner;                  /* largest inner frame (bytes, without FCS) */
	uint64_t tx_seq BN_ALIGNED;          /* next sequence to send (atomic) */
	uint64_t rx_next BN_ALIGNED;         /* next sequence expected (its receiving worker only) */
	uint64_t last_rx_ns;                 /* last frame of any type from the peer */
	uint64_t last_tx_ns;
};

void bn_udp_wire__init(struct bn_udp_wire *w, const struct bn_udp_wire_config *cfg);
/* Writes the outer headers in front of data (which must have BN_UDP_ENCAP_LEN of headroom). */
void bn_udp_wire__encap(struct bn_udp_wire *w, uint8_t *outer, uint32_t inner_len, uint8_t type, uint64_t seq);

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
	uint32_t inner_len;     /* inner frame starts BN_UDP_ENCAP_LEN bytes in */
	uint8_t type;
};

/* Parses the outer headers of a frame the XDP filter sent us. */
enum bn_decap_result bn_udp_wire__parse(const uint8_t *frame, uint32_t len, struct bn_decap *d);

#endif
