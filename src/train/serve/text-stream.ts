// Generated tokens to text as it can be sent: the decoded text grows token by token, but a token
// may end inside a UTF-8 character (the decoder shows U+FFFD until the rest arrives) and the text
// may be building up to a stop sequence. So each new token releases only the text that can no
// longer change or turn out to be the start of a stop sequence; a completed stop sequence ends the
// text before it.

/** Token ids in, text deltas out, with stop sequences cut off. */
export class TextStream {
  private readonly ids: number[] = [];
  /** The text released so far (the whole text once `end()` was called or a stop sequence met). */
  text = '';
  /** A stop sequence was generated: the text is final and generation should stop. */
  stopped = false;

  /** `trimStart`: leading whitespace is dropped (a chat reply after "Assistant:"). */
  constructor(private readonly decode: (ids: number[]) => string, private readonly stops: readonly string[], private readonly trimStart = false) {}

  private full(): string {
    const t = this.decode(this.ids);
    return this.trimStart ? t.trimStart() : t;
  }

  /** Add a token; returns the text it releases (maybe ''). */
  push(id: number): string {
    if (this.stopped) return '';
    this.ids.push(id);
    const full = this.full();
    let cut = -1;
    for (const s of this.stops) {
      const at = full.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      return this.release(full.slice(0, cut));
    }
    let end = full.length;
    while (end > 0 && full[end - 1] === '\uFFFD') end--;
    // hold back the longest tail that a stop sequence starts with
    let hold = 0;
    for (const s of this.stops) for (let k = Math.min(s.length - 1, end); k > hold; k--) if (full.endsWith(s.slice(0, k), end)) hold = k;
    return this.release(full.slice(0, end - hold));
  }

  /** No more tokens: the rest of the text. */
  end(): string {
    if (this.stopped) return '';
    return this.release(this.full());
  }

  /** Release the text up to `upTo` (a prefix of the text, as decoding only appends). */
  private release(upTo: string): string {
    if (upTo.length <= this.text.length) return '';
    const delta = upTo.slice(this.text.length);
    this.text = upTo;
    return delta;
  }
}
