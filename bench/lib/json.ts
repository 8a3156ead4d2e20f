// JSON results: written where --json says (bench/results/ is gitignored), with the machine context
// that makes a number interpretable later (adapter, load average, Node version, date).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';

export function writeJson(path: string, value: unknown): string {
  const full = resolve(path);
  mkdirSync(dirname(full), { recursive: true });
  // Six significant digits: timings are noisy far above that, and the files stay readable.
  const round = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(6) : v);
  writeFileSync(full, JSON.stringify(value, round, 2) + '\n');
  return full;
}

export interface MachineInfo {
  date: string;
  node: string;
  cpus: number;
  cpu_model: string;
  /** 1-, 5- and 15-minute load averages when the run started and ended: other work on the box skews timings. */
  loadavg_start: number[];
  loadavg_end?: number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: c.length,
    cpu_model: c[0]?.model ?? 'unknown',
    loadavg_start: loadavg().map((x) => +x.toFixed(2)),
  };
}

export function currentLoad(): number[] {
  return loadavg().map((x) => +x.toFixed(2));
}
