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

/* Round-trip stamps from the cycle counter where there is one, as perftest times its ping-pong:
 * a clock read can be a syscall (an emulated HPET: ~2 us), which would weigh on the round trip
 * it measures. Calibrated once against CLOCK_MONOTONIC; stamps are compared only with stamps. */
#if defined(__x86_64__)
#include <x86intrin.h>
static double tsc_ns_per_tick;   /* 0: not calibrated: stamps are clock reads */

void bn_stamp_init(void)
{
	if (tsc_ns_per_tick != 0)
		return;
	uint64_t n0 = bn_now_ns(), t0 = __rdtsc();
	const struct timespec pause = {0, 5 * 1000 * 1000};
	nanosleep(&pause, NULL);
	uint64_t n1 = bn_now_ns(), t1 = __rdtsc();
	if (t1 > t0 && n1 > n0)
		tsc_ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
}

uint64_t bn_stamp_ns(void)
{
	if (tsc_ns_per_tick == 0)
		return bn_now_ns();
	return (uint64_t)((double)__rdtsc() * tsc_ns_per_tick);
}
#else
void bn_stamp_init(void) {}

uint64_t bn_stamp_ns(void)
{
	return bn_now_ns();
}
#endif
