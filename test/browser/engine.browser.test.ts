// The engine in Chromium (SwiftShader WebGPU, driven by puppeteer): the same code as in Node, bundled
// with the shaders, gives the same numbers. Headless Chromium needs a secure context for
// navigator.gpu, so the page is served from localhost.
import { it, expect } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { launchChromium } from './chromium.ts';
import { runEngineSmoke } from './engine-entry.ts';


it('runs the same forward/backward in Chromium as in Node', async () => {
  const bundle = await build({
    entryPoints: [new URL('./engine-entry.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    external: ['webgpu'], // Dawn for Node: imported only when navigator.gpu is absent
  });
  const js = bundle.outputFiles[0].text;
  const html = '<!doctype html><script type="module" src="/engine.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/engine.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction('typeof globalThis.runEngineSmoke === "function"', { timeout: 30_000 });
    const inBrowser = (await page.evaluate('globalThis.runEngineSmoke()')) as Awaited<ReturnType<typeof runEngineSmoke>>;
    const inNode = await runEngineSmoke();
    expect(inBrowser.adapter).toBe('browser');
    expect(inBrowser.live).toBe(0);
    // Different adapters (SwiftShader in Chromium, the default in Node): exp/tanh differ by a few ulp.
    inNode.out.forEach((v, i) => expect(Math.abs(inBrowser.out[i] - v)).toBeLessThan(1e-5 * Math.abs(v) + 1e-6));
    inNode.grad.forEach((v, i) => expect(Math.abs(inBrowser.grad[i] - v)).toBeLessThan(1e-5 * Math.abs(v) + 1e-6));
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    server.close();
  }
});
