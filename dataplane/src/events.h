#ifndef BANANA_EVENTS_H
#define BANANA_EVENTS_H
/* Events from workers to JS (a queue failed, a link went away). A worker never calls into
 * JavaScript nor takes a lock: it writes the event into its own ring and pokes an eventfd;
 * a pump thread in the binding drains the rings and calls the JS callback. */
#include "bn.h"

enum bn_event_type { BN_EV_QUEUE_FAILED = 1 };

struct bn_event {
	uint32_t type;
	uint32_t port;      /* slot | generation << 8 */
	uint32_t queue;
	int32_t err;        /* positive errno */
	uint32_t worker;
	uint32_t pad;
	uint64_t time_ns;
};

struct bn_worker;
void bn_event__post(struct bn_worker *w, const struct bn_event *ev);

#endif
