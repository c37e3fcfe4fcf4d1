#ifndef BANANA_COUNTERS_H
#define BANANA_COUNTERS_H

#include <stdint.h>

enum bn_port_counter {
#define BN_PORT_COUNTER(name, desc) BN_PC_##name,
#define BN_WORKER_COUNTER(name, desc)
#include "counters.def"
#undef BN_PORT_COUNTER
#undef BN_WORKER_COUNTER
	BN_PC__COUNT
};

enum bn_worker_counter {
#define BN_PORT_COUNTER(name, desc)
#define BN_WORKER_COUNTER(name, desc) BN_WC_##name,
#include "counters.def"
#undef BN_PORT_COUNTER
#undef BN_WORKER_COUNTER
	BN_WC__COUNT
};

/* Rows are padded to whole cache lines so two workers never share one. */
#define BN_COUNTER_ROW(n) ((((n) + 7) / 8) * 8)
#define BN_PORT_ROW BN_COUNTER_ROW(BN_PC__COUNT)
#define BN_WORKER_ROW BN_COUNTER_ROW(BN_WC__COUNT)

extern const char *const bn_port_counter_names[BN_PC__COUNT];
extern const char *const bn_worker_counter_names[BN_WC__COUNT];

/* Each counter has exactly one writer (the worker whose row it is); relaxed stores
 * are enough for JS readers that only need a recent value. */
static inline void bn_count(uint64_t *row, int idx, uint64_t n)
{
	__atomic_store_n(&row[idx], row[idx] + n, __ATOMIC_RELAXED);
}

static inline void bn_gauge(uint64_t *row, int idx, uint64_t v)
{
	__atomic_store_n(&row[idx], v, __ATOMIC_RELAXED);
}

#endif
