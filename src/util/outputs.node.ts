// The one set of rules for what a command writes (Node). Every command that writes a file or a
// directory (convert, merge, tokenizer train, data prepare, eval-mcq --report, and the run
// directories of train / finetune-mcq through rundir.node.ts) checks its outputs here BEFORE any work:
//   - a non-empty path, never under /proc or /sys (kernel file systems: Node's recursive mkdir spins there);
//   - the right kind: a file output that is a directory, or a directory output that is a file, is refused;
//   - writable: the nearest existing ancestor is a directory we may write (nothing is created by the check);
//   - an existing output (a file, or a non-empty directory) is refused without --overwrite;
//   - an output equal to an input, or a directory output holding an input, is refused always.
// Writing then creates the parents (prepareOutput) and replaces each file with one rename (writeFileAtomicSync).

import { accessSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { OutputError } from './errors';

export interface OutputInput {
  /** The flag that names the input, e.g. '--checkpoint'. */
  flag: string;
  path: string;
}

export interface OutputCheck {
  /** The flag that names the output, e.g. '--out' (messages name it). */
  flag: string;
  path: string;
  kind: 'file' | 'dir';
  /** --overwrite was given: an existing output may be replaced. */
  overwrite?: boolean;
  /** Inputs the command reads: the output may be none of them, and (a directory output) hold none of them. */
  inputs?: readonly OutputInput[];
  /** Names of the command, for messages ("mqg convert"). */
  command?: string;
}

const KERNEL_FS = /^\/(proc|sys)(\/|$)/;

/** '/proc' or '/sys' when `path` lies in that kernel file system (nothing may be written there: Node's recursive mkdir spins), else undefined. */
export function kernelFileSystem(path: string): '/proc' | '/sys' | undefined {
  const m = KERNEL_FS.exec(canonical(path)) ?? KERNEL_FS.exec(resolve(path));
  return m ? (`/${m[1]}` as '/proc' | '/sys') : undefined;
}

/** Words for the usual file-system error codes (messages say what, not ENOENT). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EROFS: 'read-only file system', EACCES: 'permission denied', EPERM: 'operation not permitted', ENOTDIR: 'a path component is a file',
    ENOSPC: 'no space left on the device', ENOENT: 'a parent directory does not exist', EEXIST: 'already exists', EISDIR: 'is a directory',
    ENAMETOOLONG: 'the name is too long', ELOOP: 'too many symbolic links',
  };
  return code ? `${words[code] ?? code}` : (e as Error).message;
}

/** A path with symbolic links resolved as far as it exists (the rest appended), for comparing outputs with inputs. */
function canonical(p: string): string {
  let head = resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return resolve(realpathSync(head), ...tail.reverse());
    } catch {
      const up = dirname(head);
      if (up === head) return resolve(p);
      tail.push(head.slice(up.length + (up.endsWith(sep) ? 0 : 1)));
      head = up;
    }
  }
}

const inside = (child: string, dir: string) => {
  const rel = relative(dir, child);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel));
};

/** Checks an output before any work (see the rules above); throws OutputError naming the flag and the path. Creates nothing. */
export function checkOutput(o: OutputCheck): void {
  const what = `${o.command ? `${o.command}: ` : ''}${o.flag} ${o.path}`;
  if (!o.path || !o.path.trim()) throw new OutputError(`${o.command ? `${o.command}: ` : ''}${o.flag} is empty: give a path`);
  const abs = canonical(o.path);
  const kernel = kernelFileSystem(o.path);
  if (kernel) throw new OutputError(`${what}: ${kernel} is a kernel file system, not a place for outputs`);
  for (const i of o.inputs ?? []) {
    if (!i.path) continue;
    const inp = canonical(i.path);
    if (inp === abs) throw new OutputError(`${what} is the same as ${i.flag} ${i.path}: writing it would destroy the input; give another ${o.flag}`);
    if (o.kind === 'dir' && inside(inp, abs)) throw new OutputError(`${what} holds ${i.flag} ${i.path}: writing it could destroy the input; give another ${o.flag}`);
  }
  let st;
  try {
    st = statSync(o.path);
  } catch {
    st = undefined;
  }
  if (st) {
    if (o.kind === 'file' && st.isDirectory()) throw new OutputError(`${what} is a directory; give a file name (a path inside it, or elsewhere)`);
    if (o.kind === 'dir' && !st.isDirectory()) throw new OutputError(`${what} is a file, not a directory`);
    const exists = o.kind === 'file' || readdirSync(o.path).length > 0;
    if (exists && !o.overwrite) throw new OutputError(`${what} already exists; give --overwrite to replace it`);
  }
  // the nearest existing ancestor must be a writable directory
  let at = resolve(o.path);
  if (st && o.kind === 'file') at = dirname(at);
  for (;;) {
    if (existsSync(at)) break;
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (!statSync(at).isDirectory()) throw new OutputError(`${what}: ${at} is a file, not a directory`);
  try {
    accessSync(at, constants.W_OK);
  } catch (e) {
    throw new OutputError(`${what} is not writable (${at}: ${describeFsError(e)})`);
  }
}

/** Creates what an output needs: its parent directories (a file) or itself with parents (a directory). */
export function prepareOutput(path: string, kind: 'file' | 'dir', flag = '--out'): void {
  const kernel = kernelFileSystem(path);
  if (kernel) throw new OutputError(`${flag} ${path}: ${kernel} is a kernel file system, not a place for outputs`);
  const dir = kind === 'dir' ? path : dirname(resolve(path));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new OutputError(`${flag} ${path}: cannot create ${dir} (${describeFsError(e)})`);
  }
}

/** Writes a new file (never an existing one) and fsyncs it: inside a temp directory that is renamed whole. */
export function writeSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'wx');
  try {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a file whole or not at all: a temp file beside it (writeSynced), one rename over `path` (a failure removes the temp). */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeSynced(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new OutputError(`cannot write ${path}: ${describeFsError(e)}`);
  }
}
