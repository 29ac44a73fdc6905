// Command-line flags: typed, with defaults, and a clear error for anything unknown or malformed.

export type FlagType = 'string' | 'number' | 'int' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  default?: string | number | boolean;
  help: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parse `--name value`, `--name=value`, `--flag` and `--no-flag` against the spec. */
export function parseFlags(argv: string[], spec: Record<string, FlagSpec>, command: string): { flags: FlagValues; positional: string[] } {
  const flags: FlagValues = {};
  const positional: string[] = [];
  for (const [name, s] of Object.entries(spec)) if (s.default !== undefined) flags[name] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let s = spec[name];
    if (!s && name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean' && value === undefined) {
      flags[name.slice(3)] = false;
      continue;
    }
    if (!s) {
      const known = Object.keys(spec).map((k) => `--${k}`).join(', ');
      throw new UsageError(`mqg ${command}: unknown flag --${name} (known: ${known})`);
    }
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
    if (s.type === 'string') flags[name] = value;
    else {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || (s.type === 'int' && !Number.isInteger(n))) {
        throw new UsageError(`mqg ${command}: --${name} must be ${s.type === 'int' ? 'an integer' : 'a number'}; got "${value}"`);
      }
      flags[name] = n;
    }
  }
  return { flags, positional };
}

export function usage(command: string, summary: string, spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    const arg = s.type === 'boolean' ? '' : ` <${s.type === 'string' ? 'value' : 'n'}>`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    return `  --${k}${arg}`.padEnd(28) + s.help + def;
  });
  return `mqg ${command}: ${summary}\n\n${rows.join('\n')}`;
}
