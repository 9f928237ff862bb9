/*
 * engine.c: the C reference for `npm run bench` (bench/run.ts compiles it with
 * `cc -O2` and runs it as a child, interleaved with bench/engine/engine-js.ts).
 *
 * It does the work uvale's in-process switch does, in the same memory and
 * order, so that "uvale / C" measures the language and runtime, not a
 * different algorithm:
 *
 *   memory    per port one region laid out as src/ring/layout.ts: a 512-byte
 *             interface header (IF_HDR_SIZE), a 128-byte ring header (head/cur/tail at 0/4/8,
 *             the switch-published hwcur/hwtail at 64/68) and 2048 slots of
 *             16 bytes {u32 buf_idx, u16 len, u16 flags, u64 ptr} per ring,
 *             then 2048-byte buffers (0 and 1 reserved), TX ring first.
 *   txsync    prologue (head/cur checked against hwcur/hwtail), collect the
 *             slots [hwcur, head) into a scratch table (buffer, len, MOREFRAG,
 *             chain length), flush every `batch` frames, reclaim the whole TX
 *             ring (hwtail = head - 1), finalize (tail = hwtail).
 *   classify  per frame: learn the unicast source in the 1024-bucket
 *             direct-mapped table (Jenkins lookup2 mix, as src/switch/hash.ts),
 *             skipped when it equals the port's last learned source; look up
 *             the destination; append to a per-destination list (broadcast and
 *             misses to the broadcast list).
 *   deliver   per destination: RX ring space, merge its list with the broadcast
 *             list in source order, memcpy each frame, set len/flags, publish
 *             hwtail once.
 *   user      the generator only sets len on `batch` pre-filled TX slots and
 *             advances head/cur; the sink rxsyncs, counts, checks a few frames
 *             and releases everything (head = cur = tail, rxsync).
 *
 * usage: engine.bin --topo unicast|broadcast4 --size BYTES --batch N
 *                   [--warmup SECS] [--secs SECS]
 * Prints one JSON line (the fields bench/engine/engine-js.ts prints).
 */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- layout (src/ring/layout.ts) ---- */
#define NM_BUF_SIZE 2048
#define NM_RESERVED_BUFS 2
#define REGION_ALIGN 4096
#define IF_HDR_SIZE 512 /* layout.ts's IF_HDR_SIZE: counters at 256 and up, unused here */
#define NS_MOREFRAG 0x0020
#define MAX_FRAGS 64
#define MIN_FRAME 14
#define SLOTS 2048

struct slot {
  uint32_t buf_idx;
  uint16_t len;
  uint16_t flags;
  uint64_t ptr;
};

struct ring {
  uint32_t head, cur, tail, num_slots, buf_size; /* (u) head/cur, (k) tail */
  uint16_t ringid, dir;
  uint32_t flags;
  uint8_t pad0[36];
  uint32_t hwcur, hwtail, ksleep, usleep, errors; /* (k) published area */
  uint8_t pad1[44];
};

_Static_assert(sizeof(struct slot) == 16, "slot size");
_Static_assert(offsetof(struct ring, hwcur) == 64, "hwcur offset");
_Static_assert(sizeof(struct ring) == 128, "ring header size");

/* ---- switch (src/switch/forward.ts, mac-table.ts, hash.ts) ---- */
#define HASH_SIZE 1024
#define VALID_B 0x10000
#define NM_BDG_BATCH 1024
#define BATCH_MAX (NM_BDG_BATCH + MAX_FRAGS)
#define FT_NULL BATCH_MAX
#define NM_BDG_BROADCAST 254
#define RINGS_SHIFT 4
#define NUM_QUEUES ((NM_BDG_BROADCAST + 1) << RINGS_SHIFT)
#define BCAST_Q (NM_BDG_BROADCAST << RINGS_SHIFT)
#define MAX_PORTS 8

struct kring { /* the switch's private view of one ring */
  struct ring *ring;
  struct slot *slot;
  uint8_t *bufs;
  uint32_t num_bufs, num_slots, lim, hwcur, hwtail, ringid;
};

enum { C_TX_PACKETS, C_TX_BYTES, C_RX_PACKETS, C_RX_BYTES, C_DROP_RX_FULL, C_DROP_RUNT, C_DROP_NO_DEST, C_BAD, NCNT };

