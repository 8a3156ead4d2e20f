// Node side of the demo: bundle web/main.ts (or any browser entry) with esbuild and serve it with
// index.html on localhost. Used by `npm run demo` (scripts/demo-server.ts), the Puppeteer test
// (test/browser/) and `npm run bench:browser`.
//
// The engine, model and trainer are bundled unchanged. Two Node built-ins are reachable from them and
// are aliased to small shims (web/shims/): `node:fs` (the data loaders read files — in the page they
// read the files the user picked — and the trainer imports the checkpoint writer, never called
// here) and `node:path`. csv-parse's Node build uses Buffer: the bundle takes its browser build
// (dist/esm, which carries its own Buffer polyfill). `webgpu` (Dawn for Node) stays external: device.ts imports it only when
// navigator.gpu is absent. WebGPU needs a secure context, hence localhost.

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const here = (p: string) => new URL(p, import.meta.url).pathname;
export const ROOT = here('../');
// resolve('csv-parse/sync') in require mode is dist/cjs/sync.cjs; the browser build sits beside it.
const csvParseBrowser = join(dirname(createRequire(import.meta.url).resolve('csv-parse/sync')), '../esm/sync.js');

/** One ES-module bundle of `entry` for the browser. */
export async function bundle(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    external: ['webgpu'],
    alias: { 'node:fs': here('./shims/node-fs.ts'), 'node:path': here('./shims/node-path.ts'), 'csv-parse/sync': csvParseBrowser },
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

export interface Served {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serve `pages` (URL path → [content type, body]) on 127.0.0.1:`port` (0: a free port). Anything else
 * is a 404.
 */
export async function serve(pages: Record<string, [string, string | (() => string)]>, port = 0): Promise<Served> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const p = pages[path];
    if (!p) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const body = typeof p[1] === 'function' ? p[1]() : p[1];
    res.writeHead(200, { 'content-type': p[0], 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The demo: index.html, the bundled web/main.ts and the stylesheet. */
export async function serveDemo(port = 0): Promise<Served> {
  const js = await bundle(here('./main.ts'));
  return serve(
    {
      '/': ['text/html; charset=utf-8', () => readFileSync(here('../index.html'), 'utf8')],
      '/index.html': ['text/html; charset=utf-8', () => readFileSync(here('../index.html'), 'utf8')],
      '/web/style.css': ['text/css', () => readFileSync(here('./style.css'), 'utf8')],
      '/web/main.js': ['text/javascript', js],
    },
    port,
  );
}
