// The option rules of the commands that train, as data (browser-safe): each option's type, range or
// choices, and what --resume does with it ('applies': may change; 'fixed': must match the run). The
// library checks its callers' options with `checkOptions` and merges a resumed run's options with
// `resumedOptions`; the CLI (src/cli/flags.ts) adds the help and parses the same rules, so
// `optionProblem` is the one validator of a value behind both. Errors are UsageErrors naming the
// option by its flag name (--batch-size), the one name users see.

import { UsageError } from '../util/errors';

export type OptionType = 'string' | 'number' | 'int' | 'boolean';

/** What an option's value may be. */
export interface ValueRule {
  type: OptionType;
  /** Numbers: the smallest value allowed (inclusive unless minExclusive). */
  min?: number;
  minExclusive?: boolean;
  /** Numbers: the largest value allowed (inclusive unless maxExclusive). */
  max?: number;
  maxExclusive?: boolean;
  /** Strings: the values allowed. */
  choices?: readonly string[];
  /** Strings: '' is a value of its own (e.g. '' = none); otherwise an empty value is an error on the command line. */
  emptyMeans?: string;
}

/** An option's rule; `type` may be left to its default's type. */
export type OptionRule = Omit<ValueRule, 'type'> & { type?: OptionType; resume: 'applies' | 'fixed' };

export type OptionRules<O> = Record<keyof O & string, OptionRule>;

/** The name users give an option by: batchSize -> batch-size. */
export function optionFlag(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A rule with its type decided (given, else its default's). */
export function valueRule(rule: OptionRule, dflt: unknown): ValueRule {
  const type = rule.type ?? (typeof dflt === 'boolean' ? 'boolean' : typeof dflt === 'number' ? 'number' : 'string');
  return { ...rule, type };
}

/** Checks a value against its rule's range or choices; returns the problem, or undefined. */
export function optionProblem(s: ValueRule, v: unknown): string | undefined {
  if (s.type === 'string') {
    if (typeof v !== 'string') return `must be a string; got ${JSON.stringify(v)}`;
    if (s.choices && !s.choices.includes(v)) return `must be one of ${s.choices.join(', ')}; got "${v}"`;
    return undefined;
  }
  if (s.type === 'boolean') return typeof v === 'boolean' ? undefined : `must be true or false; got ${JSON.stringify(v)}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a finite number; got ${typeof v === 'number' ? v : JSON.stringify(v)}`;
  if (s.type === 'int' && !Number.isInteger(v)) return `must be an integer; got ${v}`;
  // beyond 2^53 a count is no longer exact (and no run or sequence is that long)
  if (s.type === 'int' && !Number.isSafeInteger(v)) return `must be at most ${Number.MAX_SAFE_INTEGER}; got ${v}`;
  if (s.min !== undefined && (s.minExclusive ? !(v > s.min) : !(v >= s.min))) return `must be ${s.minExclusive ? '>' : '>='} ${s.min}; got ${v}`;
  if (s.max !== undefined && (s.maxExclusive ? !(v < s.max) : !(v <= s.max))) return `must be ${s.maxExclusive ? '<' : '<='} ${s.max}; got ${v}`;
  return undefined;
}

/** Range and choice checks of every option that is set. Throws UsageError naming the option. */
export function checkOptions<O extends object>(command: string, rules: OptionRules<O>, defaults: Partial<O>, o: O): void {
  for (const k of Object.keys(rules) as (keyof O & string)[]) {
    const v = o[k];
    if (v === undefined) continue;
    const problem = optionProblem(valueRule(rules[k], defaults[k]), v);
    if (problem) throw new UsageError(`mqg ${command}: --${optionFlag(k)} ${problem}`);
  }
}

/** The options given, without the undefined ones (an undefined option takes its default). */
export function definedOptions<O extends object>(given: Partial<O>): Partial<O> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<O>;
}

/**
 * The options of a resumed run in `out`: the saved ones, with the options given now applied where they may
 * change (and the `alsoApplies` ones, which the caller checks itself), an error for any other that
 * differs.
 */
export function resumedOptions<O extends { out: string; resume: boolean; overwrite: boolean }>(
  command: string, rules: OptionRules<O>, saved: O, given: Partial<O>, out: string, alsoApplies: readonly (keyof O)[] = [],
): O {
  const o: O = { ...saved, resume: true, overwrite: false, out };
  for (const [k, v] of Object.entries(given) as [keyof O & string, unknown][]) {
    if (v === undefined || k === 'out' || k === 'resume') continue;
    if (k === 'overwrite' && v) throw new UsageError(`mqg ${command}: --overwrite and --resume exclude each other (--resume continues the run, --overwrite replaces it)`);
    if (rules[k]?.resume === 'applies' || alsoApplies.includes(k)) (o as Record<string, unknown>)[k] = v;
    else if (JSON.stringify(v) !== JSON.stringify(saved[k])) {
      throw new UsageError(
        `mqg ${command} --resume: --${optionFlag(k)} ${JSON.stringify(v)} differs from ${saved[k] === undefined ? 'the run, which did not set it' : `the run's ${JSON.stringify(saved[k])}`}; it would change the model, the data order or the batch shape. ` +
          `Drop it to continue the run, or start a new run (--out elsewhere, or --overwrite)`,
      );
    }
  }
  return o;
}
