/*
 * The tools of the `uvale` command, each in its own folder, loaded on demand
 * (so `uvale pkt-gen` does not load the daemon and the other way round).
 */

export interface Tool {
  name: string;
  summary: string;
  /** The tool's module: `run(argv)` resolves with the exit code; it prints its own --help. */
  load: () => Promise<{ run: (argv: string[]) => Promise<number> }>;
}

export const TOOLS: readonly Tool[] = [
  { name: 'daemon', summary: 'run the switch daemon in the foreground', load: () => import('./daemon/main.js') },
  {
    name: 'ctl',
    summary: "netmap's vale-ctl: list ports, attach TAPs, QEMU and other adapters, MAC tables, counters",
    load: () => import('./ctl/main.js'),
  },
  {
    name: 'sysctl',
    summary: 'read and set the dev.netmap.* and uvale.* settings',
    load: () => import('./sysctl/main.js'),
  },
  { name: 'top', summary: 'live view of switches and ports with rates and drops', load: () => import('./top/main.js') },
  {
    name: 'pkt-gen',
    summary: "netmap's packet generator and sink (tx, rx, ping, pong, txseq, rxseq)",
    load: () => import('./pkt-gen/main.js'),
  },
  {
    name: 'tcpdump',
    summary: 'capture on a port: print frames or write pcap',
    load: () => import('./tcpdump/main.js'),
  },
  {
    name: 'apply',
    summary: 'set the daemon up from a YAML or JSON file (settings, persistent ports, attachments)',
    load: () => import('./apply/main.js'),
  },
  {
    name: 'bridge',
    summary: "forward frames both ways between two ports (netmap's bridge)",
    load: () => import('./bridge/main.js'),
  },
];
