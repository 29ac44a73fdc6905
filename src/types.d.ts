// wgsl_reflect's main entry imports as an empty module in Node; its ESM build has no typings of its own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect/types/index';
}
