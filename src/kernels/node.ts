export * from './index';
export * from './matmul-tune.node';
