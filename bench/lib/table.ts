// Markdown tables for benchmark output (pasted into issues and reports as is).

export type Cell = string | number | null | undefined;

export function fmtNum(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  return x.toFixed(digits);
}

/** A markdown table; numeric columns are right-aligned. */
export function markdownTable(headers: readonly string[], rows: readonly Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number'));
  const width = headers.map((h, i) => Math.max(3, h.length, ...text.map((r) => r[i].length)));
  const pad = (s: string, i: number) => (numeric[i] ? s.padStart(width[i]) : s.padEnd(width[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (numeric[i] ? '-'.repeat(w + 1) + ':' : ' ' + '-'.repeat(w) + ' ')).join('|')}|`;
  return [line([...headers]), rule, ...text.map(line)].join('\n');
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '—';
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : fmtNum(c);
  return c.replace(/\|/g, '\\|');
}
