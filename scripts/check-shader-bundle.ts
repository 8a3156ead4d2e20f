// `npm run build` step: the compiled package takes its shaders from src/gpu/shader-bundle.generated.ts,
// so a stale bundle would ship old kernels. Checks instead of regenerating, so that a build (e.g. the
// packed-tarball test) never hides a stale bundle from test/gpu/kernels.test.ts.
import { readFileSync } from 'node:fs';
import { shaderBundleSource } from './bundle-shaders.ts';

const file = new URL('../src/gpu/shader-bundle.generated.ts', import.meta.url);
if (readFileSync(file, 'utf8') !== shaderBundleSource()) {
  console.error('src/gpu/shader-bundle.generated.ts is stale (shaders/*.wgsl changed): run `npx tsx scripts/bundle-shaders.ts`');
  process.exit(1);
}
