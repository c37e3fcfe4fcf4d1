#include "xdp_prog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

/* libbpf's diagnostics go into this buffer instead of stderr so that a failure can be
 * reported in the error the user sees. Setup runs on the JS thread only. */
static char last_libbpf_msg[200];

static int capture_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(last_libbpf_msg, sizeof(last_libbpf_msg), fmt, args);
	size_t n = strlen(last_libbpf_msg);
	while (n > 0 && last_libbpf_msg[n - 1] == '\n')
		last_libbpf_msg[--n] = '\0';
	return 0;
}

const char *bn_xdp_mode_name(enum bn_xdp_mode mode)
{
	switch (mode) {
	case BN_XDP_NATIVE: return "native";
	case BN_XDP_GENERIC: return "generic";
	default: return "auto";
	}
}

static uint32_t mode_flags(enum bn_xdp_mode mode)
{
	return XDP_FLAGS_UPDATE_IF_NOEXIST | (mode == BN_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
}

static int attach_mode(struct bn_xdp_prog *p, const char *ifname, enum bn_xdp_mode mode, struct bn_error *e)
{
	int rc = bpf_xdp_attach(p->ifindex, p->prog_fd, mode_flags(mode), NULL);
	if (rc == 0) {
		p->mode = mode;
		return 0;
	}
	int err = -rc;
	if (err == EBUSY || err == EEXIST) {
		uint32_t prog_id = 0;
		bpf_xdp_query_id(p->ifindex, 0, &prog_id);
		return bn_fail(e, err, "xdp_attach",
			       "%s already has an XDP program attached (id %u): remove it first "
			       "(ip link set dev %s xdp off)", ifname, prog_id, ifname);
	}
	if (err == EPERM)
		return bn_fail(e, err, "xdp_attach",
			       "attaching an XDP program to %s needs CAP_NET_ADMIN and CAP_BPF (run as root or "
			       "setcap cap_net_admin,cap_bpf,cap_net_raw,cap_ipc_lock+ep on the node binary)", ifname);
	return bn_fail(e, err, "xdp_attach", "cannot attach XDP in %s mode to %s: %s%s%s",
		       bn_xdp_mode_name(mode), ifname, strerror(err), last_libbpf_msg[0] ? "; libbpf: " : "",
		       last_libbpf_msg);
}

/* The kernel keeps 15 characters of a program's name. */
#define BN_PROG_NAME_SEEN "banana_xsk_redi"

/* Detaches a Banana program another engine left on the interface. Returns 0 if there was
 * none or it was removed, -EBUSY (with the error filled) if a foreign program is attached. */
static int take_over(int ifindex, const char *ifname, struct bn_error *e)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	if (bpf_xdp_query(ifindex, 0, &q) < 0 || q.attach_mode == XDP_ATTACHED_NONE)
		return 0;
	uint32_t id = q.attach_mode == XDP_ATTACHED_DRV ? q.drv_prog_id : q.skb_prog_id;
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int fd = bpf_prog_get_fd_by_id(id);
	int ours = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		   strncmp(info.name, BN_PROG_NAME_SEEN, sizeof(info.name)) == 0;
	if (fd >= 0)
		close(fd);
	if (!ours)
		return bn_fail(e, EBUSY, "xdp_attach", "%s has a foreign XDP program attached (id %u, '%s'): not taking it over",
			       ifname, id, info.name);
	uint32_t flags = q.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	int rc = bpf_xdp_detach(ifindex, flags, NULL);
	if (rc < 0)
		return bn_fail(e, -rc, "xdp_attach", "cannot remove the Banana XDP program (id %u) left on %s: %s", id, ifname,
			       strerror(-rc));
	return 0;
}

int bn_xdp_prog__attach(struct bn_xdp_prog *p, const char *obj_path, int ifindex, const char *ifname,
			enum bn_xdp_mode mode, uint16_t udp_port_be, int takeover, struct bn_error *e)
{
	int rc;
	memset(p, 0, sizeof(*p));
	p->ifindex = ifindex;
	p->prog_fd = -1;
	p->xsks_map_fd = -1;
	last_libbpf_msg[0] = '\0';
	libbpf_set_print(capture_libbpf);

