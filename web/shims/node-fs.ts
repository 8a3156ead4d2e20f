// `node:fs` for the browser bundle (esbuild alias, web/build.ts): an in-memory file table that the page
// fills from File inputs, so the Node loaders (src/data/movielens.ts, text.ts) run unchanged on files
// the user picked; nothing is uploaded anywhere. Writing (checkpoints) is not available in the page.

const files = new Map<string, Uint8Array>();

/** Make `bytes` readable at `path` (e.g. '/picked/u.data'). */
export function putFile(path: string, bytes: Uint8Array): void {
  files.set(path, bytes);
}

export function clearFiles(): void {
  files.clear();
}

function key(p: string | URL): string {
  return typeof p === 'string' ? p : p.pathname;
}

export function existsSync(p: string | URL): boolean {
  return files.has(key(p));
}

export function readFileSync(p: string | URL, enc?: string | { encoding?: string }): Uint8Array | string {
  const b = files.get(key(p));
  if (!b) throw new Error(`${key(p)}: no such file among the files picked in the page`);
  const e = typeof enc === 'string' ? enc : enc?.encoding;
  return e ? new TextDecoder(e === 'utf8' ? 'utf-8' : e).decode(b) : b;
}

function unavailable(name: string): never {
  throw new Error(`fs.${name}: not available in the browser (checkpoints are written by the Node CLI)`);
}

export const mkdirSync = () => unavailable('mkdirSync');
export const openSync = () => unavailable('openSync');
export const writeSync = () => unavailable('writeSync');
export const fsyncSync = () => unavailable('fsyncSync');
export const closeSync = () => unavailable('closeSync');
export const renameSync = () => unavailable('renameSync');
export const readdirSync = () => unavailable('readdirSync');
export const rmSync = () => unavailable('rmSync');
export const writeFileSync = () => unavailable('writeFileSync');