struct port {
  uint8_t *region;
  struct kring tx, rx;
  int index, users;
  uint32_t last_sa, last_sb; /* netmap's last_smac */
  uint64_t cnt[NCNT];
};

struct fwd_ent {
  uint8_t *buf;
  uint32_t len, flags, frags, next;
};

static struct port ports[MAX_PORTS];
static struct port *port_at[NM_BDG_BROADCAST];
static int port_index[MAX_PORTS], active_ports;
static int32_t tab_a[HASH_SIZE], tab_b[HASH_SIZE], tab_port[HASH_SIZE];
static struct fwd_ent ft[BATCH_MAX];
static uint32_t q_head[NUM_QUEUES], q_tail[NUM_QUEUES], q_slots[NUM_QUEUES], q_pkts[NUM_QUEUES], dsts[NUM_QUEUES];
static uint32_t batch_setting = NM_BDG_BATCH;

#define MIX(a, b, c)    \
  do {                  \
    a -= b;             \
    a -= c;             \
    a ^= (c >> 13);     \
    b -= c;             \
    b -= a;             \
    b ^= (a << 8);      \
    c -= a;             \
    c -= b;             \
    c ^= (b >> 13);     \
    a -= b;             \
    a -= c;             \
    a ^= (c >> 12);     \
    b -= c;             \
    b -= a;             \
    b ^= (a << 16);     \
    c -= a;             \
    c -= b;             \
    c ^= (b >> 5);      \
    a -= b;             \
    a -= c;             \
    a ^= (c >> 3);      \
    b -= c;             \
    b -= a;             \
    b ^= (a << 10);     \
    c -= a;             \
    c -= b;             \
    c ^= (b >> 15);     \
  } while (0)

/* a = MAC bytes 0..3 little-endian, b = bytes 4..5 (as src/switch/hash.ts) */
static inline uint32_t rthash(uint32_t a0, uint32_t b0) {
  uint32_t a = 0x9e3779b9u + a0, b = 0x9e3779b9u + b0, c = 0;
  MIX(a, b, c);
  return c & (HASH_SIZE - 1);
}

static inline uint32_t ld32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline uint32_t ld16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

/* nm_sync_prologue: the user's head, or -1 for an illegal head/cur */
static int64_t prologue(struct kring *kr) {
  uint32_t n = kr->num_slots, head = kr->ring->head, cur = kr->ring->cur;
  if (head >= n || cur >= n) return -1;
  int64_t span = (int64_t)kr->hwtail - kr->hwcur, dh = (int64_t)head - kr->hwcur, dc = (int64_t)cur - kr->hwcur;
  if (span < 0) span += n;
  if (dh < 0) dh += n;
  if (dc < 0) dc += n;
  if (dh > span || dc > span || dc < dh) return -1;
  return head;
}

static void reinit(struct kring *kr) {
  kr->ring->head = kr->ring->cur = kr->hwcur;
  kr->ring->tail = kr->hwtail;
  kr->ring->errors++;
}

static uint32_t rx_space(const struct kring *kr) {
  int64_t busy = (int64_t)kr->hwtail - kr->hwcur;
  if (busy < 0) busy += kr->num_slots;
  return kr->lim - (uint32_t)busy;
}

static void deliver(struct port *dp, uint32_t q) {
  struct kring *kr = &dp->rx; /* one RX ring per port: ring 0, merged with broadcast */
  uint32_t next = q_head[q], brd = q_head[BCAST_Q];
  uint32_t total = q_pkts[q] + q_pkts[BCAST_Q];
  uint32_t howmany = rx_space(kr), needed = q_slots[q] + q_slots[BCAST_Q];
  if (needed < howmany) howmany = needed;
  uint32_t j = kr->hwtail, lim = kr->lim, pkts = 0;
  uint64_t bytes = 0;
  while (howmany > 0) {
    uint32_t p;
    if (next < brd) {
      p = next;
      next = ft[p].next;
    } else {
      p = brd;
      brd = ft[p].next;
    }
    uint32_t cnt = ft[p].frags;
    if (cnt > howmany) break;
    howmany -= cnt;
    uint32_t end = p + cnt;
    uint16_t fl = (uint16_t)((cnt << 8) | NS_MOREFRAG);
    struct slot *s = NULL;
    for (uint32_t f = p; f < end; f++) {
      uint32_t len = ft[f].len;
      s = &kr->slot[j];
      uint32_t bi = s->buf_idx;
      if (bi >= kr->num_bufs) bi = 0;
      memcpy(kr->bufs + (size_t)bi * NM_BUF_SIZE, ft[f].buf, len);
      s->len = (uint16_t)len;
      s->flags = fl;
      bytes += len;
      j = j == lim ? 0 : j + 1;
    }
    s->flags = (uint16_t)(cnt << 8);
    pkts++;
    if (next == FT_NULL && brd == FT_NULL) break;
  }
  if (pkts) {
    kr->hwtail = j;
    kr->ring->hwtail = j;
    dp->cnt[C_RX_PACKETS] += pkts;
    dp->cnt[C_RX_BYTES] += bytes;
  }
  if (pkts != total) dp->cnt[C_DROP_RX_FULL] += total - pkts;
}

