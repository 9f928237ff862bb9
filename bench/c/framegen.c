/*
 * framegen.c: the frame generator and counter of the `stream-60` figure
 * (bench/e2e/stream.ts compiles it with `cc -O2` and runs it as children).
 * The same program feeds uvale (through two QEMU stream ports) and the
 * reference, vde2's vde_switch (through two VDE ports), so both switches see
 * the same frames from the same code; only the transport differs, each
 * switch's own: QEMU's stream framing for uvale, one datagram per frame for
 * vde_switch (what QEMU's -netdev vde and every libvdeplug client send).
 *
 *   framegen gen qemu PATH  --size N --secs S
 *       connects to a unix stream socket and writes frames as fast as it
 *       can, each behind QEMU's 4-byte big-endian length, 1024 frames per
 *       write() (64 KiB at 60 B): one system call per 1024 frames, so the
 *       generator costs little next to the switch.
 *   framegen gen vde DIR    --size N --secs S
 *       joins the vde_switch whose control socket is DIR/ctl (the join
 *       protocol of libvdeplug's vde module, version 3: a datagram socket
 *       bound in DIR, a request on the control stream, the switch's data
 *       socket path back) and sends one datagram per frame, 64 per
 *       sendmmsg().
 *   framegen cnt qemu|vde ADDR --size N --warmup W --secs S
 *       connects the same way, announces its MAC with one broadcast frame
 *       (src 02:00:00:00:00:02, ethertype 0x88b6) so the switch learns
 *       where it is, prints "ready", then counts the frames it reads.
 *   framegen cnt listen PATH ...
 *       the wire: listens on PATH for the generator itself (no switch), to
 *       show what generator and counter can move together.
 *
 * Frames: dst 02:00:00:00:00:02 (the counter, a learned unicast address),
 * src 02:00:00:00:00:01, ethertype 0x88b5, a 32-bit sequence number at
 * byte 14, zeros to SIZE bytes. The generator stops after S seconds, on
 * SIGTERM, or when the far side closes.
 *
 * Counting: reads are timestamped as they return. The window opens at the
 * first read at least W seconds after the first frame and closes at the last
 * read before it is S seconds long (or when no frame came for 2 s); fps =
 * frames read inside the window / its length. Frames that are not the
 * generator's (other ethertype or length) are counted apart; gaps in the
 * sequence inside the window are frames the switch dropped.
 *
 * Each role prints one JSON line on stdout at the end; errors go to stderr
 * with exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GEN_MAC 0x01
#define CNT_MAC 0x02
#define ETH_GEN 0x88b5
#define ETH_ANNOUNCE 0x88b6
#define QEMU_BATCH 1024 /* frames per write() */
#define VDE_BATCH 64    /* datagrams per sendmmsg() / recvmmsg() */
#define MAX_FRAME 1514
#define RBUF (4 << 20)
#define IDLE_MS 2000
#define FIRST_FRAME_MS 10000

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_now(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
         (double)u.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) {
  fprintf(stderr, "framegen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static const char *opt(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

static void fill_frame(unsigned char *f, int size, unsigned char dst, unsigned char src, int type) {
  memset(f, 0, (size_t)size);
  f[0] = 0x02;
  f[5] = dst;
  f[6] = 0x02;
  f[11] = src;
  f[12] = (unsigned char)(type >> 8);
  f[13] = (unsigned char)type;
}

static void put_seq(unsigned char *f, uint32_t s) {
  f[14] = (unsigned char)(s >> 24);
  f[15] = (unsigned char)(s >> 16);
  f[16] = (unsigned char)(s >> 8);
  f[17] = (unsigned char)s;
}

static uint32_t get_seq(const unsigned char *f) {
  return ((uint32_t)f[14] << 24) | ((uint32_t)f[15] << 16) | ((uint32_t)f[16] << 8) | (uint32_t)f[17];
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    c += w;
    n -= (size_t)w;
  }
}

static struct sockaddr_un unix_addr(const char *path) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a.sun_path) {
    fprintf(stderr, "framegen: socket path too long: %s\n", path);
    exit(1);
  }
  strcpy(a.sun_path, path);
  return a;
}

