// A stand-in Hugging Face Hub on loopback serving one repository (a model or a dataset) at one
// commit, with the endpoints @huggingface/hub calls: the repository's info (for the commit), its
// tree, paths-info, and resolve with ranged GETs. Every request is recorded as "METHOD /path".
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInHub {
  url: string;
  requests: string[];
  server: Server;
}

export async function startHubServer(o: { kind: 'model' | 'dataset'; repo: string; sha: string; files: Record<string, Buffer> }): Promise<StandInHub> {
  const { repo, sha, files } = o;
  // the API names datasets under /api/datasets and their files under /datasets/; models under /api/models and /
  const api = `/api/${o.kind}s/${repo}`;
  const resolve = new RegExp(`^${o.kind === 'dataset' ? '/datasets' : ''}/${repo}/resolve/${sha}/(.+)$`);
  const oid = (p: string) => `oid${Object.keys(files).indexOf(p)}`.padEnd(40, '0');
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const json = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (url.pathname === `${api}/revision/main`) return json({ _id: 'x', id: repo, sha });
    if (url.pathname === `${api}/tree/${sha}`) return json(Object.entries(files).map(([p, b]) => ({ type: 'file', path: p, size: b.length, oid: oid(p) })));
    if (url.pathname === `${api}/paths-info/${sha}`) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => json((JSON.parse(body).paths as string[]).map((p) => ({ type: 'file', path: p, size: files[p]!.length, oid: oid(p), lastCommit: { id: sha, title: 't', date: '2024-01-01' } }))));
      return;
    }
    const m = resolve.exec(url.pathname);
    const name = m ? decodeURIComponent(m[1]!) : '';
    const b = m && files[name];
    if (!b) return res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
    const [, from, to] = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? [, '0', String(b.length - 1)];
    res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${b.length}`, etag: `"${oid(name)}"`, 'content-type': 'application/octet-stream' });
    res.end(b.subarray(Number(from), Number(to) + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}
