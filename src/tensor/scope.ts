// Scopes free temporaries (the tfjs `tidy` idea): every tensor created inside `tidy(fn)` is disposed
// when fn returns, except the tensors fn returns and those passed to `keep()`.

import type { Tensor } from './tensor.ts';

const stack: Set<Tensor>[] = [];

export function trackInScope(t: Tensor): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Exempt `t` from the enclosing scopes' clean-up. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

type Returned = Tensor | Tensor[] | Record<string, Tensor> | void | number | null | undefined;

function collect(r: unknown, out: Set<Tensor>): void {
  if (!r || typeof r !== 'object') return;
  if ('storage' in (r as object) && 'shape' in (r as object)) {
    out.add(r as Tensor);
    return;
  }
  for (const v of Array.isArray(r) ? r : Object.values(r as object)) collect(v, out);
}

/**
 * Run `fn`, then dispose every tensor it created that it does not return. Synchronous only: an async
 * function would let other code create tensors inside the scope.
 */
export function tidy<R extends Returned>(fn: () => R): R {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: R;
  try {
    result = fn();
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new Error('tidy(fn): fn returned a Promise; tidy is synchronous (create tensors, then await outside)');
    }
  } catch (e) {
    // Nothing is returned on a throw: free everything the scope made, so an error leaks no memory.
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  const returned = new Set<Tensor>();
  collect(result, returned);
  for (const t of scope) {
    if (returned.has(t)) trackInScope(t);
    else t.dispose();
  }
  return result;
}