static int stream_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un a = unix_addr(path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die(path);
  return fd;
}

static int stream_listen_accept(const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  struct sockaddr_un a = unix_addr(path);
  unlink(path);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) die(path);
  printf("ready\n");
  fflush(stdout);
  int fd = accept(s, NULL, NULL);
  if (fd < 0) die("accept");
  close(s);
  unlink(path);
  return fd;
}

/* vde_switch's join request, version 3 (vde2 datasock.c, libvdeplug_vde.c); host byte order. */
struct vde_request {
  uint32_t magic;
  uint32_t version;
  uint32_t type; /* REQ_NEW_CONTROL (0) | port << 8; port 0 = any */
  struct sockaddr_un sock;
  char description[128];
} __attribute__((packed));

/* Joins the vde_switch of DIR; returns the connected data socket. The control stream must stay open. */
static int vde_join(const char *dir, int *ctl_out) {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  snprintf(path, sizeof path, "%s/.%05d-%05d", dir, (int)getpid() % 100000, 0);
  int data = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (data < 0) die("socket");
  struct sockaddr_un me = unix_addr(path);
  unlink(path);
  if (bind(data, (struct sockaddr *)&me, sizeof me) < 0) die(path);
  snprintf(path, sizeof path, "%s/ctl", dir);
  int ctl = stream_connect(path);
  struct vde_request req;
  memset(&req, 0, sizeof req);
  req.magic = 0xfeedface;
  req.version = 3;
  req.type = 0;
  req.sock = me;
  const char *descr = "uvale bench framegen";
  memcpy(req.description, descr, strlen(descr));
  write_all(ctl, &req, offsetof(struct vde_request, description) + strlen(descr));
  struct sockaddr_un sw;
  size_t got = 0;
  while (got < sizeof sw) {
    ssize_t r = read(ctl, (char *)&sw + got, sizeof sw - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "framegen: vde_switch at %s closed the join without an answer\n", dir);
      exit(1);
    }
    got += (size_t)r;
  }
  if (connect(data, (struct sockaddr *)&sw, sizeof sw) < 0) die("connect to the switch's data socket");
  unlink(me.sun_path);
  *ctl_out = ctl;
  return data;
}

static int gen(const char *mode, const char *addr, int size, double secs) {
  int ctl = -1;
  int vde = strcmp(mode, "vde") == 0;
  int fd = vde ? vde_join(addr, &ctl) : stream_connect(addr);
  uint64_t sent = 0;
  double t0 = now(), c0 = cpu_now(), t1;
  if (vde) {
    static unsigned char frames[VDE_BATCH][MAX_FRAME];
    struct iovec iov[VDE_BATCH];
    struct mmsghdr msgs[VDE_BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < VDE_BATCH; i++) {
      fill_frame(frames[i], size, CNT_MAC, GEN_MAC, ETH_GEN);
      iov[i].iov_base = frames[i];
      iov[i].iov_len = (size_t)size;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stop && (t1 = now()) - t0 < secs) {
      for (int i = 0; i < VDE_BATCH; i++) put_seq(frames[i], (uint32_t)(sent + (uint64_t)i));
      int done = 0;
      while (done < VDE_BATCH && !stop) {
        int r = sendmmsg(fd, msgs + done, VDE_BATCH - done, 0);
        if (r < 0) {
          if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
          if (errno == ECONNREFUSED || errno == EPIPE) goto out; /* the switch went away */
          die("sendmmsg");
        }
        done += r;
      }
      sent += (uint64_t)done;
    }
  } else {
    size_t rec = (size_t)size + 4;
    unsigned char *buf = malloc(rec * QEMU_BATCH);
    if (buf == NULL) die("malloc");
    for (int i = 0; i < QEMU_BATCH; i++) {
      unsigned char *r = buf + (size_t)i * rec;
      r[0] = (unsigned char)(size >> 24);
      r[1] = (unsigned char)(size >> 16);
      r[2] = (unsigned char)(size >> 8);
      r[3] = (unsigned char)size;
      fill_frame(r + 4, size, CNT_MAC, GEN_MAC, ETH_GEN);
    }
    while (!stop && (t1 = now()) - t0 < secs) {
      for (int i = 0; i < QEMU_BATCH; i++) put_seq(buf + (size_t)i * rec + 4, (uint32_t)(sent + (uint64_t)i));
      size_t off = 0, len = rec * QEMU_BATCH;
      while (off < len && !stop) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EPIPE || errno == ECONNRESET) goto out; /* the far side went away */
          die("write");
        }
        off += (size_t)w;
      }
      sent += off / rec; /* a frame cut by SIGTERM still counts as offered */
      if (off < len) break;
    }
  }
