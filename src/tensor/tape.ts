// Autograd tape. Every op that sees an input with `requiresGrad` (outside `noGrad`) records a GradNode:
// its inputs' nodes, and a backward closure over the tensors it saved. `backward()` walks the nodes in
// reverse topological order, sums gradients per tensor, and adds them into the leaves' `.grad`.
//
// Saved tensors hold their own reference on the storage, so a user may dispose an intermediate and
// still call backward. A node lets go of what it saved when backward has passed through it, or when
// nothing can reach it any more (its output disposed and no live node above uses it): disposing a
// forward pass's tensors (e.g. with `tidy`) frees its graph too.

import { Tensor, TensorError } from './tensor.ts';
import { keep } from './scope.ts';

let noGradDepth = 0;

/** Run `fn` without recording gradients (evaluation, optimizer updates, backward itself). */
export function noGrad<R>(fn: () => R): R {
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
  }
}

export function isGradEnabled(): boolean {
  return noGradDepth === 0;
}

export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

interface Edge {
  tensor: Tensor;
  node: GradNode | null;
}

export class Saver {
  readonly saved: Tensor[] = [];
  /** Keep `t`'s data for backward; returns an internal alias that outlives the user's handle. */
  save(t: Tensor): Tensor {
    const a = t.view(t.shape, t.strides, t.offset, true);
    this.saved.push(a);
    return a;
  }
}

export class GradNode {
  private refs = 1; // the output tensor
  released = false;
  constructor(
    readonly op: string,
    readonly inputs: Edge[],
    readonly backwardFn: BackwardFn,
    private readonly saver: Saver,
  ) {
    for (const e of inputs) e.node?.retain();
  }

  retain(): void {
    this.refs++;
  }

  outputReleased(): void {
    this.drop();
  }

  private drop(): void {
    if (--this.refs === 0) {
      this.freeSaved();
      for (const e of this.inputs) e.node?.drop();
    }
  }

  freeSaved(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saver.saved) t.dispose();
    this.saver.saved.length = 0;
  }
}

/**
 * Attach a backward rule to `out` if any input needs a gradient. `make` receives a Saver and returns
 * the backward closure; it is only called when a node is recorded, so nothing is saved otherwise.
 */
export function record(op: string, inputs: Tensor[], out: Tensor, make: (s: Saver) => BackwardFn): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  const saver = new Saver();
  const fn = make(saver);
  out.requiresGrad = true;
  out.node = new GradNode(
    op,
    inputs.map((t) => ({ tensor: t, node: t.requiresGrad ? t.node : null })),
    fn,
    saver,
  );
  return out;
}

export interface BackwardOptions {
  /** Keep saved tensors so backward can run again through the same graph. */
  retainGraph?: boolean;
}

/** Gradient contributions of one tensor held before they are summed: addN's inputs per dispatch. */
const ADD_N_FOLD = 7;