static void flush(struct port *src, uint32_t n) {
  uint32_t me = (uint32_t)src->index, ndsts = 0, pkts = 0, runts = 0, nodest = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n;) { /* pass 1: classify */
    uint32_t nf = ft[i].frags, len = ft[i].len, cur = i;
    const uint8_t *buf = ft[i].buf;
    i += nf;
    pkts++;
    bytes += len;
    for (uint32_t k = cur + 1; k < i; k++) bytes += ft[k].len;
    if (len < MIN_FRAME) {
      runts++;
      continue;
    }
    uint32_t dst = NM_BDG_BROADCAST;
    uint32_t sa = ld32(buf + 6), sb = ld16(buf + 10);
    if ((sa & 1) == 0 && (sa != src->last_sa || sb != src->last_sb)) {
      uint32_t h = rthash(sa, sb);
      tab_a[h] = (int32_t)sa;
      tab_b[h] = (int32_t)(sb | VALID_B);
      tab_port[h] = (int32_t)me;
      src->last_sa = sa;
      src->last_sb = sb;
    }
    uint32_t da = ld32(buf);
    if ((da & 1) == 0) {
      uint32_t db = ld16(buf + 4), h = rthash(da, db);
      if (tab_a[h] == (int32_t)da && tab_b[h] == (int32_t)(db | VALID_B)) dst = (uint32_t)tab_port[h];
    }
    uint32_t q;
    if (dst == NM_BDG_BROADCAST) {
      q = BCAST_Q;
    } else if (dst == me || dst >= NM_BDG_BROADCAST || port_at[dst] == NULL) {
      nodest++;
      continue;
    } else {
      q = dst << RINGS_SHIFT; /* ring 0 */
    }
    ft[cur].next = FT_NULL;
    if (q_head[q] == FT_NULL) {
      q_head[q] = cur;
      if (q != BCAST_Q) dsts[ndsts++] = q;
    } else {
      ft[q_tail[q]].next = cur;
    }
    q_tail[q] = cur;
    q_slots[q] += nf;
    q_pkts[q]++;
  }
  src->cnt[C_TX_PACKETS] += pkts;
  src->cnt[C_TX_BYTES] += bytes;
  if (runts) src->cnt[C_DROP_RUNT] += runts;
  if (nodest) src->cnt[C_DROP_NO_DEST] += nodest;
  if (q_head[BCAST_Q] != FT_NULL) {
    for (int k = 0; k < active_ports; k++) {
      uint32_t p = (uint32_t)port_index[k];
      if (p == me) continue;
      uint32_t q = p << RINGS_SHIFT;
      if (q_head[q] == FT_NULL) dsts[ndsts++] = q;
    }
  }
  for (uint32_t d = 0; d < ndsts; d++) { /* pass 2: deliver */
    uint32_t q = dsts[d];
    struct port *dp = port_at[q >> RINGS_SHIFT];
    if (dp != NULL && dp->users > 0) deliver(dp, q);
    q_head[q] = q_tail[q] = FT_NULL;
    q_slots[q] = q_pkts[q] = 0;
  }
  q_head[BCAST_Q] = q_tail[BCAST_Q] = FT_NULL;
  q_slots[BCAST_Q] = q_pkts[BCAST_Q] = 0;
}

