// Every op, forward and backward side by side in its own file; this index is the one import for users.
export * from './creation.ts';
export * from './layout.ts';
export * from './unary.ts';
export * from './binary.ts';

import { registerTapeOps } from '../tape.ts';
import { ones } from './creation.ts';
import { add, addN, accumulateInto } from './binary.ts';

registerTapeOps({ ones: (s) => ones(s), add, addN, accumulateInto });
export * from './reduce.ts';
export * from './softmax.ts';
export * from './gather.ts';
export * from './dropout.ts';
export * from './matmul.ts';
export * from './norm.ts';
export * from './losses.ts';
export * from './infonce.ts';
export * from './attention.ts';
