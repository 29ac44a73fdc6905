export * from './tokenizer/index';
export * from './data/index';
export * from './schedule';
export * from './mcq-eval';
export * from './plot';
export * from './profile';