static void forward(struct port *src, struct kring *kr, uint32_t head) {
  uint32_t n = 0, frags = 1, batch = batch_setting, lim = kr->lim, bad = 0;
  int skipping = 0;
  for (uint32_t j = kr->hwcur; j != head; j = j == lim ? 0 : j + 1) {
    const struct slot *s = &kr->slot[j];
    uint32_t bi = s->buf_idx, len = s->len, fl = s->flags & NS_MOREFRAG;
    if (skipping) {
      if (fl == 0) skipping = 0;
      continue;
    }
    if (bi < NM_RESERVED_BUFS || bi >= kr->num_bufs || len > NM_BUF_SIZE) {
      len = 0;
      bad++;
    }
    ft[n].buf = kr->bufs + (size_t)bi * NM_BUF_SIZE;
    ft[n].len = len;
    ft[n].flags = fl;
    n++;
    if (fl) {
      if (frags == MAX_FRAGS) {
        n -= MAX_FRAGS;
        frags = 1;
        skipping = 1;
      } else {
        frags++;
      }
      continue;
    }
    ft[n - frags].frags = frags;
    frags = 1;
    if (n >= batch) {
      flush(src, n);
      n = 0;
    }
  }
  if (frags > 1) {
    ft[n - 1].flags = 0;
    ft[n - frags + 1].frags = frags - 1;
  }
  if (n > 0) flush(src, n);
  if (bad) src->cnt[C_BAD] += bad;
  kr->hwcur = head;
  kr->hwtail = head == 0 ? lim : head - 1;
  kr->ring->hwcur = kr->hwcur;
  kr->ring->hwtail = kr->hwtail;
}

static void txsync(struct port *p) {
  struct kring *kr = &p->tx;
  int64_t head = prologue(kr);
  if (head < 0) {
    reinit(kr);
    return;
  }
  if ((uint32_t)head != kr->hwcur) forward(p, kr, (uint32_t)head);
  kr->ring->tail = kr->hwtail;
}

static void rxsync(struct port *p) {
  struct kring *kr = &p->rx;
  int64_t head = prologue(kr);
  if (head < 0) {
    reinit(kr);
    return;
  }
  kr->hwcur = (uint32_t)head;
  kr->ring->hwcur = kr->hwcur;
  kr->ring->hwtail = kr->hwtail;
  kr->ring->tail = kr->hwtail;
}

/* ---- setup ---- */

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static void init_kring(struct kring *kr, uint8_t *region, size_t ofs, uint32_t ringid, int is_tx, uint8_t *bufs,
                       uint32_t nbufs, uint32_t first_buf) {
  kr->ring = (struct ring *)(region + ofs);
  kr->slot = (struct slot *)(region + ofs + sizeof(struct ring));
  kr->bufs = bufs;
  kr->num_bufs = nbufs;
  kr->num_slots = SLOTS;
  kr->lim = SLOTS - 1;
  kr->ringid = ringid;
  kr->hwcur = 0;
  kr->hwtail = is_tx ? kr->lim : 0;
  struct ring *r = kr->ring;
  r->num_slots = SLOTS;
  r->buf_size = NM_BUF_SIZE;
  r->dir = is_tx ? 0 : 1;
  r->head = r->cur = 0;
  r->tail = r->hwtail = kr->hwtail;
  for (uint32_t s = 0; s < SLOTS; s++) kr->slot[s].buf_idx = first_buf + s;
}

