// `mqg-webgpu/kernels` in Node: the same modules as in browsers, with WebGPU through Dawn.
import '../gpu/node';
export * from './index';
