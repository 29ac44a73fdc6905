export * from './errors';
export * from './tensor';
export * from './kernel';
export * from './context';
export * from './doctor';
