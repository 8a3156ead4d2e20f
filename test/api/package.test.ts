// The library as a user gets it (issue 7): `npm run build`, `npm pack`, the tarball installed into a
// scratch project outside the repository, and the README's "Library API" examples — extracted from
// README.md, so the documented code is the tested code — run there with plain `node` against the
// installed package. One test: the build and the install are the slow part (~30 s).
import { it, expect, afterAll } from 'vitest';
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'mufasa-pkg-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The code block after `<!-- api-example: NAME -->` in README.md. */
export function readmeExample(name: string): string {
  const md = readFileSync(join(root, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- api-example: ${name} -->\\s*\`\`\`js\\n([\\s\\S]*?)\\n\`\`\``).exec(md);
  if (!m) throw new Error(`README.md: no example '${name}'`);
  return m[1];
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`));
      else resolve({ stdout, stderr });
    });
  });
}

const lastJson = (s: string) => JSON.parse(s.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);

it('npm run build + npm pack → installs in a scratch project, and the README examples run against it', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  await run(npm, ['run', 'build'], root);
  expect(existsSync(join(root, 'dist', 'index.d.ts'))).toBe(true);
  // prepack would build a second time; the build above is what gets packed.
  await run(npm, ['pack', '--ignore-scripts', '--pack-destination', scratch], root);
  const tgz = readdirSync(scratch).find((f) => f.endsWith('.tgz'))!;
  expect(tgz).toMatch(/^mufasa-gpu-.*\.tgz$/);
  const proj = join(scratch, 'app');
  execFileSync('mkdir', ['-p', proj]);
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // Dependencies come from npm's cache when they are there (npm ci filled it), else the registry.
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(scratch, tgz)], proj, 180_000);
  const installed = join(proj, 'node_modules', 'mufasa-gpu');
  expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
  expect(existsSync(join(installed, 'src', 'cli.ts'))).toBe(false); // sources stay out of the package
  expect(existsSync(join(installed, 'shaders'))).toBe(false); // the shader bundle is compiled in

  // The `mufasa` command runs from the compiled dist/ (no tsx, no sources).
  const help = await run(join(proj, 'node_modules', '.bin', 'mufasa'), ['--help'], proj);
  expect(help.stdout).toMatch(/Usage: mufasa .*\n[\s\S]*train/);

  // The browser entry resolves and leaves out what needs a file system.
  const entry = await run('node', ['--input-type=module', '-e', "const b = await import('mufasa-gpu/browser'); const n = await import('mufasa-gpu'); console.log(JSON.stringify({ b: [typeof b.tensor, typeof b.datasetFromArrays, typeof b.loadGeneric, typeof b.train], n: [typeof n.loadGeneric, typeof n.train, typeof n.ShapeError] }))"], proj);
  expect(lastJson(entry.stdout)).toEqual({ b: ['function', 'function', 'undefined', 'undefined'], n: ['function', 'function', 'function'] });

  // Example 1: tensors, grad, Adam. Reference in float64: loss = Σ relu(x·w), dL/dw = xᵀ·[x·w > 0].
  writeFileSync(join(proj, 'basic.mjs'), readmeExample('basic'));
  const basic = lastJson((await run('node', ['basic.mjs'], proj)).stdout);
  const x = [[1, 2, 3], [4, 5, 6]];
  const w = [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]];
  let loss = 0;
  const dw = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      const y = x[i][0] * w[0][j] + x[i][1] * w[1][j] + x[i][2] * w[2][j];
      if (y > 0) {
        loss += y;
        for (let k = 0; k < 3; k++) dw[k * 2 + j] += x[i][k];
      }
    }
  }
  // f32 sums of six O(1) products: 1e-5 relative.
  expect(Math.abs(basic.loss - loss)).toBeLessThan(1e-5 * Math.abs(loss) + 1e-6);
  basic.dw.forEach((g: number, i: number) => expect(Math.abs(g - dw[i])).toBeLessThan(1e-5));
  // Five Adam steps at lr 0.01 move each weight by at most 0.05, against its gradient's sign.
  const w0 = w.flat().map(Math.fround); // the f32 values the GPU started from
  basic.w.forEach((v: number, i: number) => {
    const d = v - w0[i];
    expect(Math.abs(d)).toBeLessThanOrEqual(0.05 + 1e-6);
    if (dw[i] !== 0) expect(Math.sign(d)).toBe(-Math.sign(dw[i]));
    else expect(d).toBe(0);
  });

  // Example 2: data from arrays → train (CF → MFL → SAL) → embeddings from the best checkpoint.
  writeFileSync(join(proj, 'train.mjs'), readmeExample('train'));
  const tr = lastJson((await run('node', ['train.mjs'], proj, 180_000)).stdout);
  expect(tr.epochs).toEqual(['cf', 'mfl', 'sal', 'sal']);
  expect(tr.dim).toBe(16);
  expect(tr.items).toBe(30 * 16);
  expect(tr.users).toBe(24 * 16);
  expect(tr.itemIds).toBe(30);
  for (const v of Object.values(tr.test as Record<string, number>)) expect(v >= 0 && v <= 1).toBe(true);
  expect([1, 2]).toContain(tr.bestEpoch);
}, 400_000);
