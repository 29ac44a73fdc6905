export * from './index';
export * from './checkpoint.node';
export * from './io.node';
export * from './peft.node';
export * from './lora.node';
