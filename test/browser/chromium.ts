// Headless Chromium for the browser tests and `npm run bench:browser`: Debian's /usr/bin/chromium
// (puppeteer's own download cannot work on these machines) with WebGPU on SwiftShader Vulkan.
import puppeteer from 'puppeteer';
import type { Browser, Page } from 'puppeteer';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  // Timestamp queries at full resolution (Chromium quantizes them to 100 µs otherwise): the kernel table.
  '--enable-webgpu-developer-features',
  '--no-sandbox',
  // This machine has no network beyond the package registries: keep Chromium from trying.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS, protocolTimeout: 600_000 });
}

/** A page that records console errors and uncaught exceptions into `errors`. */
export async function watchedPage(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}
