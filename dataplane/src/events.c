#include "events.h"
#include "counters.h"
#include "engine.h"
#include "worker.h"

#include <stdint.h>
#include <unistd.h>

void bn_event__post(struct bn_worker *w, const struct bn_event *ev)
{
	if (bn_spsc__room(&w->events) == 0) {
		bn_count(w->counters, BN_WC_events_lost, 1);
		return;
	}
	*(struct bn_event *)bn_spsc__slot(&w->events, w->events.head) = *ev;
	bn_spsc__publish(&w->events, 1);
	uint64_t one = 1;
	/* Rare path (failures only): a syscall here is acceptable. */
	if (write(w->engine->event_fd, &one, sizeof(one)) < 0)
		bn_count(w->counters, BN_WC_events_lost, 0);
}
