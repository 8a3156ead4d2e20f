#!/usr/bin/env node
// `mufasa` executable: the sources are TypeScript run through tsx's loader (no build step needed for
// the CLI; `npm run build` for library users is the library-API issue's job).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
main(process.argv).then(
  // Dawn keeps the event loop alive while a device exists: exit explicitly.
  () => process.exit(0),
  (err) => {
    console.error(`mufasa: ${err instanceof Error ? err.message : err}`);
    if (process.env.MUFASA_DEBUG) console.error(err);
    process.exit(1);
  },
);
