// `grad(loss, wrt)`: the functional form of backward — gradients of a scalar w.r.t. chosen tensors,
// returned as new tensors instead of accumulated into `.grad` (the `torch.autograd.grad` shape).

import { backward } from './tape.ts';
import type { BackwardOptions } from './tape.ts';
import { zeros } from './ops/creation.ts';
import { TensorError } from '../errors.ts';
import type { Tensor } from './tensor.ts';

/**
 * d loss / d t for every t in `wrt` (a zero tensor where loss does not depend on t). The `.grad` of
 * the `wrt` tensors is left as it was; other leaves of the graph with requiresGrad accumulate into
 * their `.grad` as with `backward()`. The caller owns (disposes) the returned tensors.
 */
export function grad(loss: Tensor, wrt: Tensor[], opts: BackwardOptions = {}): Tensor[] {
  for (const t of wrt) {
    t.assertAlive('grad');
    if (!t.requiresGrad) throw new TensorError(`grad: ${t}${t.name ? ` (${t.name})` : ''} does not require grad`);
  }
  if (new Set(wrt).size !== wrt.length) throw new TensorError('grad: a tensor appears twice in wrt');
  const saved = wrt.map((t) => ({ grad: t.grad, acc: t.gradIsAccumulator }));
  for (const t of wrt) {
    t.grad = null;
    t.gradIsAccumulator = false;
  }
  const out: Tensor[] = [];
  try {
    backward(loss, undefined, opts);
    for (const t of wrt) out.push(t.grad ?? zeros(t.shape, { engine: t.engine }));
    return out;
  } finally {
    wrt.forEach((t, i) => {
      t.grad = saved[i].grad;
      t.gradIsAccumulator = saved[i].acc;
    });
  }
}
