// The tuning room's public surface (re-exported by the kernels entry): the one store and its key,
// the choice every tuned kernel keeps, the per-kernel tuners, and autoTune with the first-use hook.
// The kernels' own choices (matmulChoice, attentionChoice, layernormChoice, crossEntropyChoice) and
// their force switches (setMatmulVariant, ...) are exported with the kernels.
export { LIBRARY_VERSION, TUNE_VERSION, setTuneStore, tuneKey, type TuneAdapter, type TuneRecord, type TuneStore } from './store';
export { TunedChoice, type ChoiceRules } from './choice';
export { TUNE_SHAPES, matmulCandidates, modelTuneShapes, tuneMatmul, type TuneMatmulOptions, type TuneModelShape } from './matmul';
export { attentionCandidates, tuneAttention, type AttentionShape, type TuneAttentionOptions } from './attention';
export { tuneRowKernels, type RowShape, type RowTuneResult, type TuneRowsOptions } from './rows';
export { qgemmCandidates, tuneQgemm, type TuneQgemmOptions } from './qmatmul';
export { autoTune, autoTuneEnabled, autoTuneOnce, type AutoTuneOptions, type AutoTuneResult } from './auto';
