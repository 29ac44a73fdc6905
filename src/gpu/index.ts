export * from '../util/errors';
export * from './tensor';
export * from './kernel';
export * from './context';
export * from './doctor';
export * from './adapter';
export * from './sources';
