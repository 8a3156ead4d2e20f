// Command-line flags shared by every benchmark: `npm run bench -- <name> [--quick] [--json FILE] [--shapes A,B]`.

export interface BenchArgs {
  /** Benchmarks named on the command line (empty: all). */
  names: string[];
  quick: boolean;
  json: string | null;
  /** Shape filters as given (each benchmark decides how they match, e.g. "256x256x256" or "1024x"). */
  shapes: string[];
  /** Flags a benchmark may read itself (`--foo bar` → { foo: 'bar' }, `--foo` → { foo: 'true' }). */
  extra: Record<string, string>;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const out: BenchArgs = { names: [], quick: false, json: null, shapes: [], extra: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : null;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`--${flag} needs a value`);
      return v;
    };
    if (flag === null) out.names.push(a);
    else if (flag === 'quick') out.quick = true;
    else if (flag === 'json') out.json = value();
    else if (flag === 'shapes') out.shapes.push(...value().split(',').map((s) => s.trim()).filter(Boolean));
    else if (flag === 'help' || flag === 'h') out.extra.help = 'true';
    else out.extra[flag] = inline ?? (argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
  }
  return out;
}
