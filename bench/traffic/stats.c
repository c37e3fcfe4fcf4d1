/* banana-traffic: sequence bitmap and latency histogram. */
#include "traffic.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_INITIAL_WORDS 1024u /* 64 Ki sequence numbers */

void bt_seq_init(struct bt_seqtrack *t) { memset(t, 0, sizeof *t); }

void bt_seq_free(struct bt_seqtrack *t) {
  free(t->words);
  memset(t, 0, sizeof *t);
}

static uint64_t *alloc_words(size_t n) {
  uint64_t *w = calloc(n, sizeof *w);
  if (!w) bt_die("out of memory growing the sequence bitmap (%zu words)", n);
  return w;
}

/* Make [seq] addressable. Returns false if that would exceed the span cap. */
static bool seq_cover(struct bt_seqtrack *t, uint64_t seq) {
  const uint64_t max_words = BT_SEQ_MAX_SPAN / 64u;
  if (!t->words) {
    t->base = seq & ~63ull;
    t->nwords = SEQ_INITIAL_WORDS;
    t->words = alloc_words(t->nwords);
    return true;
  }
  uint64_t end = t->base + 64u * (uint64_t)t->nwords; /* exclusive */
  if (seq >= t->base && (seq - t->base) / 64u < t->nwords) return true;

  if (seq >= t->base) {
    /* grow upwards */
    uint64_t need = (seq - t->base) / 64u + 1u;
    if (need > max_words) return false;
    uint64_t n = (uint64_t)t->nwords * 2u;
    if (n < need) n = need;
    if (n > max_words) n = max_words;
    uint64_t *w = realloc(t->words, (size_t)n * sizeof *w);
    if (!w) bt_die("out of memory growing the sequence bitmap");
    memset(w + t->nwords, 0, (size_t)(n - t->nwords) * sizeof *w);
    t->words = w;
    t->nwords = (size_t)n;
    return true;
  }

  /* grow downwards: new base below seq, keep some headroom */
  uint64_t lo = seq & ~63ull;
  uint64_t need = (end - lo) / 64u;
  if (need > max_words) return false;
  uint64_t n = (uint64_t)t->nwords * 2u;
  if (n < need) n = need;
  if (n > max_words) n = max_words;
  uint64_t extra = n - t->nwords; /* words added below the old base */
  uint64_t new_base;
  if (t->base / 64u < extra) { /* clamp at sequence 0 */
    extra = t->base / 64u;
    n = t->nwords + extra;
    new_base = 0;
  } else {
    new_base = t->base - extra * 64u;
  }
  uint64_t *w = alloc_words((size_t)n);
  memcpy(w + extra, t->words, t->nwords * sizeof *w);
  free(t->words);
  t->words = w;
  t->nwords = (size_t)n;
  t->base = new_base;
  return true;
}

enum bt_seq_result bt_seq_add(struct bt_seqtrack *t, uint64_t seq) {
  if (!seq_cover(t, seq)) return BT_SEQ_OUT_OF_RANGE;
  uint64_t off = seq - t->base;
  uint64_t *word = &t->words[off / 64u];
  uint64_t bit = 1ull << (off % 64u);
  if (*word & bit) {
    t->duplicated++;
    return BT_SEQ_DUP;
  }
  *word |= bit;
  t->unique++;
  if (!t->any) {
    t->any = true;
    t->min_seq = t->max_seq = seq;
  } else {
    if (seq < t->max_seq) t->reordered++;
    if (seq > t->max_seq) t->max_seq = seq;
    if (seq < t->min_seq) t->min_seq = seq;
  }
  return BT_SEQ_NEW;
}

/* ---- histogram ----------------------------------------------------------- */

void bt_hist_init(struct bt_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

static unsigned hist_index(uint64_t v) {
  if (v < 2u * BT_HIST_SUB) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned shift = msb - BT_HIST_SUB_BITS;
  unsigned top = (unsigned)(v >> shift); /* in [SUB, 2*SUB) */
  return (shift + 1u) * BT_HIST_SUB + (top - BT_HIST_SUB);
}

static uint64_t hist_upper(unsigned idx) {
  if (idx < 2u * BT_HIST_SUB) return idx;
  unsigned group = idx / BT_HIST_SUB; /* >= 2 */
  unsigned sub = idx % BT_HIST_SUB;
  unsigned shift = group - 1u;
  uint64_t low = (uint64_t)(BT_HIST_SUB + sub) << shift;
  return low + ((1ull << shift) - 1u);
}

void bt_hist_add(struct bt_hist *h, uint64_t v) {
  h->buckets[hist_index(v)]++;
  h->count++;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
}

uint64_t bt_hist_quantile(const struct bt_hist *h, double q) {
  if (h->count == 0) return 0;
  if (q <= 0) return h->min;
  uint64_t rank = (uint64_t)(q * (double)h->count);
  if ((double)rank < q * (double)h->count) rank++; /* ceil */
  if (rank < 1) rank = 1;
  if (rank > h->count) rank = h->count;
  uint64_t cum = 0;
  for (unsigned i = 0; i < BT_HIST_BUCKETS; i++) {
    cum += h->buckets[i];
    if (cum >= rank) {
      uint64_t v = hist_upper(i);
      if (v > h->max) v = h->max;
      if (v < h->min) v = h->min;
      return v;
    }
  }
  return h->max;
}

void bt_hist_print_json(const struct bt_hist *h, FILE *f) {
  bool first = true;
  fputc('[', f);
  for (unsigned i = 0; i < BT_HIST_BUCKETS; i++) {
    if (!h->buckets[i]) continue;
    fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", hist_upper(i),
            h->buckets[i]);
    first = false;
  }
  fputc(']', f);
}
