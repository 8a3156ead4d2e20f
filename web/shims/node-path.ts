// `node:path` for the browser bundle (esbuild alias, web/build.ts): POSIX join/dirname/basename over
// the in-memory paths of web/shims/node-fs.ts.

export function join(...parts: string[]): string {
  const out: string[] = [];
  const abs = parts[0]?.startsWith('/');
  for (const seg of parts.join('/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return (abs ? '/' : '') + out.join('/');
}

export const resolve = (...parts: string[]): string => join('/', ...parts);

export function dirname(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? (p.startsWith('/') ? '/' : '.') : p.slice(0, i);
}

export function basename(p: string): string {
  return p.replace(/\/+$/, '').split('/').pop() ?? '';
}

export default { join, resolve, dirname, basename };