out:
  t1 = now();
  printf("{\"role\":\"gen\",\"mode\":\"%s\",\"size\":%d,\"sent\":%llu,\"secs\":%.6f,\"fps\":%.1f,\"cpu_secs\":%.6f}\n", mode,
         size, (unsigned long long)sent, t1 - t0, (double)sent / (t1 - t0), cpu_now() - c0);
  fflush(stdout);
  if (ctl >= 0) close(ctl);
  close(fd);
  return 0;
}

struct count {
  int size;
  int counting;      /* 0 before the window, 1 inside */
  uint64_t frames;   /* generator frames inside the window */
  uint64_t other;    /* anything else, whole run */
  uint64_t lost;     /* sequence gaps inside the window */
  uint64_t ooo;      /* sequence going back, whole run */
  uint64_t all;      /* generator frames, whole run */
  uint32_t next_seq; /* expected */
  int have_seq;
};

static void got_frame(struct count *c, const unsigned char *f, size_t len) {
  if (len != (size_t)c->size || len < 18 || f[12] != (ETH_GEN >> 8) || f[13] != (ETH_GEN & 0xff) || f[5] != CNT_MAC) {
    c->other++;
    return;
  }
  uint32_t s = get_seq(f);
  if (c->have_seq) {
    if (s > c->next_seq && c->counting) c->lost += s - c->next_seq;
    if (s < c->next_seq) c->ooo++;
  }
  if (!c->have_seq || s >= c->next_seq) c->next_seq = s + 1;
  c->have_seq = 1;
  c->all++;
  if (c->counting) c->frames++;
}

