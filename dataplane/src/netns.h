#ifndef BANANA_NETNS_H
#define BANANA_NETNS_H
/* Sockets, ifindexes and XDP attachment belong to the network namespace of the thread that
 * makes them. Setup enters the port's namespace on the calling thread and leaves it again;
 * the sockets keep working from worker threads in any namespace. */
#include "bn.h"

struct bn_netns_guard {
	int saved_fd;   /* -1 when no switch happened */
};

int bn_netns__enter(struct bn_netns_guard *g, const char *netns, struct bn_error *e);
void bn_netns__leave(struct bn_netns_guard *g);

#endif
