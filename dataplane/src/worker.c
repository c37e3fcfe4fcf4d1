/* The poll loop of one worker: adopt the newest table, receive a burst from each queue,
 * switch it, transmit, service the rings; sleep only as the idle policy allows. */
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <unistd.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "counters.h"
#include "engine.h"
#include "events.h"
#include "worker.h"

/* Also the keepalive granularity of wires. */
#define BN_HOUSEKEEP_NS (20ULL * 1000 * 1000)
#define BN_PAUSE_DRAIN_NS (200ULL * 1000 * 1000)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static const struct bn_wtable *adopt_table(struct bn_worker *w, const struct bn_wtable *cur)
{
	const struct bn_wtable *t = __atomic_load_n(&w->table, __ATOMIC_ACQUIRE);
	if (t != cur) {
		bn_count(w->counters, BN_WC_table_swaps, 1);
		__atomic_store_n(&w->ack_epoch, t->epoch, __ATOMIC_RELEASE);
	}
	return t;
}

static void housekeep(struct bn_worker *w, const struct bn_wtable *t)
{
	for (uint32_t i = 0; i < t->n_queues; i++) {
		struct bn_queue *q = t->queues[i];
		if (q->failed)
			continue;
		int rc = q->ops->housekeep(q);
		if (rc < 0) {
			q->failed = 1;
			struct bn_event ev = {
				.type = BN_EV_QUEUE_FAILED, .port = q->port, .queue = q->queue_id,
				.err = -rc, .worker = w->index, .time_ns = w->now_ns,
			};
			bn_event__post(w, &ev);
		}
	}
	bn_gauge(w->counters, BN_WC_frames_free, w->pool.n_free);
}

/* Parks the worker at a point where it holds no frame in hand and every queue has
 * transmitted what it was given, so the frame audit sees a settled picture. */
static void park(struct bn_worker *w, const struct bn_wtable *t)
{
	for (uint32_t i = 0; i < t->n_queues; i++)
		if (!t->queues[i]->failed)
			t->queues[i]->ops->drain(t->queues[i], BN_PAUSE_DRAIN_NS);
	bn_pool__take_returned(&w->pool);
	__atomic_store_n(&w->paused, 1, __ATOMIC_RELEASE);
	const struct timespec nap = {0, 100 * 1000};
	while (__atomic_load_n(&w->pause_req, __ATOMIC_ACQUIRE) && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		nanosleep(&nap, NULL);
	__atomic_store_n(&w->paused, 0, __ATOMIC_RELEASE);
}

void bn_worker__wake(struct bn_worker *w)
{
	/* Orders the caller's release store (handoff head, table) before reading `sleeping`:
	 * without it the load may pass the store and both sides miss each other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST))
		return;
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof(one)) < 0) { /* already pending: the sleeper wakes anyway */ }
}

static int handoff_pending(const struct bn_worker *w)
{
	const struct bn_engine *eng = w->engine;
	for (uint32_t src = 0; src < eng->cfg.n_workers; src++)
		if (src != w->index && bn_spsc__avail(&eng->handoff[src * eng->cfg.n_workers + w->index]))
			return 1;
	return 0;
}

/* Sleeps until a frame arrives on one of the worker's queues, another worker hands frames
 * over or the JS thread publishes a table (the wake eventfd), or the backoff time passes:
 * an idle worker costs nothing and still answers within a wakeup. */
static void backoff_sleep(struct bn_worker *w, const struct bn_wtable *t, uint32_t us)
{
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Re-check after announcing the sleep: a producer that looked before the store
	 * will not poke us, so its frames (or its new table) must be seen here. */
	if (!handoff_pending(w) && __atomic_load_n(&w->table, __ATOMIC_ACQUIRE) == t &&
	    !__atomic_load_n(&w->pause_req, __ATOMIC_ACQUIRE) && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[BN_MAX_WORKER_QUEUES + 1];
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
		for (uint32_t i = 0; i < t->n_queues; i++)
			if (!t->queues[i]->failed)
				pfd[n++] = (struct pollfd){.fd = t->queues[i]->ops->wait_fd(t->queues[i]), .events = POLLIN};
		struct timespec ts = {0, (long)us * 1000};
		if (ppoll(pfd, n, &ts, NULL) > 0 && pfd[0].revents) {
			uint64_t v;
			if (read(w->wake_fd, &v, sizeof(v)) < 0) { /* nothing to clear */ }
		}
	}
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
}

