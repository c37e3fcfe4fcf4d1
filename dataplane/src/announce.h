#ifndef BANANA_ANNOUNCE_H
#define BANANA_ANNOUNCE_H
/* Tells an Ethernet segment where a MAC address lives now: a RARP broadcast from that
 * address, sent by the kernel on an interface (as a hypervisor announces a migrated VM).
 * Learning switches on the segment move the address to the port it came in on. */
#include <stdint.h>
#include "bn.h"

int bn_announce(const char *netns, const char *ifname, const uint8_t mac[6], uint32_t count, struct bn_error *e);

#endif
