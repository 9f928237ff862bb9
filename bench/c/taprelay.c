/*
 * taprelay.c: the floor for tap-rtt (bench/e2e/tap.ts compiles it with
 * `cc -O2` and runs it as a child). The least a userspace switch with TAP
 * ports can do: two TAPs, one process, poll() on both, and each frame read
 * from one written to the other. No learning, no rings, no batching beyond
 * what poll hands over. Its round trip is what waking a process twice per
 * ping costs on this machine, which no userspace switch can go under.
 *
 *   taprelay TAP1 TAP2
 *
 * Creates both TAPs (IFF_TAP | IFF_NO_PI, no vnet header; they vanish when
 * it exits), prints "ready", and relays until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static int tap_open(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) {
    perror("taprelay: /dev/net/tun");
    return -1;
  }
  struct ifreq r;
  memset(&r, 0, sizeof r);
  r.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &r) < 0) {
    fprintf(stderr, "taprelay: TUNSETIFF %s: %s\n", name, strerror(errno));
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs("usage: taprelay TAP1 TAP2\n", stderr);
    return 2;
  }
  int fd[2] = {tap_open(argv[1]), tap_open(argv[2])};
  if (fd[0] < 0 || fd[1] < 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready\n");
  fflush(stdout);
  static unsigned char buf[65536];
  while (!stop) {
    struct pollfd p[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("taprelay: poll");
      return 1;
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      for (int k = 0; k < 64; k++) { /* a burst, then the other side */
        ssize_t n = read(fd[i], buf, sizeof buf);
        if (n <= 0) break;
        if (write(fd[1 - i], buf, (size_t)n) < 0 && errno != EAGAIN) {
          /* the other TAP is down or full: the frame is dropped, as a switch would */
        }
      }
    }
  }
  return 0;
}
