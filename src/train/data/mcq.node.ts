// Node-only: read a multiple-choice file (any format of ./mcq, detected or given).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseMcq, type McqFormat, type McqRecord } from './mcq';
import { McqFormatError } from '../../util/errors';
import { describeFsError } from '../../util/outputs.node';

export function readMcqFile(path: string, format?: McqFormat | 'auto'): McqRecord[] {
  if (!existsSync(path)) throw new McqFormatError(`MCQ file not found: ${path}`);
  if (statSync(path).isDirectory()) throw new McqFormatError(`${path} is a directory, not a multiple-choice file (give the .jsonl / .json / .csv file)`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new McqFormatError(`cannot read MCQ file ${path}: ${describeFsError(e)}`);
  }
  return parseMcq(text, path, format);
}
