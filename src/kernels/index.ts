// Every WGSL kernel's launcher. Each records into a Step and never reads back.
export * from './matmul';
export * from './attention';
export * from './decode';
export * from './layernorm';
export * from './gelu';
export * from './residual';
export * from './encoder';
export * from './classifier';
export * from './reduce';
export * from './adamw';
export * from './mchead';