static void idle(struct bn_worker *w, const struct bn_wtable *t, uint32_t *empty, uint32_t *sleep_us)
{
	const struct bn_engine_config *cfg = &w->engine->cfg;
	bn_count(w->counters, BN_WC_idle_loops, 1);
	if (cfg->idle == BN_IDLE_BUSY || ++*empty < cfg->spin_loops) {
		cpu_relax();
		return;
	}
	backoff_sleep(w, t, *sleep_us);
	bn_count(w->counters, BN_WC_sleeps, 1);
	if (*sleep_us < cfg->max_sleep_us)
		*sleep_us = *sleep_us * 2 > cfg->max_sleep_us ? cfg->max_sleep_us : *sleep_us * 2;
}

void *bn_worker__run(void *arg)
{
	struct bn_worker *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "bn-worker%u", w->index);
	pthread_setname_np(pthread_self(), name);
	/* Backoff sleeps are short; the default 50 us of timer slack would dominate them. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	const struct bn_wtable *t = NULL;
	uint32_t empty = 0, sleep_us = 1;
	uint64_t next_housekeep = 0;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		const struct bn_wtable *prev = t;
		t = adopt_table(w, t);
		/* Every loop, even where the clock is a syscall (an emulated HPET, ~2 us): reading it
		 * only every 16 loops made the rdma wire slower on Soft-RoCE, whose transport runs in
		 * softirqs that a syscall's return also runs (measured: p50 1.33x -> 1.59x ib_send_lat). */
		w->now_ns = bn_now_ns();
		bn_count(w->counters, BN_WC_loops, 1);
		if (bn_unlikely(__atomic_load_n(&w->pause_req, __ATOMIC_ACQUIRE))) {
			park(w, t);
			continue;
		}
		bn_pool__take_returned(&w->pool);
		/* Before anything new is sent with this table: the old path of a wire cut over
		 * in it gets its drain marker behind the last frame sent on it, and a resumed
		 * wire's queue goes out ahead of new frames. */
		if (bn_unlikely(t != prev || w->adopt_pending))
			bn_l2__after_adopt(w, t);

		uint32_t moved = w->engine->cfg.n_workers > 1 ? bn_l2__handoff_in(w, t) : 0;
		for (uint32_t i = 0; i < t->n_queues; i++) {
			struct bn_queue *q = t->queues[i];
			if (bn_unlikely(q->failed))
				continue;
			uint32_t n = q->ops->rx_burst(q, w->rx, BN_BURST);
			if (n) {
				bn_count(w->counters, BN_WC_bursts, 1);
				if (bn_unlikely(q->underlay))
					bn_l2__from_underlay(w, t, q, n);
				else
					bn_l2__process(w, t, q, n);
				bn_l2__flush(w, t);
				moved += n;
			}
		}
		for (uint32_t i = 0; i < t->n_queues; i++)
			if (bn_likely(!t->queues[i]->failed))
				t->queues[i]->ops->service(t->queues[i]);

		if (bn_unlikely(w->now_ns >= next_housekeep)) {
			housekeep(w, t);
			bn_l2__keepalives(w, t);
			bn_l2__flush(w, t);
			next_housekeep = w->now_ns + BN_HOUSEKEEP_NS;
		}
		if (moved) {
			empty = 0;
			sleep_us = 1;
		} else {
			idle(w, t, &empty, &sleep_us);
		}
	}
	/* Leave nothing half-sent: a stopped engine must pass the frame audit. */
	if (t)
		for (uint32_t i = 0; i < t->n_queues; i++)
			if (!t->queues[i]->failed)
				t->queues[i]->ops->drain(t->queues[i], BN_PAUSE_DRAIN_NS);
	return NULL;
}
