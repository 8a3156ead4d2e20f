// Every test file: one engine on the adapter MUFASA_ADAPTER names (default: auto), and after every
// test a leak check — the pool must be as the test found it — and no asynchronous device errors.
import { beforeAll, beforeEach, afterEach } from 'vitest';
import { initEngine, engine } from '../src/gpu/engine.ts';
import type { PoolStats } from '../src/gpu/pool.ts';

let baseline: PoolStats;

beforeAll(async () => {
  await initEngine({ quiet: !!process.env.CI && false });
});

beforeEach(() => {
  baseline = engine().pool.stats();
});

afterEach(async () => {
  const e = engine();
  // A device error also makes sync() throw DeviceError: report it below, with every message, and
  // leave the engine clean for the next test.
  await e.stream.sync().catch(() => {});
  e.pool.checkLeaks(baseline);
  if (e.deviceErrors.length) {
    const errs = e.deviceErrors.splice(0);
    throw new Error(`device reported ${errs.length} error(s):\n${errs.join('\n')}`);
  }
});
