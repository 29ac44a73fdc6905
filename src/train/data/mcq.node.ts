// Node-only: read a multiple-choice file (any format of ./mcq, detected or given).
import { existsSync, readFileSync } from 'node:fs';
import { parseMcq, type McqFormat, type McqRecord } from './mcq';
import { McqFormatError } from '../../util/errors';

export function readMcqFile(path: string, format?: McqFormat | 'auto'): McqRecord[] {
  if (!existsSync(path)) throw new McqFormatError(`MCQ file not found: ${path}`);
  return parseMcq(readFileSync(path, 'utf8'), path, format);
}
