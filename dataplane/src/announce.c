#include "announce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"

#define ETH_P_RARP_ 0x8035

static void rarp_frame(uint8_t f[60], const uint8_t mac[6])
{
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETH_P_RARP_ >> 8;
	f[13] = ETH_P_RARP_ & 0xff;
	uint8_t *a = f + 14;
	a[1] = 1;                 /* hardware: Ethernet */
	a[2] = 0x08;              /* protocol: IPv4 */
	a[4] = 6;
	a[5] = 4;
	a[7] = 3;                 /* reverse request */
	memcpy(a + 8, mac, 6);    /* sender hardware address */
	memcpy(a + 18, mac, 6);   /* target hardware address */
}

int bn_announce(const char *netns, const char *ifname, const uint8_t mac[6], uint32_t count, struct bn_error *e)
{
	struct bn_netns_guard ns;
	int rc = bn_netns__enter(&ns, netns, e);
	if (rc < 0)
		return rc;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = bn_fail(e, errno, "announce", "cannot open a packet socket to announce on %s: %s", ifname, strerror(errno));
		goto out;
	}
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		rc = bn_fail(e, ENODEV, "announce", "no interface %s to announce on", ifname);
		goto out_close;
	}
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_halen = 6};
	memset(to.sll_addr, 0xff, 6);
	uint8_t frame[60];
	rarp_frame(frame, mac);
	for (uint32_t i = 0; i < count; i++)
		if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			rc = bn_fail(e, errno, "announce", "cannot send on %s: %s", ifname, strerror(errno));
			goto out_close;
		}
	rc = 0;
out_close:
	close(fd);
out:
	bn_netns__leave(&ns);
	return rc;
}
