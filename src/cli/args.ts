// Command-line flags: typed, range-checked (by the same rules and validator the library checks its
// options with), with defaults, and a clear error for anything unknown or malformed.

import { UsageError } from '../util/errors';
import { optionProblem, type OptionType, type ValueRule } from '../train/options';

export type FlagType = OptionType;

/** A flag: its value rule (the library's, see src/train/options.ts), help and default. */
export interface FlagSpec extends ValueRule {
  default?: string | number | boolean;
  help: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

const INT = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Checks a value against its spec's range or choices; returns the problem, or undefined (the library's one validator). */
export const flagProblem: (s: FlagSpec, v: unknown) => string | undefined = optionProblem;

/** Parse `--name value`, `--name=value`, `--flag` and `--no-flag` against the spec. Numbers are
 *  decimal only (`0x10`, `1_000`, `Infinity` and empty strings are errors) and range-checked.
 *  `given` holds the flags that appeared on the command line (defaults are not in it). */
export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, command: string): { flags: FlagValues; positional: string[]; given: Set<string> } {
  const flags: FlagValues = {};
  const positional: string[] = [];
  const given = new Set<string>();
  for (const [name, s] of Object.entries(spec)) if (s.default !== undefined) flags[name] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const s = spec[name];
    if (!s && name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean' && value === undefined) {
      flags[name.slice(3)] = false;
      given.add(name.slice(3));
      continue;
    }
    if (!s) {
      const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
      throw new UsageError(`mqg ${command}: unknown flag --${name} (known: ${known})`);
    }
    given.add(name);
    if (s.type === 'boolean') {
      if (value === undefined) flags[name] = true;
      else if (value === 'true' || value === 'false') flags[name] = value === 'true';
      else throw new UsageError(`mqg ${command}: --${name} is a switch; got "${value}"`);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`mqg ${command}: --${name} needs a value`);
    }
    if (s.type === 'string') {
      // an empty value is a mistake (an unset shell variable), unless '' means something for this flag (or is its default)
      if (!value.trim() && s.default !== '' && s.emptyMeans === undefined) throw new UsageError(`mqg ${command}: --${name} is empty; give a value`);
      flags[name] = value;
    }
    else {
      if (!(s.type === 'int' ? INT : DECIMAL).test(value)) {
        throw new UsageError(`mqg ${command}: --${name} must be ${s.type === 'int' ? 'a decimal integer' : 'a decimal number'}; got "${value}"`);
      }
      flags[name] = Number(value);
    }
    const problem = flagProblem(s, flags[name]);
    if (problem) throw new UsageError(`mqg ${command}: --${name} ${problem}`);
  }
  return { flags, positional, given };
}

export function usage(command: string, summary: string, spec: Record<string, FlagSpec>, footer = ''): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    const arg = s.type === 'boolean' ? '' : ` <${s.choices ? s.choices.join('|') : s.type === 'string' ? 'value' : 'n'}>`;
    const def = s.default !== undefined && s.default !== '' ? ` (default: ${s.default})` : '';
    const name = `  --${k}${arg}`;
    // a long choice list puts the help on its own line rather than running into it
    return (name.length < 27 ? name.padEnd(28) : `${name}\n${''.padEnd(28)}`) + s.help + def;
  });
  return `mqg ${command}: ${summary}\n\n${rows.join('\n')}${footer ? `\n\n${footer}` : ''}`;
}
