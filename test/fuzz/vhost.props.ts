import type { FuzzProp } from './registry.js';
export const VHOST_PROPS: FuzzProp[] = [];
