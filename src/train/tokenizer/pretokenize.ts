// GPT-2's pre-tokenization split: contractions, letter runs, digit runs, punctuation runs, whitespace.
// BPE merges never cross these boundaries.

/** GPT-2's pattern (encoder.py), with \s written as \p{White_Space} so it matches Python's `regex` and the
 *  Rust tokenizers (JS's \s would also take U+FEFF and miss U+0085). */
export const GPT2_SPLIT_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

export function gpt2SplitRegex(): RegExp {
  return new RegExp(GPT2_SPLIT_PATTERN, 'gu');
}

/** Calls fn(start, end) for each pre-token of text, in order. The pieces always cover the whole text. */
export function forEachPretoken(text: string, re: RegExp, fn: (start: number, end: number) => void): void {
  re.lastIndex = 0;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const s = m.index;
    const e = s + m[0].length;
    if (s > last) fn(last, s); // a custom split pattern may skip characters: keep them as their own piece
    if (e === s) {
      re.lastIndex++; // empty match: step over it
      continue;
    }
    fn(s, e);
    last = e;
  }
  if (last < text.length) fn(last, text.length);
}

/** The pre-tokens of text as strings (for tests and inspection). */
export function pretokenize(text: string, re: RegExp = gpt2SplitRegex()): string[] {
  const out: string[] = [];
  forEachPretoken(text, re, (s, e) => out.push(text.slice(s, e)));
  return out;
}
