import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { doctorReport } from '../../src/index';
import { getGPU } from '../helpers/gpu';

describe('mqg doctor', () => {
  it('reports the adapter, features, limits and that both precisions compute', async () => {
    const gpu = await getGPU('f32');
    const report = await doctorReport(gpu);
    expect(report).toMatch(/^adapter: \S/m);
    expect(report).toContain(`maxStorageBufferBindingSize: ${gpu.limits.maxStorageBufferBindingSize}`);
    expect(report).toContain('f32 compute: works');
    if (gpu.hasF16) {
      expect(report).toContain('f16 compute: works');
      expect(report).toContain('precision auto -> f16');
    } else expect(report).toContain('f16 compute: not offered');
  });

  it.skipIf(!existsSync('dist/node/cli.js'))('runs as `mqg doctor` from the built CLI', () => {
    const out = execFileSync('node', ['bin/mqg.js', 'doctor'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toMatch(/^adapter: /m);
    expect(out).toContain('f32 compute: works');
    let err = '';
    try {
      execFileSync('node', ['bin/mqg.js', 'doctor', '--bogus'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      err = String((e as { stderr: string }).stderr);
      expect((e as { status: number }).status).toBe(2);
    }
    expect(err).toContain('unknown flag --bogus');
  });
});
