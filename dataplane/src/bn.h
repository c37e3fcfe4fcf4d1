#ifndef BANANA_BN_H
#define BANANA_BN_H
/* Limits and shared small types of the dataplane. */
#include <stdint.h>
#include <stddef.h>

/* Frames the engine builds itself (copies, control messages, echoes) start this far into a pool
 * frame, the offset the kernel uses, so every frame looks alike. */
#define BN_COPY_HEADROOM 256
#define BN_BURST 32            /* frames moved per ring operation */
#define BN_MAX_WORKERS 16
#define BN_MAX_PORTS 64        /* logical switch ports per engine */
#define BN_MAX_QUEUES 64       /* queues per port (matches the XSKMAP size) */
#define BN_MAX_WORKER_QUEUES 128
#define BN_CACHELINE 64

#define BN_ALIGNED __attribute__((aligned(BN_CACHELINE)))
#define BN_UNUSED __attribute__((unused))
#define bn_likely(x) __builtin_expect(!!(x), 1)
#define bn_unlikely(x) __builtin_expect(!!(x), 0)

/* Errors cross from C to JS as this struct: errno plus the step that failed and a message
 * naming what the user has to fix. Every fallible setup function fills one. */
/* A frame: where it is in its worker's pool and how long it is. */
struct bn_pkt {
	uint64_t addr;     /* offset in the worker's pool */
	uint32_t len;
	uint32_t pad;
};

struct bn_error {
	int err;             /* positive errno */
	char step[48];       /* e.g. "bind", "xdp_attach", "umem_register" */
	char msg[256];
};

int bn_fail(struct bn_error *e, int err, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

uint64_t bn_now_ns(void);
/* Nanosecond stamps for round trips (the cycle counter where there is one); bn_stamp_init()
 * once before workers run. Comparable only with each other. */
void bn_stamp_init(void);
uint64_t bn_stamp_ns(void);

#endif
