// A loopback static file server for the URL loader's tests: serves one directory, answers
// `Range: bytes=a-b` with 206 (or, with `ignoreRange`, 200 and the whole file, as a server without
// range support does), allows CORS with Content-Range exposed (the browser page is on another
// origin), and records every request with its Range header and status.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface RangeRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

export interface RangeServer {
  url: string;
  requests: RangeRequest[];
  close(): Promise<void>;
}

export async function startRangeServer(root: string, opts: { ignoreRange?: boolean } = {}): Promise<RangeServer> {
  const requests: RangeRequest[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'range',
      'access-control-expose-headers': 'content-range, content-length',
    };
    const send = (status: number, headers: Record<string, string>, body?: Buffer) => {
      requests.push({ method: req.method!, path, range: req.headers.range, status, bytes: body?.length ?? 0 });
      res.writeHead(status, { ...cors, ...headers }).end(body);
    };
    if (req.method === 'OPTIONS') return send(204, {});
    const file = normalize(join(root, path));
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory()) return send(404, {}, Buffer.from('not found'));
    const data = readFileSync(file);
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || opts.ignoreRange) return send(200, { 'content-type': 'application/octet-stream' }, data);
    const from = Number(m[1]), to = Math.min(Number(m[2]), data.length - 1);
    if (from >= data.length) return send(416, { 'content-range': `bytes */${data.length}` });
    send(206, { 'content-range': `bytes ${from}-${to}/${data.length}`, 'content-type': 'application/octet-stream' }, data.subarray(from, to + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
