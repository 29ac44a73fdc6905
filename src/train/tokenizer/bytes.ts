// Byte-level helpers: GPT-2's byte<->unicode alphabet, and UTF-8 conversion that never throws.

/** GPT-2's bytes_to_unicode(): printable latin-1 bytes map to themselves, the rest to U+0100.. so that
 *  every byte has a visible, non-whitespace character (space is 'Ġ', newline 'Ċ'). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  for (let i = 0; i < 256; i++) out[bs[i]] = String.fromCharCode(cs[i]);
  return out;
})();

/** Inverse of BYTE_TO_CHAR, keyed by UTF-16 code unit (all 256 chars are single code units). */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]));

/** Bytes to their byte-level token string, e.g. [0x20, 0x68, 0x69] -> "Ġhi". */
export function bytesToTokenString(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Byte-level token string back to bytes. Characters outside the byte alphabet (possible in hand-written
 *  vocabularies) contribute their own UTF-8 bytes. */
export function tokenStringToBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const b = ch.length === 1 ? CHAR_TO_BYTE.get(ch.charCodeAt(0)) : undefined;
    if (b !== undefined) out.push(b);
    else for (const x of utf8Encoder.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}

const utf8Encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF (the default would strip it and break decode(encode(x)) === x).
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function utf8Encode(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** Lenient UTF-8 decode: invalid or truncated sequences become U+FFFD (Hugging Face's errors="replace"). */
export function utf8Decode(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** UTF-8 encode s[start, end) into buf (which must hold 3 bytes per UTF-16 unit); returns the byte count.
 *  Lone surrogates become U+FFFD, as TextEncoder does. Avoids a TextEncoder call + allocation per word. */
export function utf8EncodeInto(s: string, start: number, end: number, buf: Uint8Array): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[n++] = c;
    } else if (c < 0x800) {
      buf[n++] = 0xc0 | (c >> 6);
      buf[n++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[n++] = 0xf0 | (c >> 18);
          buf[n++] = 0x80 | ((c >> 12) & 63);
          buf[n++] = 0x80 | ((c >> 6) & 63);
          buf[n++] = 0x80 | (c & 63);
          continue;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      buf[n++] = 0xe0 | (c >> 12);
      buf[n++] = 0x80 | ((c >> 6) & 63);
      buf[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}
