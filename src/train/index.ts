export * from './tokenizer/index';
export * from './data/index';
export * from './schedule';
export * from './mcq-eval';
export * from './plot';
export * from './profile';
export * from './finetune-mcq';
export * from './finetune-mcq-head';