/**
 * Backpropagate from `root`. `grad` defaults to ones for a scalar root (a one-element tensor); leaves'
 * `.grad` receive the sum over every path (and over earlier backward calls: gradients accumulate
 * until the caller zeroes them).
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) throw new TensorError(`backward: ${root} does not require grad (no input of its graph has requiresGrad)`);
  if (!isGradEnabled()) throw new TensorError('backward: called inside noGrad()');
  // Lazy imports would be circular at module load: ops import tape.
  const { ones, add, addN, accumulateInto } = opsForTape!;
  if (!grad && root.size !== 1) throw new TensorError(`backward: ${root} is not a scalar; pass the output gradient`);
  if (grad && grad.shape.join() !== root.shape.join()) {
    throw new TensorError(`backward: gradient shape [${grad.shape.join(', ')}] does not match output [${root.shape.join(', ')}]`);
  }

  noGrad(() => {
    // Topological order of nodes reachable from root.
    const order: GradNode[] = [];
    const seen = new Set<GradNode>();
    const visit = (n: GradNode) => {
      const stack: [GradNode, number][] = [[n, 0]];
      seen.add(n);
      while (stack.length) {
        const top = stack[stack.length - 1];
        const [node, i] = top;
        if (i < node.inputs.length) {
          top[1]++;
          const child = node.inputs[i].node;
          if (child && !seen.has(child)) {
            seen.add(child);
            stack.push([child, 0]);
          }
        } else {
          order.push(node);
          stack.pop();
        }
      }
    };
    // Each key's gradient contributions, summed when the key is reached: one addN over all of them
    // reads each once (SAL's H has 8; chained adds re-read the running sum 7 times), in arrival order,
    // so the bits are those of chained adds. Folded early at ADD_N_FOLD to bound what is held.
    const grads = new Map<GradNode | Tensor, Tensor[]>();
    const seed = grad ? grad.view(grad.shape, grad.strides, grad.offset) : ones(root.shape);
    if (root.node) {
      visit(root.node);
      grads.set(root.node, [seed]);
    } else {
      accumulateLeaf(root, seed);
      return;
    }
    const addGrad = (key: GradNode | Tensor, g: Tensor) => {
      const parts = grads.get(key);
      if (!parts) grads.set(key, [g]);
      else {
        parts.push(g);
        if (parts.length >= ADD_N_FOLD) grads.set(key, [sumParts(parts)]);
      }
    };
    const sumParts = (parts: Tensor[]): Tensor => {
      if (parts.length === 1) return parts[0];
      const s = addN(parts);
      parts.forEach((p) => p.dispose());
      return s;
    };
    function accumulateLeaf(t: Tensor, g: Tensor) {
      if (t.disposed) {
        g.dispose();
        return;
      }
      if (!t.grad) {
        t.grad = keep(g);
      } else if (t.gradIsAccumulator) {
        accumulateInto(t.grad, g);
        g.dispose();
      } else {
        const sum = add(t.grad, g);
        t.grad.dispose();
        g.dispose();
        t.grad = sum;
      }
    }

    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k];
      const parts = grads.get(node);
      grads.delete(node);
      if (!parts) continue;
      const g = sumParts(parts);
      if (node.released) {
        g.dispose();
        throw new TensorError(`backward: the graph through '${node.op}' was already freed (use { retainGraph: true } to backward twice)`);
      }
      // A rule may pass its incoming gradient straight through (add, reshape) or return one tensor for
      // two inputs; give each slot its own handle so disposing one cannot free another.
      const inGrads = node.backwardFn(g).map((gi, i, all) =>
        gi && (gi === g || all.indexOf(gi) !== i) ? gi.view(gi.shape, gi.strides, gi.offset) : gi,
      );
      g.dispose();
      node.inputs.forEach((e, i) => {
        const gi = inGrads[i];
        if (!gi) return;
        if (gi.shape.join() !== e.tensor.shape.join()) {
          throw new TensorError(`internal: ${node.op} backward gave grad [${gi.shape.join(', ')}] for input [${e.tensor.shape.join(', ')}]`);
        }
        if (!e.tensor.requiresGrad) gi.dispose();
        else if (e.node) addGrad(e.node, gi);
        else addGrad(e.tensor, gi);
      });
      if (!opts.retainGraph) node.freeSaved();
    }
    for (const [key, parts] of grads) {
      if (key instanceof Tensor) accumulateLeaf(key, sumParts(parts));
      else parts.forEach((p) => p.dispose());
    }
  });
}

/** Ops the tape needs, registered by ops/index.ts (avoids an import cycle). */
export let opsForTape: {
  ones: (shape: readonly number[]) => Tensor;
  add: (a: Tensor, b: Tensor) => Tensor;
  addN: (ts: readonly Tensor[]) => Tensor;
  accumulateInto: (acc: Tensor, x: Tensor) => void;
} | null = null;

export function registerTapeOps(ops: NonNullable<typeof opsForTape>): void {
  opsForTape = ops;
}