	p->obj = bpf_object__open_file(obj_path, NULL);
	if (!p->obj) {
		rc = bn_fail(e, errno, "bpf_open", "cannot open the XDP object %s: %s", obj_path, strerror(errno));
		goto err;
	}
	if ((rc = bpf_object__load(p->obj)) < 0) {
		int err = -rc;
		if (err == EPERM)
			rc = bn_fail(e, err, "bpf_load",
				     "loading BPF programs needs CAP_BPF and CAP_NET_ADMIN (run as root or grant them)");
		else
			rc = bn_fail(e, err, "bpf_load", "cannot load %s: %s; libbpf: %s", obj_path, strerror(err),
				     last_libbpf_msg);
		goto err_close_obj;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(p->obj, "banana_xsk_redirect");
	struct bpf_map *map = bpf_object__find_map_by_name(p->obj, "banana_xsks");
	if (!prog || !map) {
		rc = bn_fail(e, ENOENT, "bpf_load", "%s lacks banana_xsk_redirect or banana_xsks", obj_path);
		goto err_close_obj;
	}
	p->prog_fd = bpf_program__fd(prog);
	p->xsks_map_fd = bpf_map__fd(map);
	/* The filter is set before attaching: an underlay port never hands the kernel's own
	 * traffic to the socket, not even for an instant. */
	struct bpf_map *filter = bpf_object__find_map_by_name(p->obj, "banana_filter");
	uint32_t zero = 0, port = udp_port_be;
	if (!filter || bpf_map_update_elem(bpf_map__fd(filter), &zero, &port, BPF_ANY) < 0) {
		rc = bn_fail(e, filter ? errno : ENOENT, "bpf_load", "cannot set the underlay filter of %s", ifname);
		goto err_close_obj;
	}

	if (takeover && (rc = take_over(ifindex, ifname, e)) < 0)
		goto err_close_obj;
	if (mode == BN_XDP_AUTO) {
		struct bn_error native_err;
		rc = attach_mode(p, ifname, BN_XDP_NATIVE, &native_err);
		if (rc == -EBUSY || rc == -EEXIST || rc == -EPERM) {
			*e = native_err;
			goto err_close_obj;
		}
		if (rc < 0)
			rc = attach_mode(p, ifname, BN_XDP_GENERIC, e);
	} else {
		rc = attach_mode(p, ifname, mode, e);
	}
	if (rc < 0)
		goto err_close_obj;
	return 0;

err_close_obj:
	bpf_object__close(p->obj);
	p->obj = NULL;
err:
	return rc;
}

int bn_xdp_prog__set_socket(struct bn_xdp_prog *p, uint32_t queue, int xsk_fd, struct bn_error *e)
{
	if (bpf_map_update_elem(p->xsks_map_fd, &queue, &xsk_fd, BPF_ANY) < 0)
		return bn_fail(e, errno, "xskmap_update", "cannot publish the socket of queue %u: %s", queue,
			       strerror(errno));
	return 0;
}

void bn_xdp_prog__clear_socket(struct bn_xdp_prog *p, uint32_t queue)
{
	bpf_map_delete_elem(p->xsks_map_fd, &queue);
}

void bn_xdp_prog__detach(struct bn_xdp_prog *p)
{
	if (!p->obj)
		return;
	/* Only detach if the attached program is still ours: never remove someone else's. */
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = p->prog_fd);
	bpf_xdp_detach(p->ifindex, p->mode == BN_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, &opts);
	bn_xdp_prog__forget(p);
}

void bn_xdp_prog__forget(struct bn_xdp_prog *p)
{
	if (!p->obj)
		return;
	bpf_object__close(p->obj);
	p->obj = NULL;
	p->prog_fd = -1;
	p->xsks_map_fd = -1;
}
