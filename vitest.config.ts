import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { lavapipeVectorWidth } from './src/gpu/lavapipe';

// lavapipe's vector width decides the subgroup size the kernels see: 8 lanes at 256 bits, 16 at 512
// (src/gpu/lavapipe.ts: 512 where the CPU has AVX-512). Each width has its own kernel variants, so
// on lavapipe the kernel-variant suites run a second time at the width this machine does not use.
function otherLavapipeWidth(): string | undefined {
  const icd = '/usr/share/vulkan/icd.d';
  if (!existsSync(icd) || !readdirSync(icd).some((f) => f.startsWith('lvp_icd'))) return undefined;
  // the width src/gpu/node.ts runs at: the user's, else 512 where lavapipeVectorWidth picks it, else Mesa's 256
  const width = process.env.LP_NATIVE_VECTOR_WIDTH ?? lavapipeVectorWidth(process.env, () => readFileSync('/proc/cpuinfo', 'utf8')) ?? '256';
  return width === '512' ? '256' : '512';
}
const other = otherLavapipeWidth();

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // lavapipe uses every core for each dispatch: running test files one at a time is faster than racing them.
    fileParallelism: false,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['tests/**/*.test.ts'] } },
      ...(other
        ? [{
          extends: true,
          test: {
            name: `lavapipe-${other}-bit`,
            include: ['tests/kernels/matmul.test.ts', 'tests/kernels/attention.test.ts', 'tests/kernels/tune/attention.test.ts', 'tests/kernels/tune/matmul.test.ts'],
            env: { LP_NATIVE_VECTOR_WIDTH: other },
          },
        }]
        : []),
    ],
  },
});
