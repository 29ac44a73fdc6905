// Native reference on the same CPU: single-precision GEMM through Debian's python3-numpy on
// OpenBLAS (apt-get install python3-numpy libopenblas0-pthread), all cores, median of several
// runs after a warm-up. OPENBLAS_CORETYPE is removed from the child's environment so OpenBLAS
// picks its kernels for this CPU itself. Undefined (with the reason) where python3 or numpy is missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's interpreter (with its python3-numpy) where present, not whatever python3 is first on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const SCRIPT = `
import sys, time, numpy as np
n = int(sys.argv[1]); runs = int(sys.argv[2])
rng = np.random.default_rng(7)
a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
a @ b
ts = []
for _ in range(runs):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
ts.sort()
blas = 'unknown'
try:
    import ctypes, re
    maps = open('/proc/self/maps').read()
    m = re.search(r'(\S*openblas\S*|\S*libblas\S*)', maps)
    blas = m.group(1).split('/')[-1] if m else 'unknown'
except Exception:
    pass
print(2 * n ** 3 / ts[len(ts) // 2] / 1e9, np.__version__, blas)
`;

export interface NativeSgemm {
  gflops: number;
  numpy: string;
  blas: string;
}

export function nativeSgemm(n = 1024, runs = 7): NativeSgemm | { error: string } {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  try {
    const out = execFileSync(PYTHON, ['-c', SCRIPT, String(n), String(runs)], { env, encoding: 'utf8', timeout: 120_000 }).trim();
    const [g, numpy, blas] = out.split(/\s+/);
    return { gflops: Number(g), numpy: numpy ?? '', blas: blas ?? '' };
  } catch (e) {
    return { error: `python3 with numpy not available (${(e as Error).message.split('\n')[0]}); apt-get install -y python3-numpy libopenblas0-pthread` };
  }
}
