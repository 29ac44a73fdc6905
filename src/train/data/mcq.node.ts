// Node-only: read an MCQ JSONL file.
import { existsSync, readFileSync } from 'node:fs';
import { parseMcqJsonl, type McqRecord } from './mcq';

export function readMcqFile(path: string): McqRecord[] {
  if (!existsSync(path)) throw new Error(`MCQ file not found: ${path}`);
  return parseMcqJsonl(readFileSync(path, 'utf8'), path);
}
