// Public API pieces that the README examples do not pin: grad() against backward() and finite
// differences, an engine on the caller's own GPUDevice, and the default engine after a device loss.
import { it, expect } from 'vitest';
import { Engine, engine, initEngine, setEngine, tensor, tidy, grad, matmul, mul, sum, tanh, noGrad } from '../../src/index.ts';
import { getDevice } from '../../src/gpu/device.ts';

it('grad(): equals backward(), matches finite differences, leaves .grad of wrt alone', async () => {
  const xs = [0.3, -1.2, 0.7, 2.1, -0.4, 0.9];
  const ws = [0.5, -0.25, 1.5, 0.75, -1, 0.2];
  const x = tensor(xs, [2, 3], { requiresGrad: true });
  const w = tensor(ws, [3, 2], { requiresGrad: true });
  const f = (a: typeof x, b: typeof w) => tidy(() => sum(tanh(mul(matmul(a, b), matmul(a, b)))));
  const prior = tensor([9, 9, 9, 9, 9, 9], [3, 2]);
  w.grad = prior;
  const loss = f(x, w);
  const [gx, gw] = grad(loss, [x, w], { retainGraph: true });
  expect(w.grad).toBe(prior);
  expect(x.grad).toBeNull();
  w.grad = null;
  loss.backward();
  expect(Array.from(await gx.data())).toEqual(Array.from(await x.grad!.data()));
  expect(Array.from(await gw.data())).toEqual(Array.from(await w.grad!.data()));
  // Central differences in float64 on the CPU: tanh((x·w)²) summed. f32 forward/backward: 1e-3 abs.
  const cpu = (xv: number[], wv: number[]) => {
    let s = 0;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      let y = 0;
      for (let k = 0; k < 3; k++) y += xv[i * 3 + k] * wv[k * 2 + j];
      s += Math.tanh(y * y);
    }
    return s;
  };
  const eps = 1e-6;
  const gwv = await gw.data();
  ws.forEach((_, i) => {
    const p = ws.map((v, k) => (k === i ? v + eps : v));
    const m = ws.map((v, k) => (k === i ? v - eps : v));
    expect(Math.abs((cpu(xs, p) - cpu(xs, m)) / (2 * eps) - gwv[i])).toBeLessThan(1e-3);
  });
  [x, w, loss, gx, gw, prior].forEach((t) => t.dispose());
});

it('grad(): a zero tensor for an input the loss does not depend on', async () => {
  const a = tensor([1, 2], [2], { requiresGrad: true });
  const b = tensor([3, 4], [2], { requiresGrad: true });
  const loss = tidy(() => sum(mul(a, a)));
  const [ga, gb] = grad(loss, [a, b]);
  expect(Array.from(await ga.data())).toEqual([2, 4]);
  expect(Array.from(await gb.data())).toEqual([0, 0]);
  [a, b, loss, ga, gb].forEach((t) => t.dispose());
});

it("an engine on the caller's own GPUDevice", async () => {
  const gpu = await getDevice({ exclusive: true, quiet: true }); // stands in for the app's device
  const mine = await Engine.create({ device: gpu.device, quiet: true });
  expect(mine.gpu.kind).toBe('external');
  const a = tensor([1, 2, 3, 4], [2, 2], { engine: mine });
  const y = noGrad(() => matmul(a, a));
  expect(y.engine).toBe(mine);
  expect(Array.from(await y.data())).toEqual([7, 10, 15, 22]);
  a.dispose();
  y.dispose();
  mine.pool.checkLeaks();
  mine.destroy();
  gpu.device.destroy();
});

it('initEngine() after the default engine lost its device gives a working new one', async () => {
  const home = engine();
  const gpu = await getDevice({ exclusive: true, quiet: true });
  const doomed = new Engine(gpu, { quiet: true });
  setEngine(doomed);
  try {
    gpu.device.destroy();
    await new Promise((r) => setTimeout(r, 20)); // device.lost resolves asynchronously
    expect(doomed.lost).toBe(true);
    const fresh = await initEngine({ quiet: true });
    expect(fresh).not.toBe(doomed);
    expect(fresh.lost).toBe(false);
    const t = tensor([1, 2], [2]);
    expect(Array.from(await t.data())).toEqual([1, 2]);
    t.dispose();
    fresh.pool.checkLeaks();
    fresh.destroy();
  } finally {
    setEngine(home);
  }
});
