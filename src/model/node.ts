export * from './index';
export * from './checkpoint.node';
export * from './io.node';
