#ifndef BANANA_XDP_PROG_H
#define BANANA_XDP_PROG_H
/* Banana's own XDP program on one interface: load, attach in the requested mode, publish
 * sockets in its XSKMAP, detach exactly our program on close. No libxdp dispatcher: it
 * needs BPF extension programs, which kernels built without them refuse. */
#include "bn.h"

enum bn_xdp_mode { BN_XDP_AUTO = 0, BN_XDP_NATIVE = 1, BN_XDP_GENERIC = 2 };

struct bn_xdp_prog {
	int ifindex;
	enum bn_xdp_mode mode;      /* the mode actually attached, never AUTO */
	int prog_fd;
	int xsks_map_fd;
	struct bpf_object *obj;
};

/* udp_port_be: 0 to take every frame, else only IPv4 UDP to that port (an underlay port).
 * takeover: an interface that arrives with a Banana program still attached (a VM's tap moved
 * here from another host's engine) gets ours instead; any other program is never touched. */
int bn_xdp_prog__attach(struct bn_xdp_prog *p, const char *obj_path, int ifindex, const char *ifname,
			enum bn_xdp_mode mode, uint16_t udp_port_be, int takeover, struct bn_error *e);
int bn_xdp_prog__set_socket(struct bn_xdp_prog *p, uint32_t queue, int xsk_fd, struct bn_error *e);
void bn_xdp_prog__clear_socket(struct bn_xdp_prog *p, uint32_t queue);
void bn_xdp_prog__detach(struct bn_xdp_prog *p);
/* Releases our handles without detaching: for an interface that no longer exists. */
void bn_xdp_prog__forget(struct bn_xdp_prog *p);
const char *bn_xdp_mode_name(enum bn_xdp_mode mode);

#endif
