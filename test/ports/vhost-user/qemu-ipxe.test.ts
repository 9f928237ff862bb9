/*
 * QEMU as the front-end: a VM with no disk under TCG boots its network ROM
 * (iPXE), which negotiates vhost-user with the port (memfd guest memory),
 * sets up the rings and broadcasts DHCP discovers through it. The first one
 * must reach a netmap port as QEMU's virtio-net sent it, and a frame sent
 * back must land in the guest's receive buffers. Skipped without QEMU.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPort, ValeHost } from '../../../src/index.js';
import { VhostUserPort } from '../../../src/ports/vhost-user/vhost-port.js';
import { frame, receive, send } from '../../helpers/vale.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const skip = !existsSync(QEMU) ? 'qemu-system-x86_64 is not installed' : false;
const MAC = '52:54:00:12:34:56';

test('QEMU (iPXE under TCG) on a vhost-user port: its DHCP discover reaches the switch, a reply reaches the guest', {
  skip,
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvale-vu-q-'));
  const sock = join(dir, 'vm.sock');
  const host = new ValeHost();
  const logs: string[] = [];
  const port = VhostUserPort.attach(host, 'vale-vq:vm', sock, { log: (l) => logs.push(l) });
  const np = openPort('vale-vq:np', { host });
  let out = '';
  const qemu = spawn(
    QEMU,
    [
      '-M',
      'pc',
      '-m',
      '128',
      '-display',
      'none',
      '-serial',
      'none',
      '-monitor',
      'none',
      '-object',
      'memory-backend-memfd,id=m,size=128M,share=on',
      '-numa',
      'node,memdev=m',
      '-chardev',
      `socket,id=c0,path=${sock}`,
      '-netdev',
      'vhost-user,id=n0,chardev=c0',
      '-device',
      `virtio-net-pci,netdev=n0,mac=${MAC}`,
      '-boot',
      'n',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  qemu.stdout!.on('data', (d: Buffer) => (out += d));
  qemu.stderr!.on('data', (d: Buffer) => (out += d));
  try {
    const got = await receive(np, 1, 60_000);
    assert.ok(got.length >= 1, `no frame from the guest; qemu: ${out.slice(-1000)}; port: ${logs.join(' | ')}`);
    const f = got[0]!;
    assert.equal(Buffer.from(f.subarray(0, 6)).toString('hex'), 'ffffffffffff', 'broadcast');
    assert.equal(Buffer.from(f.subarray(6, 12)).toString('hex'), MAC.replaceAll(':', ''), "the guest's MAC");
    assert.equal((f[12]! << 8) | f[13]!, 0x0800, 'IPv4');
    assert.equal(f[23], 17, 'UDP');
    assert.equal((f[34]! << 8) | f[35]!, 68, 'from the DHCP client port');
    assert.equal((f[36]! << 8) | f[37]!, 67, 'to the DHCP server port');
    const info = port.info();
    assert.equal(info.state, 'up');
    assert.match(String(info.extra?.features), /^0x1/, 'VIRTIO_F_VERSION_1 negotiated');
    // A frame to the guest's MAC lands in its receive buffers (iPXE posts them; it need not answer).
    const before = port.info().counters.outFrames;
    send(np, [frame(MAC, '02:00:00:00:00:99', { len: 60, seq: 1 })]);
    const end = Date.now() + 5000;
    while (port.info().counters.outFrames === before && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      port.info().counters.outFrames,
      before + 1,
      `delivered to the guest (drops ${port.info().counters.outDrops})`,
    );
  } finally {
    const gone = new Promise((r) => qemu.once('exit', r));
    qemu.kill('SIGKILL');
    await gone;
    np.close();
    port.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
