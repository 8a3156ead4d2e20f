// `mufasa train` stopped by a signal: the first SIGINT ends the run as early stopping would (best
// weights tested, results.json written and marked interrupted, `last` at the end of the last whole
// epoch, so --resume continues it); a second one quits at once. Runs the real command in a child
// process on the built-in synthetic data set (SASRec: no CF or MFL stage before the epochs).
import { it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'mufasa-int-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node src/bin.mjs ...args`; once stdout + stderr match the first pattern of `signals`, its signal is
 * sent, then the next pattern is waited for (signals are not queued: two sent together arrive as one).
 */
function mufasa(args: string[], signals: { after: RegExp; send: NodeJS.Signals }[] = []): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'src', 'bin.mjs'), ...args], { cwd: root, env: { ...process.env, NODE_OPTIONS: '' } });
    let stdout = '';
    let stderr = '';
    const pending = [...signals];
    const check = () => {
      while (pending.length && pending[0].after.test(stdout + stderr)) child.kill(pending.shift()!.send);
    };
    child.stdout.on('data', (d) => ((stdout += d), check()));
    child.stderr.on('data', (d) => ((stderr += d), check()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const salEpochs = (stdout: string) => (stdout.match(/\[sal\] epoch \d+:/g) ?? []).length;

it('SIGINT stops training after the step, tests the best weights, and --resume continues the run', async () => {
  const out = join(scratch, 'run');
  const base = ['train', '--model', 'sasrec', '--seed', '3', '--patience', '50', '--out', out];
  const r = await mufasa([...base, '--epochs', '40'], [{ after: /\[sal\] epoch 2:/, send: 'SIGINT' }]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/SIGINT: stopping after this step/);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  expect(res.interrupted).toBe(true);
  // The signal came during epoch 3 (or just after epoch 2's line): that epoch is dropped, and far
  // fewer than the 40 allowed ran.
  const done = salEpochs(r.stdout);
  expect(done).toBeGreaterThanOrEqual(2);
  expect(done).toBeLessThan(40);
  expect(res.epochs).toBe(done);
  expect(res.best_epoch).toBeGreaterThanOrEqual(1);
  expect(res.best_epoch).toBeLessThanOrEqual(done);
  // The test metrics are the best epoch's, as a run that stops early reports them.
  const best = res.log.find((l: { stage: string; epoch: number }) => l.stage === 'sal' && l.epoch === res.best_epoch);
  expect(res.metrics.valid['NDCG@10']).toBeCloseTo(best.valid['NDCG@10'], 6);
  expect(Number.isFinite(res.metrics.test['HR@10'])).toBe(true);
  expect(r.stdout).toMatch(new RegExp(`interrupted: the best of the epochs finished \\(epoch ${res.best_epoch}\\)`));
  expect(existsSync(join(out, 'checkpoint'))).toBe(true);
  const last = JSON.parse(readFileSync(join(out, 'last', 'checkpoint.json'), 'utf8'));
  expect(last.epoch).toBe(done);

  // --resume continues at the next epoch; with the cap one above, exactly one more runs, and the
  // finished run's results are no longer marked interrupted.
  const r2 = await mufasa(['train', '--resume', out, '--epochs', String(done + 1)]);
  expect(r2.code, r2.stderr).toBe(0);
  expect(r2.stdout).toMatch(new RegExp(`\\[sal\\] epoch ${done + 1}:`));
  expect(salEpochs(r2.stdout)).toBe(1);
  const res2 = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  expect(res2.interrupted).toBeUndefined();
  expect(res2.epochs).toBe(done + 1);
});

it('a second SIGINT quits at once with status 130', async () => {
  const out = join(scratch, 'run2');
  // SASRec by its config alone (no --model): the log names the architecture, not the 'mufasa' default.
  const config = join(scratch, 'sasrec.json');
  writeFileSync(config, JSON.stringify({ arch: 'sasrec', maxLen: 40, mflEpochs: 0, cfEpochs: 0 }));
  const r = await mufasa(['train', '--config', config, '--epochs', '40', '--out', out], [
    { after: /\[sal\] epoch 1:/, send: 'SIGINT' },
    { after: /SIGINT: stopping/, send: 'SIGINT' },
  ]);
  expect(r.code).toBe(130);
  expect(r.stdout).toMatch(/^model: sasrec$/m);
  expect(existsSync(join(out, 'results.json'))).toBe(false);
});
