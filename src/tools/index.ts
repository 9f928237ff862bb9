/* The tools of the `uvale` command, each in its own folder, loaded on demand. */

import { registerCommand } from '../cli/main.js';

registerCommand('daemon', 'run the switch daemon in the foreground', () => import('./daemon/main.js'));
registerCommand(
  'ctl',
  "netmap's vale-ctl: list ports, attach TAPs and persistent ports, MAC tables, counters",
  () => import('./ctl/main.js'),
);
registerCommand('sysctl', 'read and set the dev.netmap.* and uvale.* settings', () => import('./sysctl/main.js'));
registerCommand('top', 'live view of switches and ports with rates and drops', () => import('./top/main.js'));
registerCommand(
  'pkt-gen',
  "netmap's packet generator and sink (tx, rx, ping, pong, txseq, rxseq)",
  () => import('./pkt-gen/main.js'),
);
registerCommand('tcpdump', 'capture on a port: print frames or write pcap', () => import('./tcpdump/main.js'));
registerCommand(
  'bridge',
  "forward frames both ways between two ports (netmap's bridge)",
  () => import('./bridge/main.js'),
);
