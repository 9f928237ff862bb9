/*
 * Every fuzz property, in one list (test/fuzz/fuzz.test.ts and run.ts read it).
 * A parser or state machine that takes outside input gets its properties in a
 * *.props.ts file here and is added below.
 */

import { APPLY_PROPS } from './apply.props.js';
import { BPF_PROPS } from './bpf.props.js';
import { CONTROL_PROPS } from './control.props.js';
import { OFFLOAD_PROPS } from './offload.props.js';
import { PARSER_PROPS } from './parsers.props.js';
import type { FuzzProp } from './registry.js';
import { RING_PROPS } from './ring.props.js';
import { VHOST_PROPS } from './vhost.props.js';
import { VIRTQ_PROPS } from './virtqueue.props.js';

export const ALL_PROPS: readonly FuzzProp[] = [
  ...PARSER_PROPS,
  ...CONTROL_PROPS,
  ...RING_PROPS,
  ...OFFLOAD_PROPS,
  ...VHOST_PROPS,
  ...VIRTQ_PROPS,
  ...BPF_PROPS,
  ...APPLY_PROPS,
];
