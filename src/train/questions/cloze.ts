// The offline question generator (`--generator cloze`): no language model, the same questions for
// the same text on every machine. A question blanks a key term of one sentence of the passage; its
// options are that term and terms of the same kind drawn from the whole corpus.
//
// Terms and their kinds, read from every passage of the corpus:
//   - phrases "w1 w2" of two content words within a clause, whose kind is the head w2 when at least
//     `options` different modifiers w1 come before it in the corpus ("smooth muscle", "skeletal
//     muscle", ...); the head must be a noun (seen after a determiner somewhere) and the modifier
//     not a verb, adverb or plural (seen after "to" or a modal, "-ly", "-s", "-ing") nor generic ("high");
//   - single words of 6+ letters with a medical suffix ("-itis", "-osis", "-ase", "-cyte", ...)
//     shared by at least `options` different words of the corpus; the suffix is their kind.
// A sentence's key term is its rarest term in the corpus (a phrase before a word at equal counts);
// the passage's N questions come from N sentences with different key terms, in passage order. The
// distractors are terms of the same kind absent from the passage where there are enough of them,
// picked and shuffled by a generator seeded from the passage id and the term. The reply it writes is
// the JSON an LLM would send, so it goes through the same checks.

import { Rng } from '../../util/rng';
import { normaliseText, STOPWORDS } from './reply';

const SUFFIXES = [
  'itis', 'osis', 'emia', 'aemia', 'oma', 'ase', 'cyte', 'cytes', 'pathy', 'plasia', 'ectomy', 'algia', 'trophy', 'lysis',
  'mycin', 'cillin', 'olol', 'pril', 'sartan', 'statin', 'azole', 'mab', 'ine', 'ide', 'ism', 'gen', 'one', 'ate',
].sort((a, b) => b.length - a.length);

/** Stopwords, and words too plain to be a term's head or modifier. */
const STOP = new Set([
  ...STOPWORDS,
  ...('one two three many much often usually normally called known used because while within without across against along ' +
    'around per via until causes cause caused include includes including leads lead produces produce makes make become becomes').split(' '),
]);

interface Term {
  key: string;
  kind: string;
  /** How often it occurs in the corpus. */
  count: number;
  /** Its most frequent written form. */
  shown: string;
  phrase: boolean;
}

/** Terms of the corpus by key (lower case), with their kinds. */
export class TermIndex {
  readonly terms = new Map<string, Term>();
  readonly byKind = new Map<string, string[]>();

  constructor(texts: readonly string[], options: number) {
    const counts = new Map<string, number>(), forms = new Map<string, Map<string, number>>(), modifiers = new Map<string, Set<string>>();
    const nouns = new Set<string>(), verbs = new Set<string>();
    const add = (key: string, form: string | undefined) => {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const f = forms.get(key) ?? new Map<string, number>();
      if (form) f.set(form, (f.get(form) ?? 0) + 1);
      forms.set(key, f);
    };
    // phrases never cross punctuation ("fever, muscle pain" holds no "fever muscle"); a sentence's first
    // word is capitalised as a sentence, not as a name, so its written form is not counted
    const clauses = texts.flatMap((t) => sentences(t).flatMap((s) => s.split(/[,;:()]/).map((c, n) => ({ w: words(c), first: n === 0 }))));
    for (const { w, first } of clauses) {
      for (let i = 0; i < w.length; i++) {
        const k = w[i]!.toLowerCase(), before = w[i - 1]?.toLowerCase() ?? '';
        if (isContent(k)) add(k, first && i === 0 ? undefined : w[i]!);
        if (DETERMINERS.has(before)) nouns.add(k);
        if (VERB_BEFORE.has(before)) verbs.add(k);
      }
    }
    for (const { w, first } of clauses) {
      for (let i = 0; i + 1 < w.length; i++) {
        const k = w[i]!.toLowerCase(), k2 = w[i + 1]!.toLowerCase();
        if (!isContent(k2) || !isModifier(k) || verbs.has(k)) continue;
        add(`${k} ${k2}`, first && i === 0 ? undefined : `${w[i]} ${w[i + 1]}`);
        (modifiers.get(k2) ?? modifiers.set(k2, new Set()).get(k2)!).add(k);
      }
    }
    // a head is a noun: seen after a determiner somewhere in the corpus (itself, or its singular or plural)
    const isNoun = (w: string) => nouns.has(w) || nouns.has(w.replace(/e?s$/, '')) || nouns.has(`${w}s`);
    const suffixWords = new Map<string, string[]>();
    for (const key of counts.keys()) {
      if (key.includes(' ')) {
        const head = key.slice(key.indexOf(' ') + 1);
        if ((modifiers.get(head)?.size ?? 0) >= options && isNoun(head)) this.put(key, `head:${head}`, counts, forms, true);
      } else if (key.length >= 6) {
        const suffix = SUFFIXES.find((x) => key.endsWith(x) && key.length > x.length + 2);
        if (suffix) (suffixWords.get(suffix) ?? suffixWords.set(suffix, []).get(suffix)!).push(key);
      }
    }
    for (const [suffix, ws] of suffixWords) if (ws.length >= options) for (const w of ws) this.put(w, `suffix:${suffix}`, counts, forms, false);
    for (const list of this.byKind.values()) list.sort();
  }

