// SPDX-License-Identifier: GPL-2.0
/*
 * xdp-redirect baseline: redirect every frame that arrives on the ingress
 * interface to the interface in tx_port[0] (a DEVMAP, filled in by
 * bench/baselines/xdp-redirect.ts after attach). Nothing is parsed or
 * rewritten: this is the in-kernel floor for "frame in, same frame out".
 *
 * Build: clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
 *          -c xdp_fwd.bpf.c -o xdp_fwd.bpf.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_fwd(struct xdp_md *ctx)
{
	/* the low bits of flags are the action when the slot is empty */
	return bpf_redirect_map(&tx_port, 0, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
