// GPT-2 model, configs and checkpoint formats (browser-safe parts; file I/O is in the Node entry).
export * from './config';
export * from './safetensors';
export * from './hfnames';
export * from './llmc';
export * from './params';
export * from './gpt2';
export * from './generate';
