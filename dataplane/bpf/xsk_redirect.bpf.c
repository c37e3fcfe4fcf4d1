// SPDX-License-Identifier: GPL-2.0
/* Banana's only XDP program: hand every frame of a bound queue to its AF_XDP socket.
 * Queues without a socket fall through to the kernel stack (XDP_PASS), so binding one
 * queue of a multi-queue NIC never blackholes the others. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BANANA_MAX_QUEUES 64

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, BANANA_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} banana_xsks SEC(".maps");

SEC("xdp")
int banana_xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&banana_xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
