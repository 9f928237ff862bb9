/*
 * pcap-filter expressions for `uvale tcpdump`: compiled by the real libpcap
 * through `tcpdump -y EN10MB -ddd EXPR` (no interface needed, nothing
 * captured), then run as classic BPF by src/pkt/bpf.ts. Without tcpdump
 * installed, an expression is refused with what to do instead.
 */

import { spawnSync } from 'node:child_process';
import { BpfProgram, parseBpfDecimal } from '../../pkt/bpf.js';
import { UsageError } from '../common/cli.js';

export function compileFilter(expr: string, tcpdump = 'tcpdump'): BpfProgram {
  const r = spawnSync(tcpdump, ['-y', 'EN10MB', '-ddd', '--', expr], { encoding: 'utf8', timeout: 10000 });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UsageError(
        `a filter expression needs tcpdump installed (uvale uses libpcap's compiler through 'tcpdump -ddd'); ` +
          `install tcpdump, or capture with -w - and filter with '| tcpdump -r - EXPR'`,
      );
    }
    throw new UsageError(`cannot run ${tcpdump} to compile the filter: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const why = r.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('Warning'))
      .map((l) => l.replace(/^tcpdump: /, ''))
      .join('; ');
    throw new UsageError(`bad filter expression '${expr}': ${why || `tcpdump exited ${r.status}`}`);
  }
  return new BpfProgram(parseBpfDecimal(r.stdout));
}
