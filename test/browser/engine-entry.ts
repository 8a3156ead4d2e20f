// The same engine code run in Node (by the test) and in Chromium (bundled by the test): a small
// forward + backward whose numbers must agree across the two.
import { initEngine, engine } from '../../src/gpu/engine.ts';
import { tensor, tidy, mul, add, tanh, exp, sub } from '../../src/tensor/index.ts';

export async function runEngineSmoke(): Promise<{ adapter: string; out: number[]; grad: number[]; live: number }> {
  await initEngine({ quiet: true });
  const x = tensor([0.5, -1.25, 2, 0.125, -0.75, 1.5, 3, -2, 0.25], [3, 3], { requiresGrad: true });
  const b = tensor([0.1, -0.2, 0.3], [3]);
  const y = tidy(() => tanh(add(mul(x, x), sub(exp(mul(x, b)), b))));
  const g = tensor(new Float32Array(9).fill(1), [3, 3]);
  y.backward(g);
  const out = Array.from(await y.data());
  const grad = Array.from(await x.grad!.data());
  [x, b, y, g].forEach((t) => t.dispose());
  return { adapter: engine().gpu.kind, out, grad, live: engine().pool.stats().liveTensors };
}

(globalThis as { runEngineSmoke?: typeof runEngineSmoke }).runEngineSmoke = runEngineSmoke;
