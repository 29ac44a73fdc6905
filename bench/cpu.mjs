// The CPU a bench's figures come from (lscpu's model name, else Node's), recorded with them.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export function cpuModel() {
  try {
    return execFileSync('lscpu', { encoding: 'utf8' }).match(/^Model name:\s*(.+)$/m)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown CPU';
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
}

export const cores = () => cpus().length;
