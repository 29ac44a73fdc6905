// Everything that runs the same in Node and in a browser.
export * from './gpu/index';
export * from './util/f16';
