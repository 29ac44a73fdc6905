// Browser entry: the whole library, with WebGPU through navigator.gpu. No Node built-ins.
export * from './core';
