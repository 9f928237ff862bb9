/*
 * Frames of every kind the packet library builds or decodes, shared by the
 * decoder, pcap and real-peer tests, each with the line `tcpdump -n` prints
 * for it (checked against tcpdump 4.99.3 by peers.test.ts).
 */

import { spawnSync } from 'node:child_process';
import {
  addVlanTag,
  buildArp,
  buildEthernet,
  buildIpv4,
  buildIpv6,
  icmpEcho,
  ndpMessage,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcpHeader,
  udpHeader,
} from '../../src/pkt/build.js';
import { inetChecksum, setIpv4HeaderChecksum, setL4Checksum6 } from '../../src/pkt/checksum.js';
import { parseIp6 } from '../../src/pkt/ether.js';
import { PktGenFrame } from '../../src/pkt/pktgen-frame.js';

export interface CorpusFrame {
  name: string;
  frame: Uint8Array;
  /** Captured bytes (default all). */
  caplen?: number;
  /** Length on the wire (default frame.length). */
  origLen?: number;
  /** `tcpdump -n` output after the time stamp. */
  line: string;
  /** Every checksum in it is valid (tshark/scapy check those). */
  checksummed?: boolean;
}

const te = new TextEncoder();

/** IGMPv3 report with the router-alert IP option (a 24-byte IPv4 header), as hosts send on joining a group. */
function igmpV3Report(): Uint8Array {
  const igmp = [0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 239, 1, 2, 3];
  const c = inetChecksum(Uint8Array.from(igmp), 0, igmp.length);
  igmp[2] = c >>> 8;
  igmp[3] = c & 0xff;
  const ip = [0x46, 0xc0, 0, 24 + 16, 0, 0, 0x40, 0, 1, 2, 0, 0, 10, 0, 0, 1, 224, 0, 0, 22, 0x94, 4, 0, 0];
  const f = buildEthernet('01:00:5e:00:00:16', A, 0x0800, Uint8Array.from([...ip, ...igmp]));
  setIpv4HeaderChecksum(f, 14);
  return padFrame60(f);
}

/** MLDv2 report behind a hop-by-hop header with router alert, as IPv6 hosts send. */
function mldV2Report(): Uint8Array {
  const hbh = [58, 0, 5, 2, 0, 0, 1, 0];
  const mld = [143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, ...parseIp6('ff02::fb')];
  const ip6 = [0x60, 0, 0, 0, 0, hbh.length + mld.length, 0, 1, ...parseIp6('fe80::1'), ...parseIp6('ff02::16')];
  const f = buildEthernet('33:33:00:00:00:16', A, 0x86dd, Uint8Array.from([...ip6, ...hbh, ...mld]));
  setL4Checksum6(f, 14, 62, mld.length, 58);
  return f;
}

/** An 802.3 frame (length field) with an LLC TEST command between SNA SAPs. */
function llcTest(): Uint8Array {
  const llc = [0x04, 0x04, 0xe3, ...te.encode('llc test')];
  const f = buildEthernet(B, A, llc.length, Uint8Array.from(llc));
  return padFrame60(f);
}

function padFrame60(f: Uint8Array): Uint8Array {
  const p = new Uint8Array(Math.max(60, f.length));
  p.set(f);
  return p;
}
const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';

