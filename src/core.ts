// Everything that runs the same in Node and in a browser.
export * from './gpu/index';
export * from './util/f16';
export * from './model/index';
export * from './train/index';
export * from './kernels/index';
