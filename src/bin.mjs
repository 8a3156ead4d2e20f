#!/usr/bin/env node
// `mufasa` executable. In the repository the sources are TypeScript run through tsx's loader (no build
// step); an installed package has no src/cli.ts, only the compiled dist/ (`npm run build`).
import { existsSync } from 'node:fs';

let main;
if (existsSync(new URL('./cli.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./cli.ts'));
} else {
  ({ main } = await import('../dist/cli.js'));
}
main(process.argv).then(
  // Dawn keeps the event loop alive while a device exists: exit explicitly.
  () => process.exit(0),
  (err) => {
    console.error(`mufasa: ${err instanceof Error ? err.message : err}`);
    if (process.env.MUFASA_DEBUG) console.error(err);
    process.exit(1);
  },
);
