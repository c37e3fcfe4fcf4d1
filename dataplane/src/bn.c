#include "bn.h"
#include "counters.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const bn_port_counter_names[BN_PC__COUNT] = {
#define BN_PORT_COUNTER(name, desc) #name,
#define BN_WORKER_COUNTER(name, desc)
#include "counters.def"
#undef BN_PORT_COUNTER
#undef BN_WORKER_COUNTER
};

const char *const bn_worker_counter_names[BN_WC__COUNT] = {
#define BN_PORT_COUNTER(name, desc)
#define BN_WORKER_COUNTER(name, desc) #name,
#include "counters.def"
#undef BN_PORT_COUNTER
#undef BN_WORKER_COUNTER
};

int bn_fail(struct bn_error *e, int err, const char *step, const char *fmt, ...)
{
	e->err = err;
	snprintf(e->step, sizeof(e->step), "%s", step);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -err;
}

uint64_t bn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
