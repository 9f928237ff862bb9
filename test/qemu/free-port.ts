/*
 * Free loopback port numbers for tests that must name a port before anything
 * listens on it (QEMU's listeners, UDP pairs): the kernel picks them for
 * sockets bound to port 0 (all held at once, so they differ), which are then
 * closed. Another process could take one in between; the kernel's choice of
 * ephemeral ports makes that unlikely.
 */

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

export async function freeTcpPorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
      const a = s.address();
      ports.push(typeof a === 'object' && a !== null ? a.port : 0);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
}

export async function freeUdpPorts(n: number): Promise<number[]> {
  const socks: UdpSocket[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createSocket('udp4');
      socks.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, '127.0.0.1', () => resolve());
      });
      ports.push(s.address().port);
    }
  } finally {
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  return ports;
}
