// The memory plan against what a real GPT2 allocation reports, category by category.
import { expect } from 'vitest';
import { GPT2, type GPUContext } from '../../src/index';
import { memoryPlan, type MemoryPlanInput } from '../../src/model/memory';

/** Build a GPT2 from the plan's inputs, allocate (B, T), and expect memoryPlan (generation off) to equal model.memoryReport() byte for byte. */
export function expectPlanMatchesAllocation(gpu: GPUContext, plan: Omit<MemoryPlanInput, 'generation' | 'maxBindingBytes'>): void {
  const { config, precision, training, maxBankElements, lora, checkpointActivations } = plan;
  const model = new GPT2(gpu, config, { precision, training, maxBankElements, lora, checkpointActivations });
  model.allocate(plan.B, plan.T);
  const r = model.memoryReport();
  const p = memoryPlan({ ...plan, generation: false, maxBindingBytes: gpu.limits.maxStorageBufferBindingSize });
  expect(p.weights + p.masterWeights, 'parameters').toBe(r.parameters);
  expect(p.gradients, 'gradients').toBe(r.gradients);
  expect(p.adamMoments, 'optimizer').toBe(r.optimizer);
  expect(p.activations + p.logitsChunk, 'activations').toBe(r.activations);
  expect(p.activationGrads, 'activation gradients').toBe(r.activationGradients);
  model.destroy();
}
