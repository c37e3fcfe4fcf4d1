// SPDX-License-Identifier: GPL-2.0
/* Banana's only XDP program: hand every frame of a bound queue to its AF_XDP socket.
 * Queues without a socket fall through to the kernel stack (XDP_PASS), so binding one
 * queue of a multi-queue NIC never blackholes the others. On an underlay port only the
 * wires' UDP port is taken; everything else (ARP, the controllers' own traffic) stays with
 * the kernel. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define BANANA_MAX_QUEUES 64

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, BANANA_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} banana_xsks SEC(".maps");

struct banana_filter {
	__u32 udp_port_be;   /* 0: every frame; else only IPv4 UDP to this port (network order) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct banana_filter);
} banana_filter SEC(".maps");

static __always_inline int is_wire_udp(struct xdp_md *ctx, __u32 port_be)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return 0;
	if (ip->frag_off & bpf_htons(0x3fff))   /* fragments: never ours (DF is set on send) */
		return 0;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return 0;
	return udp->dest == port_be;
}

SEC("xdp")
int banana_xsk_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct banana_filter *f = bpf_map_lookup_elem(&banana_filter, &zero);
	if (f && f->udp_port_be && !is_wire_udp(ctx, f->udp_port_be))
		return XDP_PASS;
	return bpf_redirect_map(&banana_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
