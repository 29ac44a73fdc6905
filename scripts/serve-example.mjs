// `npm run example`: bundle examples/browser/main.ts and serve the repository on localhost.
import { build } from 'esbuild';
import { browserBuild } from './esbuild-options.mjs';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';

export async function buildExample() {
  await build({ ...browserBuild, entryPoints: ['examples/browser/main.ts'], outfile: 'examples/browser/dist/main.js' });
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.json': 'application/json', '.jsonl': 'text/plain; charset=utf-8', '.png': 'image/png', '.css': 'text/css' };

export function serve(port = 8080, host = '127.0.0.1') {
  const root = resolve('.');
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let path = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!path.startsWith(root) || path.includes('node_modules')) return void res.writeHead(403).end();
    if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'index.html');
    if (!existsSync(path)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  return new Promise((ok) => server.listen(port, host, () => ok(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await buildExample();
  const port = Number(process.env.PORT ?? 8080);
  await serve(port);
  console.log(`open http://127.0.0.1:${port}/examples/browser/ (WebGPU browser needed)`);
}
