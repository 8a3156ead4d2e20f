// `npm run demo [-- --port N]`: bundle the browser demo (web/main.ts) and serve it with index.html on
// http://127.0.0.1:N/ (default 8080; WebGPU needs a secure context, which localhost is).
import { Command } from 'commander';
import { serveDemo } from '../web/build.ts';

const opts = new Command('demo').option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '8080').parse().opts<{ port: string }>();
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${opts.port}: expected an integer 0..65535`);
  process.exit(2);
}
const s = await serveDemo(port);
console.log(`mufasa-gpu demo: open ${s.url} in a browser with WebGPU (Ctrl-C stops the server)`);
