// Browser-safe tokenizer exports (Node file loading lives in ./load.node).
export type { Tokenizer, EncodeOptions } from './types';
export { BpeTokenizer, splitOnSpecials } from './bpe';
export type { BpeSpec } from './bpe';
export { gpt2Tokenizer, Gpt2Tokenizer, GPT2_VOCAB_SIZE, GPT2_EOT } from './gpt2';
export { hfTokenizerFromJSON } from './hf';
export type { HfTokenizerJson, HfAddedToken, HfLoadOptions } from './hf';
export { trainBpe } from './train';
export type { TrainBpeOptions } from './train';
export { GPT2_SPLIT_PATTERN, gpt2SplitRegex, pretokenize } from './pretokenize';
export { BYTE_TO_CHAR, bytesToTokenString, tokenStringToBytes, utf8Decode, utf8Encode } from './bytes';