  private put(key: string, kind: string, counts: Map<string, number>, forms: Map<string, Map<string, number>>, phrase: boolean): void {
    const shown = [...forms.get(key)!].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? key;
    this.terms.set(key, { key, kind, count: counts.get(key)!, shown, phrase });
    (this.byKind.get(kind) ?? this.byKind.set(kind, []).get(kind)!).push(key);
  }
}

const isContent = (w: string) => w.length >= 3 && !STOP.has(w) && /^[a-z][a-z-]*$/.test(w);

const DETERMINERS = new Set('the a an of its their this these each every such any some no'.split(' '));
/** Words after which a verb comes ("to reduce", "may cause"): such a word does not modify a term. */
const VERB_BEFORE = new Set('to can may must will would should could cannot not does did'.split(' '));

/** Words too common to make a term of a phrase ("high blood", "normal cells"). */
const GENERIC = new Set(
  ('high low higher lower normal new large small main major minor common several different certain important early late first ' +
    'second long short good poor adult young older total whole entire little great greater same other further given specific ' +
    'various similar typical usual rare frequent final initial').split(' '),
);

/** Whether a word can modify the head of a term: no adverb ("-ly"), no verb or plural ("-s", "lowers blood"), nothing generic. */
const isModifier = (w: string) => w.length >= 4 && isContent(w) && !GENERIC.has(w) && !/ly$/.test(w) && !/[^siuy]s$/.test(w) && !/ing$/.test(w);

/** The passage's sentences (split after . ! ? before a capital, digit or quote). */
export function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+(?=["'(A-Z0-9])/).map((s) => s.trim()).filter(Boolean);
}

const words = (s: string) => s.match(/[A-Za-z][A-Za-z-]*/g) ?? [];

/** 32-bit FNV-1a of a string (the seed of a question's draws). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The key term of a sentence and where it is, or undefined. */
function keyTerm(index: TermIndex, sentence: string, used: Set<string>): { term: Term; at: RegExpExecArray } | undefined {
  const w = words(sentence).map((x) => x.toLowerCase());
  const found: Term[] = [];
  for (let i = 0; i < w.length; i++) {
    for (const key of [w[i]!, `${w[i]} ${w[i + 1]}`]) {
      const t = index.terms.get(key);
      if (t && !used.has(key) && !found.includes(t)) found.push(t);
    }
  }
  found.sort((a, b) => a.count - b.count || Number(b.phrase) - Number(a.phrase) || (a.key < b.key ? -1 : 1));
  for (const term of found) {
    const at = new RegExp(`(?<![A-Za-z-])${escapeRe(term.key).replace(' ', '\\s+')}(?![A-Za-z-])`, 'i').exec(sentence);
    if (at) return { term, at };
  }
  return undefined;
}

/** The cloze generator's reply for a passage: up to `n` questions of `options` options, as reply JSON. */
export function clozeReply(index: TermIndex, passage: { id: string; text: string }, n: number, options: number): string {
  const norm = ` ${normaliseText(passage.text)} `;
  const used = new Set<string>();
  const questions: { question: string; options: string[]; answers: string[]; explanation: string }[] = [];
  for (const s of sentences(passage.text)) {
    if (questions.length >= n || words(s).length < 6) continue;
    const k = keyTerm(index, s, used);
    if (!k) continue;
    const pool = index.byKind.get(k.term.kind)!.filter((x) => x !== k.term.key);
    const absent = pool.filter((x) => !norm.includes(` ${x} `));
    const rng = new Rng(fnv1a(`${passage.id}\u0000${k.term.key}`));
    const from = absent.length >= options - 1 ? absent : pool.filter((x) => !normaliseText(s).includes(x));
    if (from.length < options - 1) continue;
    used.add(k.term.key);
    const picked = rng.shuffle([...from]).slice(0, options - 1).map((x) => index.terms.get(x)!.shown);
    const opts = rng.shuffle([k.term.shown, ...picked]);
    const blank = s.slice(0, k.at.index) + '_____' + s.slice(k.at.index + k.at[0].length);
    questions.push({
      question: `Which term fills the blank? ${blank}`,
      options: opts,
      answers: [String.fromCharCode(65 + opts.indexOf(k.term.shown))],
      explanation: `The passage says: ${s}`,
    });
  }
  return JSON.stringify({ questions });
}
