import { defineConfig } from 'vitest/config';

// The whole suite runs on the default adapter (`auto`: llvmpipe-GL on the CPU machines); the op suite
// (test/ops) runs a second time on SwiftShader so both CPU adapters stay correct (issue #2).
// Forks, one file at a time: Dawn is a native addon (no worker threads), and the CPU adapters already
// use both cores.
const common = {
  setupFiles: ['test/setup.ts'],
  pool: 'forks' as const,
  fileParallelism: false,
  testTimeout: 120_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...common, name: 'default', include: ['test/**/*.test.ts'] } },
      { test: { ...common, name: 'swiftshader', include: ['test/ops/**/*.test.ts'], env: { MUFASA_ADAPTER: 'swiftshader' } } },
    ],
  },
});
