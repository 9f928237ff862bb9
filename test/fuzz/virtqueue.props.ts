import type { FuzzProp } from './registry.js';
export const VIRTQ_PROPS: FuzzProp[] = [];