static void open_port(int i) {
  size_t ring_bytes = sizeof(struct ring) + (size_t)SLOTS * sizeof(struct slot);
  size_t bufs_ofs = align_up(IF_HDR_SIZE + 2 * ring_bytes, NM_BUF_SIZE);
  uint32_t nbufs = NM_RESERVED_BUFS + 2 * SLOTS;
  size_t size = align_up(bufs_ofs + (size_t)nbufs * NM_BUF_SIZE, REGION_ALIGN);
  struct port *p = &ports[i];
  p->region = aligned_alloc(REGION_ALIGN, size);
  if (p->region == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  memset(p->region, 0, bufs_ofs);
  memcpy(p->region, "UVAL", 4);
  init_kring(&p->tx, p->region, IF_HDR_SIZE, 0, 1, p->region + bufs_ofs, nbufs, NM_RESERVED_BUFS);
  init_kring(&p->rx, p->region, IF_HDR_SIZE + ring_bytes, 0, 0, p->region + bufs_ofs, nbufs,
             NM_RESERVED_BUFS + SLOTS);
  p->index = i;
  p->users = 1;
  p->last_sa = 0xffffffffu;
  p->last_sb = 0xffff;
  port_at[i] = p;
  port_index[active_ports++] = i;
}

/* the frame every TX slot holds (the same bytes as bench/engine/frames.ts) */
static void fill_frame(uint8_t *f, int port, int bcast, uint32_t slot, uint32_t size) {
  for (int k = 0; k < 6; k++) {
    f[k] = bcast ? 0xff : (uint8_t)(k == 0 ? 0x02 : k == 5 ? 2 - port : 0);
    f[6 + k] = (uint8_t)(k == 0 ? 0x02 : k == 5 ? port + 1 : 0);
  }
  f[12] = 0x88;
  f[13] = 0xb5;
  for (uint32_t i = 14; i < size; i++) f[i] = (uint8_t)(i * 31 + slot * 7 + (uint32_t)port * 13);
  static const uint8_t snan[8] = {1, 0, 0, 0, 0, 0, 0xf0, 0x7f}; /* a signalling NaN as a double */
  if (size >= 24) memcpy(f + 16, snan, 8);
  uint8_t tail[8] = {(uint8_t)slot, (uint8_t)(slot >> 8), (uint8_t)port, 0xa5, 0x00, 0x00, 0xf8, 0xff};
  memcpy(f + size - 8, tail, 8);
}

/* ---- the measured loop ---- */

static int topo_bcast;
static uint32_t frame_size, batch, nports;
static uint64_t checked, mismatches;

static uint8_t *slot_buf(struct kring *kr, uint32_t s) {
  uint32_t bi = kr->slot[s].buf_idx;
  return kr->bufs + (size_t)(bi < kr->num_bufs ? bi : 0) * NM_BUF_SIZE;
}

static uint32_t send_batch(struct port *p) {
  struct ring *r = p->tx.ring;
  struct slot *slot = (struct slot *)((uint8_t *)r + sizeof(struct ring));
  uint32_t start = r->cur, s = start, n = r->num_slots;
  for (uint32_t k = 0; k < batch; k++) {
    slot[s].len = (uint16_t)frame_size;
    s = s + 1 == n ? 0 : s + 1;
  }
  r->head = r->cur = s;
  txsync(p);
  return start;
}

static void check(struct port *dst, uint32_t rs, struct port *src, uint32_t ts, int full) {
  struct slot *rslot = (struct slot *)((uint8_t *)dst->rx.ring + sizeof(struct ring));
  uint32_t len = rslot[rs].len;
  const uint8_t *a = slot_buf(&dst->rx, rs), *b = slot_buf(&src->tx, ts);
  checked++;
  if (len != frame_size) {
    mismatches++;
    return;
  }
  if (full ? memcmp(a, b, len) != 0 : memcmp(a, b, 8) != 0 || memcmp(a + len - 8, b + len - 8, 8) != 0) mismatches++;
}

static uint32_t sink(struct port *q, struct port *p, uint32_t ts, int verify, int full) {
  struct ring *r = q->rx.ring;
  rxsync(q);
  uint32_t n = r->num_slots, head = r->head, tail = r->tail;
  uint32_t got = tail >= head ? tail - head : tail + n - head;
  if (got > 0 && full) {
    for (uint32_t k = 0; k < got; k++) check(q, (head + k) % n, p, (ts + k) % n, 1);
  } else if (got > 0 && verify) {
    check(q, head, p, ts, 0);
    check(q, (head + got - 1) % n, p, (ts + got - 1) % n, 0);
  }
  r->head = r->cur = tail;
  rxsync(q);
  return got;
}

static uint64_t frames_in, frames_out;

static void iterate(int verify, int full) {
  if (topo_bcast) {
    uint32_t ts = send_batch(&ports[0]);
    for (uint32_t q = 1; q < nports; q++) frames_out += sink(&ports[q], &ports[0], ts, verify, full);
    frames_in += batch;
  } else {
    uint32_t ts = send_batch(&ports[0]);
    frames_out += sink(&ports[1], &ports[0], ts, verify, full);
    ts = send_batch(&ports[1]);
    frames_out += sink(&ports[0], &ports[1], ts, verify, full);
    frames_in += 2 * batch;
  }
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* process CPU seconds: below the wall time when the VM took the core away */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* runs whole chunks of iterations until `secs` passed; returns the elapsed time, CPU time in *cpu */
static double run_for(double secs, uint32_t per_check, double *cpu) {
  double c0 = cpu_now(), t0 = now(), t;
  do {
    for (uint32_t k = 0; k < per_check; k++) iterate(k == 0, 0);
    t = now();
  } while (t - t0 < secs);
  *cpu = cpu_now() - c0;
  return t - t0;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

int main(int argc, char **argv) {
  const char *topo = arg(argc, argv, "--topo", "unicast");
  frame_size = (uint32_t)atoi(arg(argc, argv, "--size", "60"));
  batch = (uint32_t)atoi(arg(argc, argv, "--batch", "1024"));
  double warmup = atof(arg(argc, argv, "--warmup", "0.3")), secs = atof(arg(argc, argv, "--secs", "1.0"));
  topo_bcast = strcmp(topo, "broadcast4") == 0;
  if ((!topo_bcast && strcmp(topo, "unicast") != 0) || frame_size < 24 || frame_size > NM_BUF_SIZE || batch < 1 ||
      batch > NM_BDG_BATCH) {
    fprintf(stderr, "usage: engine.bin --topo unicast|broadcast4 --size 24..2048 --batch 1..1024 [--warmup S] [--secs S]\n");
    return 2;
  }
  batch_setting = batch;
  nports = topo_bcast ? 5 : 2;
  for (uint32_t i = 0; i < NUM_QUEUES; i++) q_head[i] = q_tail[i] = FT_NULL;
  for (uint32_t i = 0; i < nports; i++) open_port((int)i);
  for (uint32_t i = 0; i < (topo_bcast ? 1u : 2u); i++)
    for (uint32_t s = 0; s < SLOTS; s++) fill_frame(slot_buf(&ports[i].tx, s), (int)i, topo_bcast, s, frame_size);

  /* one warm-up exchange of single frames teaches the switch every sender's MAC */
  uint32_t saved = batch;
  batch = 1;
  iterate(1, 1);
  batch = saved;
  uint32_t per_check = 16384 / (batch * (topo_bcast ? 1 : 2));
  if (per_check == 0) per_check = 1;
  double cpu;
  run_for(warmup, per_check, &cpu);

  frames_in = frames_out = 0;
  double elapsed = run_for(secs, per_check, &cpu);
  uint64_t fin = frames_in, fout = frames_out;
  iterate(0, 1); /* every byte of one more round of batches */
  uint64_t drops = 0;
  for (uint32_t i = 0; i < nports; i++) drops += ports[i].cnt[C_DROP_RX_FULL] + ports[i].cnt[C_DROP_NO_DEST];
  uint32_t fanout = topo_bcast ? nports - 1 : 1, learned = 0;
  for (int h = 0; h < HASH_SIZE; h++) learned += (tab_b[h] & VALID_B) != 0;
  const char *err = mismatches              ? "frame bytes differ from the source"
                    : fout != fin * fanout  ? "frames lost or duplicated"
                    : drops                 ? "switch counted drops"
                    : learned != (topo_bcast ? 1u : 2u) ? "learning table does not hold every sender"
                                            : NULL;
  printf("{\"impl\":\"c\",\"topo\":\"%s\",\"size\":%u,\"batch\":%u,\"frames_in\":%llu,\"frames_out\":%llu,"
         "\"secs\":%.6f,\"cpu_secs\":%.6f,\"mpps\":%.4f,\"gbps\":%.4f,\"checked\":%llu,\"mismatches\":%llu,\"drops\":%llu",
         topo, frame_size, batch, (unsigned long long)fin, (unsigned long long)fout, elapsed, cpu, fin / elapsed / 1e6,
         (double)fout * frame_size * 8 / elapsed / 1e9, (unsigned long long)checked,
         (unsigned long long)mismatches, (unsigned long long)drops);
  if (err) printf(",\"error\":\"%s\"", err);
  printf("}\n");
  return err ? 1 : 0;
}
