// A stand-in Hugging Face Hub on loopback serving one dataset repository, org/med, with the endpoints
// @huggingface/hub calls (dataset info for the commit, tree, paths-info, resolve with ranged GETs).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const PQ = path.resolve(__dirname, '../fixtures/parquet');
export const SHA = 'fedcba9876543210fedcba9876543210fedcba98';

/** The repository org/med: a parquet train split, a parquet test split (MedMCQA's Hub export), a JSONL validation split. */
export const MED_FILES: Record<string, Buffer> = {
  'README.md': Buffer.from('---\nconfigs: default\n---\n'),
  '.gitattributes': Buffer.from('*.parquet filter=lfs\n'),
  'data/train-00000-of-00001.parquet': readFileSync(path.join(PQ, 'list-letter.snappy.parquet')),
  'data/test-00000-of-00001.parquet': readFileSync(path.join(PQ, 'medmcqa-hf.snappy.parquet')),
  'validation.jsonl': Buffer.from('{"id":"v1","question":"Q?","options":["a","b","c"],"answer":[2],"source":"s","chapter":"c"}\n'),
};

/** A stand-in Hub serving one dataset repository `org/med` at SHA (the endpoints @huggingface/hub calls). */
export async function standInHub(files: Record<string, Buffer> = MED_FILES): Promise<{ url: string; requests: string[]; server: Server }> {
  const oid = (p: string) => `oid${Object.keys(files).indexOf(p)}`.padEnd(40, '0');
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const json = (v: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (url.pathname === '/api/datasets/org/med/revision/main') return json({ _id: 'x', id: 'org/med', sha: SHA });
    if (url.pathname === `/api/datasets/org/med/tree/${SHA}`) return json(Object.entries(files).map(([p, b]) => ({ type: 'file', path: p, size: b.length, oid: oid(p) })));
    if (url.pathname === `/api/datasets/org/med/paths-info/${SHA}`) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => json((JSON.parse(body).paths as string[]).map((p) => ({ type: 'file', path: p, size: files[p]!.length, oid: oid(p), lastCommit: { id: SHA, title: 't', date: '2024-01-01' } }))));
      return;
    }
    const m = new RegExp(`^/datasets/org/med/resolve/${SHA}/(.+)$`).exec(url.pathname);
    const b = m && files[decodeURIComponent(m[1]!)];
    if (!b) return res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
    const [, from, to] = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? [, '0', String(b.length - 1)];
    res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${b.length}`, etag: `"${oid(decodeURIComponent(m![1]!))}"`, 'content-type': 'application/octet-stream' });
    res.end(b.subarray(Number(from), Number(to) + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