static int cnt(const char *mode, const char *addr, int size, double warmup, double secs) {
  int vde = strcmp(mode, "vde") == 0, listening = strcmp(mode, "listen") == 0, ctl = -1, fd;
  unsigned char ann[64];
  fill_frame(ann, 60, 0xff, CNT_MAC, ETH_ANNOUNCE);
  memset(ann, 0xff, 6);
  if (vde) {
    fd = vde_join(addr, &ctl);
    if (send(fd, ann, 60, 0) != 60) die("announce");
    printf("ready\n");
    fflush(stdout);
  } else if (listening) {
    fd = stream_listen_accept(addr);
  } else {
    fd = stream_connect(addr);
    unsigned char a[64];
    a[0] = a[1] = a[2] = 0;
    a[3] = 60;
    memcpy(a + 4, ann, 60);
    write_all(fd, a, 64);
    printf("ready\n");
    fflush(stdout);
  }
  static unsigned char buf[RBUF];
  static unsigned char dbuf[VDE_BATCH][2048];
  struct iovec iov[VDE_BATCH];
  struct mmsghdr msgs[VDE_BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < VDE_BATCH; i++) {
    iov[i].iov_base = dbuf[i];
    iov[i].iov_len = sizeof dbuf[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  struct count c;
  memset(&c, 0, sizeof c);
  c.size = size;
  size_t have = 0;
  double t_first = 0, t_start = 0, t_end = 0, c_start = 0, c_end = 0, t_wait = now();
  const char *why = NULL;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, c.all > 0 ? IDLE_MS : 200);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (r == 0) {
      if (c.all > 0) break; /* the generator stopped */
      if ((now() - t_wait) * 1000 > FIRST_FRAME_MS) {
        why = "no frame arrived";
        break;
      }
      continue;
    }
    /* one read (a burst of datagrams, or bytes of the stream), timestamped as it returns */
    double t;
    int k = 0;
    ssize_t n = 0;
    if (vde) {
      k = recvmmsg(fd, msgs, VDE_BATCH, MSG_DONTWAIT, NULL);
      if (k < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        die("recvmmsg");
      }
    } else {
      n = read(fd, buf + have, sizeof buf - have);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      if (n == 0) break; /* the far side closed */
    }
    t = now();
    if (c.counting && t - t_start > secs) break;
    int opening = c.all > 0 && !c.counting && t - t_first >= warmup;
    if (vde) {
      for (int i = 0; i < k; i++) got_frame(&c, dbuf[i], msgs[i].msg_len);
    } else {
      have += (size_t)n;
      size_t off = 0;
      while (have - off >= 4) {
        uint32_t len = ((uint32_t)buf[off] << 24) | ((uint32_t)buf[off + 1] << 16) | ((uint32_t)buf[off + 2] << 8) |
                       (uint32_t)buf[off + 3];
        if (len > sizeof buf - 4) {
          fprintf(stderr, "framegen: bad length prefix %u\n", len);
          return 1;
        }
        if (have - off < 4 + (size_t)len) break;
        got_frame(&c, buf + off + 4, len);
        off += 4 + len;
      }
      memmove(buf, buf + off, have - off);
      have -= off;
    }
    if (t_first == 0 && c.all > 0) t_first = t;
    if (opening) {
      /* this read's frames arrived before the window opened: not counted */
      c.counting = 1;
      t_start = t_end = t;
      c_start = c_end = cpu_now();
    } else if (c.counting) {
      t_end = t;
      c_end = cpu_now();
    }
  }
  double w = t_end - t_start;
  if (why == NULL && (!c.counting || w <= 0)) why = "the traffic stopped before the window";
  if (why != NULL) {
    fprintf(stderr, "framegen: %s (frames %llu, other %llu)\n", why, (unsigned long long)c.all,
            (unsigned long long)c.other);
    return 1;
  }
  printf("{\"role\":\"cnt\",\"mode\":\"%s\",\"size\":%d,\"frames\":%llu,\"secs\":%.6f,\"fps\":%.1f,\"lost\":%llu,"
         "\"ooo\":%llu,\"other\":%llu,\"total\":%llu,\"cpu_secs\":%.6f}\n",
         mode, size, (unsigned long long)c.frames, w, (double)c.frames / w, (unsigned long long)c.lost,
         (unsigned long long)c.ooo, (unsigned long long)c.other, (unsigned long long)c.all, c_end - c_start);
  fflush(stdout);
  if (ctl >= 0) close(ctl);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  const char *usage =
      "usage: framegen gen qemu|vde ADDR [--size N] [--secs S]\n"
      "       framegen cnt qemu|vde|listen ADDR [--size N] [--warmup W] [--secs S]\n";
  if (argc < 4) {
    fputs(usage, stderr);
    return 2;
  }
  const char *role = argv[1], *mode = argv[2], *addr = argv[3];
  int size = atoi(opt(argc, argv, "--size", "60"));
  double secs = atof(opt(argc, argv, "--secs", "2")), warmup = atof(opt(argc, argv, "--warmup", "0.5"));
  if (size < 60 || size > MAX_FRAME || !(secs > 0)) {
    fputs("framegen: --size must be 60..1514 and --secs positive\n", stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term; /* no SA_RESTART: a blocked write returns */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  if (strcmp(role, "gen") == 0 && (strcmp(mode, "qemu") == 0 || strcmp(mode, "vde") == 0))
    return gen(mode, addr, size, secs);
  if (strcmp(role, "cnt") == 0 && (strcmp(mode, "qemu") == 0 || strcmp(mode, "vde") == 0 || strcmp(mode, "listen") == 0))
    return cnt(mode, addr, size, warmup, secs);
  fputs(usage, stderr);
  return 2;
}
