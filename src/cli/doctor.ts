import { parseFlags, usage } from './args';
import { createGPU } from '../gpu/context';
import { doctorReport } from '../gpu/doctor';

const spec = {
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  help: { type: 'boolean', help: 'show this help' },
} as const;

export async function doctorMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, spec, 'doctor');
  if (flags.help) return void console.log(usage('doctor', 'describe the WebGPU adapter', spec));
  const gpu = await createGPU({ precision: flags.precision as 'auto' });
  console.log(await doctorReport(gpu));
  gpu.destroy();
}
