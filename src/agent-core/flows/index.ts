// The flow table: megaflows matched by tuple-space search, tag invalidation, idle/hard expiry
// and statistics (DESIGN: Layout, flows/; Flows).
export type { Flow, FlowTable, FlowTableStats, FlowTimeouts, MaskStats } from './types.js';
export { MegaflowTable } from './megaflow-table.js';
export { LinearFlowTable } from './linear-flow-table.js';
export { FULL_MASK, maskFieldCount, maskFieldNames, maskKey, maskWordOffsets, maskedKeyEquals, outranks } from './mask.js';
export { describeFlow, describeMatch, formatFieldValue } from './describe.js';
export { hashMaskedKey } from './key-hash.js';
export { ExpiryHeap, type HeapItem } from './expiry-heap.js';
