// Node entry: the whole library, with WebGPU through Dawn.
import './gpu/node';
import './kernels/matmul-tune.node';
export * from './core';
export * from './model/checkpoint.node';
export * from './model/io.node';
