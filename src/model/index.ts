// GPT-2 model, configs and checkpoint formats (browser-safe parts; file I/O is in the Node entry).
export * from './config';
// The loader pipeline's browser-safe steps (source/*.ts; the Node steps are in node.ts).
export * from './source/bytes';
export * from './source/dtype';
export * from './source/safetensors';
export * from './source/torch';
export * from './source/llmc';
export * from './source/tensors';
export * from './source/config';
export * from './source/names';
export * from './source/open';
export * from './source/load';
export * from './params';
export * from './gpt2';
export * from './generate';
// LoRA (PEFT adapters), activation checkpointing and the memory plan.
export * from './peft';
export * from './lora';
export * from './lora-memory';
export * from './memory';
