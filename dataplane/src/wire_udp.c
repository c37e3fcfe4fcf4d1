#include "wire_udp.h"

#include <arpa/inet.h>
#include <string.h>

#define OFF_IP 14
#define OFF_UDP (14 + 20)
#define OFF_HDR (14 + 20 + 8)

static uint16_t ip_checksum(const uint8_t *ip)
{
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint64_t to_be64(uint64_t v)
{
	return ((uint64_t)htonl((uint32_t)v) << 32) | htonl((uint32_t)(v >> 32));
}

void bn_udp_wire__init(struct bn_udp_wire *w, const struct bn_udp_wire_config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	w->hold_worker = -1;
	w->txq_worker = -1;
	bn_udp_path__init(&w->path[0], cfg);
}

void bn_udp_path__init(struct bn_udp_path *w, const struct bn_udp_wire_config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	w->used = 1;
	if (cfg->rdma) {
		struct bn_wire_hdr *h = (struct bn_wire_hdr *)w->outer_template;
		h->version = BN_WIRE_VERSION;
		h->wire_id = htonl(cfg->wire_id);
		w->encap_len = BN_WIRE_HDR_LEN;
		w->max_inner = cfg->underlay_mtu > BN_WIRE_HDR_LEN ? cfg->underlay_mtu - BN_WIRE_HDR_LEN : 0;
		return;
	}
	w->encap_len = BN_UDP_ENCAP_LEN;
	uint8_t *t = w->outer_template;
	memcpy(t, cfg->next_hop_mac, 6);
	memcpy(t + 6, cfg->local_mac, 6);
	t[12] = 0x08;
	t[13] = 0x00;
	uint8_t *ip = t + OFF_IP;
	ip[0] = 0x45;
	ip[6] = 0x40;   /* DF: the underlay must carry the frame whole, never fragment it */
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &cfg->local_ip, 4);
	memcpy(ip + 16, &cfg->remote_ip, 4);
	uint8_t *udp = t + OFF_UDP;
	memcpy(udp, &cfg->local_port, 2);
	memcpy(udp + 2, &cfg->remote_port, 2);
	struct bn_wire_hdr *h = (struct bn_wire_hdr *)(t + OFF_HDR);
	h->version = BN_WIRE_VERSION;
	h->wire_id = htonl(cfg->wire_id);
	/* Inner Ethernet header + payload must fit the underlay MTU after IP, UDP and ours. */
	w->max_inner = cfg->underlay_mtu > BN_UDP_OVERHEAD ? cfg->underlay_mtu - BN_UDP_OVERHEAD : 0;
}

void bn_udp_path__encap(const struct bn_udp_path *w, uint8_t *outer, uint32_t inner_len, uint8_t type, uint64_t seq,
			uint16_t flags)
{
	if (w->encap_len == BN_WIRE_HDR_LEN) {
		struct bn_wire_hdr *h = (struct bn_wire_hdr *)outer;
		memcpy(h, w->outer_template, BN_WIRE_HDR_LEN);
		h->type = type;
		h->flags = htons(flags);
		h->seq = to_be64(seq);
		return;
	}
	memcpy(outer, w->outer_template, BN_UDP_ENCAP_LEN);
	uint8_t *ip = outer + OFF_IP;
	uint16_t ip_len = htons((uint16_t)(20 + 8 + BN_WIRE_HDR_LEN + inner_len));
	memcpy(ip + 2, &ip_len, 2);
	uint16_t csum = htons(ip_checksum(ip));
	memcpy(ip + 10, &csum, 2);
	uint16_t udp_len = htons((uint16_t)(8 + BN_WIRE_HDR_LEN + inner_len));
	memcpy(outer + OFF_UDP + 4, &udp_len, 2);
	struct bn_wire_hdr *h = (struct bn_wire_hdr *)(outer + OFF_HDR);
	h->type = type;
	h->flags = htons(flags);
	h->seq = to_be64(seq);
}

static enum bn_decap_result parse_hdr(const struct bn_wire_hdr *h, struct bn_decap *d)
{
	if (h->version != BN_WIRE_VERSION)
		return BN_DECAP_BAD_VERSION;
	if (h->type < BN_WIRE_DATA || h->type > BN_WIRE_ECHO)
		return BN_DECAP_BAD_TYPE;
	d->wire_id = ntohl(h->wire_id);
	d->type = h->type;
	d->flags = ntohs(h->flags);
	d->seq = to_be64(h->seq);
	return BN_DECAP_OK;
}

enum bn_decap_result bn_udp_wire__parse(const uint8_t *f, uint32_t len, struct bn_decap *d)
{
	if (len < BN_UDP_ENCAP_LEN || f[12] != 0x08 || f[13] != 0x00)
		return BN_DECAP_MALFORMED;
	const uint8_t *ip = f + OFF_IP;
	if (ip[0] != 0x45 || ip[9] != 17)
		return BN_DECAP_MALFORMED;
	/* The IP length bounds the inner frame: padding after a short frame is not part of it. */
	uint32_t ip_len = (uint32_t)(ip[2] << 8 | ip[3]);
	if (ip_len < BN_UDP_OVERHEAD || ip_len > len - 14)
		return BN_DECAP_MALFORMED;
	enum bn_decap_result r = parse_hdr((const struct bn_wire_hdr *)(f + OFF_HDR), d);
	if (r != BN_DECAP_OK)
		return r;
	memcpy(&d->src_ip, ip + 12, 4);
	d->inner_len = ip_len - BN_UDP_OVERHEAD;
	return BN_DECAP_OK;
}

enum bn_decap_result bn_wire_hdr__parse(const uint8_t *msg, uint32_t len, struct bn_decap *d)
{
	if (len < BN_WIRE_HDR_LEN)
		return BN_DECAP_MALFORMED;
	enum bn_decap_result r = parse_hdr((const struct bn_wire_hdr *)msg, d);
	if (r != BN_DECAP_OK)
		return r;
	d->src_ip = 0;
	d->inner_len = len - BN_WIRE_HDR_LEN;
	return BN_DECAP_OK;
}
