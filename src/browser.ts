// The package root in browsers (the `browser` export condition): WebGPU through navigator.gpu,
// no Node built-ins. `loadModel` takes bytes, an ArrayBuffer, a Blob/File, a Response or a URL.
export * from './core';
export { loadModelFrom as loadModel } from './model/load';
