// The tokenizer contract shared by GPT-2's BPE, Hugging Face tokenizer.json files and trained BPEs.

/** What every tokenizer offers: text to ids and back, its vocabulary size and end-of-text id. */
export interface Tokenizer {
  /** What to record in run metadata, e.g. "gpt2", a tokenizer.json path, or "bpe-8192". */
  name: string;
  /** 1 + the largest token id the tokenizer can emit; the model's vocab size must be at least this. */
  vocabSize: number;
  /** The end-of-text id (GPT-2: 50256 `<|endoftext|>`), used as the document separator in shards. */
  eotToken: number;
  /** Text to ids. Special-token text (e.g. a literal "<|endoftext|>") is encoded as ordinary text. */
  encode(text: string): number[];
  /** Ids to text. Bytes are joined over the whole sequence before UTF-8 decoding, so tokens that split a
   *  multi-byte character decode correctly together; invalid byte sequences become U+FFFD. */
  decode(ids: ArrayLike<number>): string;
}

/** Extra encode options the built-in tokenizers accept as a second argument. */
export interface EncodeOptions {
  /** Special tokens whose literal text in the input maps to their id instead of ordinary text. */
  allowedSpecial?: 'all' | Iterable<string>;
}