export function corpus(): CorpusFrame[] {
  const pktgen = new PktGenFrame().bytes.slice();
  const syn = buildIpv4({
    srcMac: A,
    dstMac: B,
    src: '10.0.0.1',
    dst: '10.0.0.2',
    proto: 6,
    l4: tcpHeader({
      sport: 40000,
      dport: 5555,
      seq: 1000,
      flags: TCP_SYN,
      win: 64240,
      options: new Uint8Array([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]),
    }),
  });
  const tcp = (from: 'a' | 'b', seq: number, ack: number, flags: number, payload?: string) =>
    buildIpv4({
      srcMac: from === 'a' ? A : B,
      dstMac: from === 'a' ? B : A,
      src: from === 'a' ? '10.0.0.1' : '10.0.0.2',
      dst: from === 'a' ? '10.0.0.2' : '10.0.0.1',
      proto: 6,
      l4: tcpHeader({
        sport: from === 'a' ? 40000 : 5555,
        dport: from === 'a' ? 5555 : 40000,
        seq,
        ack,
        flags,
        win: 502,
        ...(payload === undefined ? {} : { payload: te.encode(payload) }),
      }),
    });
  return [
    {
      name: 'pkt-gen default',
      frame: pktgen,
      line: 'IP 10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18',
      checksummed: true,
    },
    {
      name: 'pkt-gen -6',
      frame: new PktGenFrame({
        family: 6,
        length: 80,
        src: '[2001:db8::1]:1234',
        dst: '[2001:db8::2]:5678',
      }).bytes.slice(),
      line: 'IP6 2001:db8::1.1234 > 2001:db8::2.5678: UDP, length 18',
      checksummed: true,
    },
    {
      name: 'pkt-gen 1514',
      frame: new PktGenFrame({ length: 1514, srcMac: A, dst: '10.1.0.9:9' }).bytes.slice(),
      line: 'IP 10.0.0.1.1234 > 10.1.0.9.9: UDP, length 1472',
      checksummed: true,
    },
    {
      name: 'ARP request',
      frame: buildArp('request', { srcMac: A, srcIp: '10.0.0.1', dstIp: '10.0.0.2' }),
      line: 'ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46',
    },
    {
      name: 'ARP reply',
      frame: buildArp('reply', { srcMac: B, srcIp: '10.0.0.2', dstIp: '10.0.0.1', dstMac: A, pad: false }),
      line: 'ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02, length 28',
    },
    {
      name: 'ICMP echo request',
      frame: buildIpv4({
        srcMac: A,
        dstMac: B,
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 1,
        l4: icmpEcho(8, 4660, 1, te.encode('abcdefgh01234567')),
      }),
      line: 'IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 4660, seq 1, length 24',
      checksummed: true,
    },
    {
      name: 'ICMP echo reply',
      frame: buildIpv4({
        srcMac: B,
        dstMac: A,
        src: '10.0.0.2',
        dst: '10.0.0.1',
        proto: 1,
        l4: icmpEcho(0, 4660, 1, te.encode('abcdefgh01234567')),
      }),
      line: 'IP 10.0.0.2 > 10.0.0.1: ICMP echo reply, id 4660, seq 1, length 24',
      checksummed: true,
    },
    {
      name: 'ICMP port unreachable',
      frame: buildIpv4({
        srcMac: B,
        dstMac: A,
        src: '10.0.0.2',
        dst: '10.0.0.1',
        proto: 1,
        l4: new Uint8Array([
          3,
          3,
          0,
          0,
          0,
          0,
          0,
          0,
          ...buildIpv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 17, l4: udpHeader(5000, 53), pad: false }).subarray(
            14,
          ),
        ]),
      }),
      line: 'IP 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 53 unreachable, length 36',
      checksummed: true,
    },
    {
      name: 'TCP SYN',
      frame: syn,
      line: 'IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0',
      checksummed: true,
    },
    {
      name: 'TCP SYN-ACK',
      frame: tcp('b', 5000, 1001, TCP_SYN | TCP_ACK),
      line: 'IP 10.0.0.2.5555 > 10.0.0.1.40000: Flags [S.], seq 5000, ack 1001, win 502, length 0',
      checksummed: true,
    },
    {
      name: 'TCP ACK',
      frame: tcp('a', 1001, 5001, TCP_ACK),
      line: 'IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [.], ack 1, win 502, length 0',
      checksummed: true,
    },
    {
      name: 'TCP PSH-ACK',
      frame: tcp('a', 1001, 5001, TCP_PSH | TCP_ACK, 'hello, switch'),
      line: 'IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [P.], seq 1:14, ack 1, win 502, length 13',
      checksummed: true,
    },
    {
      name: 'TCP FIN-ACK',
      frame: tcp('b', 5001, 1014, TCP_FIN | TCP_ACK),
      line: 'IP 10.0.0.2.5555 > 10.0.0.1.40000: Flags [F.], seq 1, ack 14, win 502, length 0',
      checksummed: true,
    },
    {
      name: 'TCP RST',
      frame: tcp('a', 1014, 0, TCP_RST),
      line: 'IP 10.0.0.1.40000 > 10.0.0.2.5555: Flags [R], seq 1014, win 502, length 0',
      checksummed: true,
    },
    {
      name: 'VLAN-tagged pkt-gen frame',
      frame: addVlanTag(pktgen, 100, 3),
      line: 'IP 10.0.0.1.1234 > 10.1.0.1.1234: UDP, length 18',
      checksummed: true,
    },
    {
      name: 'ICMPv6 neighbor solicitation',
      frame: buildIpv6({
        srcMac: A,
        dstMac: '33:33:ff:00:00:02',
        src: 'fe80::1',
        dst: 'ff02::1:ff00:2',
        proto: 58,
        ttl: 255,
        l4: ndpMessage(135, 'fe80::2', A),
      }),
      line: 'IP6 fe80::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fe80::2, length 32',
      checksummed: true,
    },
    {
      name: 'ICMPv6 neighbor advertisement',
      frame: buildIpv6({
        srcMac: B,
        dstMac: A,
        src: 'fe80::2',
        dst: 'fe80::1',
        proto: 58,
        ttl: 255,
        l4: ndpMessage(136, 'fe80::2', B, 0x60),
      }),
      line: 'IP6 fe80::2 > fe80::1: ICMP6, neighbor advertisement, tgt is fe80::2, length 32',
      checksummed: true,
    },
    {
      name: 'ICMPv6 echo request',
      frame: buildIpv6({
        srcMac: A,
        dstMac: B,
        src: '2001:db8::1',
        dst: '2001:db8::2',
        proto: 58,
        l4: icmpEcho(128, 7, 9, te.encode('ping6')),
      }),
      line: 'IP6 2001:db8::1 > 2001:db8::2: ICMP6, echo request, id 7, seq 9, length 13',
      checksummed: true,
    },
    {
      name: 'IGMPv3 report',
      frame: igmpV3Report(),
      line: 'IP 10.0.0.1 > 224.0.0.22: igmp v3 report, 1 group record(s)',
      checksummed: true,
    },
    {
      name: 'MLDv2 report',
      frame: mldV2Report(),
      line: 'IP6 fe80::1 > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28',
      checksummed: true,
    },
    {
      name: '802.3 LLC TEST',
      frame: llcTest(),
      line:
        '02:00:00:00:00:01 > 02:00:00:00:00:02 SNA Unnumbered, test, Flags [Command], length 11' +
        '\n\t0x0000:  0404 e36c 6c63 2074 6573 74              ...llc.test',
    },
    {
      name: 'unknown ethertype',
      frame: buildEthernet('ff:ff:ff:ff:ff:ff', A, 0x88b5, te.encode('local experimental ethertype payload')),
      line:
        '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 50: ' +
        '\n\t0x0000:  6c6f 6361 6c20 6578 7065 7269 6d65 6e74  local.experiment' +
        '\n\t0x0010:  616c 2065 7468 6572 7479 7065 2070 6179  al.ethertype.pay' +
        '\n\t0x0020:  6c6f 6164                                load',
    },
    { name: 'truncated in IPv4 header', frame: pktgen, caplen: 30, origLen: 60, line: 'IP  [|ip]' },
    {
      name: 'truncated in UDP header',
      frame: pktgen,
      caplen: 38,
      origLen: 60,
      line: 'IP 10.0.0.1.1234 > 10.1.0.1.1234:  [|udp]',
    },
    { name: 'truncated in TCP header', frame: syn, caplen: 40, line: 'IP 10.0.0.1.40000 > 10.0.0.2.5555:  [|tcp]' },
    { name: 'truncated Ethernet header', frame: pktgen, caplen: 10, origLen: 60, line: ' [|ether]' },
  ];
}

/** Path of an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = (r.stdout ?? '').trim();
  return r.status === 0 && p !== '' ? p : undefined;
}

/** A python3 that can import scapy (Debian's python3-scapy lives in /usr/bin/python3), or undefined. */
export function scapyPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import scapy.all'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
