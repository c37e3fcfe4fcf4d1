// SPDX-License-Identifier: GPL-2.0
/* The forward benchmark's sink: counts nothing itself (veth counts the frames) and drops
 * every frame before the IP stack, whose cost would otherwise land on the DUT core. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int banana_sink_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
