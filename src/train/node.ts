// Node entry for training: everything in ./index plus the file-based pieces.
export * from './index';
export * from './schedule';
export * from './mcq-eval';
export * from './plot';
export * from './trainer.node';
export * from './data/shards.node';
export * from './data/mcq.node';
export * from './tokenizer/load.node';
