// Node only: the tune store (store.ts) as a JSON file, $XDG_CACHE_HOME/mqg-webgpu/matmul-tune.json
// (default ~/.cache/mqg-webgpu/; the name predates the other tuned kernels, whose records sit in
// the same file), one record per key, so each machine and driver tunes once. Importing this
// module registers the store; the Node entries (src/index.ts, src/node.ts, the CLI) import it next
// to './gpu/node'. A missing or unreadable file means "not tuned yet"; failing to write is not an
// error (the choice still holds in memory).

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { type TuneRecord, type TuneStore, setTuneStore } from './store';

/** Where the Node store keeps its records. */
export function tuneStoreFile(): string {
  const env = (globalThis as any).process?.env ?? {};
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'mqg-webgpu', 'matmul-tune.json');
}

function readAll(file: string): Record<string, TuneRecord<unknown>> {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8'));
    return data && typeof data === 'object' && !Array.isArray(data) ? data : {};
  } catch {
    return {};
  }
}

/** A store over one JSON file: { [key]: record }. */
export function fileTuneStore(file = tuneStoreFile()): TuneStore {
  return {
    load(key) {
      const rec = readAll(file)[key];
      return rec && typeof rec === 'object' && rec.variant ? rec : undefined;
    },
    save(key, record) {
      try {
        const all = readAll(file);
        all[key] = record;
        mkdirSync(dirname(file), { recursive: true });
        const tmp = `${file}.${(globalThis as any).process?.pid ?? 0}.tmp`;
        writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n');
        renameSync(tmp, file); // atomic: concurrent processes never read half a file
      } catch {
        // read-only home or similar: keep the in-memory choice only
      }
    },
  };
}

setTuneStore(fileTuneStore());
