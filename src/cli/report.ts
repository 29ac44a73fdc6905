// How the CLI prints an error that ends a command.
import { UsageError } from '../util/errors';
import { MQGError } from '../util/errors';

const BUILT_IN = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError']);

/** User errors (typed: flags, files, data, checkpoints) print one or two lines; anything else is an
 *  internal fault: a one-line report, and the stack with MQG_DEBUG=1. Exit 2 for usage, 1 otherwise. */
export function reportError(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const fsCode = (err as NodeJS.ErrnoException).code;
  // typed errors: ours (MQGError, CheckpointError), any other named subclass, and file-system errors (they name the path)
  const user = err instanceof MQGError || !BUILT_IN.has(err.name) || (typeof fsCode === 'string' && /^E[A-Z]+$/.test(fsCode));
  if (process.env.MQG_DEBUG) console.error(err);
  else if (user) console.error(`error: ${err.message}`);
  else console.error(`internal error: ${err.message}\n(a bug in mqg; rerun with MQG_DEBUG=1 for the stack trace and report it)`);
  return err instanceof UsageError ? 2 : 1;
}
