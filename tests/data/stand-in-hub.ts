// The stand-in Hub of the dataset tests (tests/helpers/hub-server.ts) serving org/med: three splits.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { startHubServer, type StandInHub } from '../helpers/hub-server';

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

/** A stand-in Hub serving one dataset repository `org/med` at SHA. */
export function standInHub(files: Record<string, Buffer> = MED_FILES): Promise<StandInHub> {
  return startHubServer({ kind: 'dataset', repo: 'org/med', sha: SHA, files });
}
