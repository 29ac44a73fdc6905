// Browser-safe data exports (file I/O lives in ./shards.node).
export { Rng, mulberry32, deriveSeed } from '../../util/rng';
export { encodeShard, decodeShard, SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_BYTES, SHARD_MAX_VOCAB } from './shards';
export { DataLoader } from './loader';
export type { DataLoaderOptions, DataLoaderState, Batch } from './loader';
export { parseMcqJsonl, parseMcq, parseCsv, detectMcqFormat, optionLetter, MCQ_FORMATS } from './mcq';
export { McqFormatError } from '../../util/errors';
export type { McqRecord, McqFormat } from './mcq';
export { metricsOf, metricGroups, formatMetricGroups, predictedSet, predictionFor, jaccard } from './mcq-metrics';
export type { McqMetrics, McqMetricGroups, McqPrediction, PredictionKind } from './mcq-metrics';
export { caseHistory, questionRows, MCQ_UNCONDITIONAL, contextBlock, answerText } from './mcq-context';
export type { QuestionRows } from './mcq-context';
