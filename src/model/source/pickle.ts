/**
 * The subset of Python's pickle that torch.save writes for a state dict: containers, numbers,
 * strings, and calls to an allow-list of tensor-rebuild functions. Browser-safe.
 *
 * Nothing is ever executed: GLOBAL only names a function, and a name outside ALLOWED_GLOBALS is
 * refused on sight (`os system`, `builtins eval`, ...), before any REDUCE could call it. The
 * allowed ones are interpreted here, not looked up: OrderedDict builds a dict, the storage types
 * name a dtype, `_rebuild_tensor_v2` builds a tensor descriptor over a storage that the archive's
 * `persistent_load` ids ('storage', StorageType, key, location, numel) point to.
 */

import { CheckpointError } from '../../util/errors';

/** torch storage class -> our dtype name. */
export const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const REBUILDERS = ['_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_parameter_with_state'];

export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  ...REBUILDERS.map((f) => `torch._utils.${f}`),
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
];

export class PickleDict {
  readonly map = new Map<unknown, unknown>();
}

export interface TorchStorage {
  key: string;
  dtype: string;
  numel: number;
}

export interface TorchTensor {
  storage: TorchStorage;
  /** In elements. */
  offset: number;
  shape: number[];
  stride: number[];
}

interface Global {
  global: string;
}

const MARK = Symbol('mark');

function isTuple(v: unknown): v is unknown[] {
  return Array.isArray(v);
}

/** Run the pickle program in `data`; returns the top-level object. `where` names the file in errors. */
export function unpickle(data: Uint8Array, where: string): unknown {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const text = new TextDecoder();
  let p = 0;
  const fail = (msg: string): never => {
    throw new CheckpointError(`${where}: ${msg} (pickle byte ${p})`);
  };
  const need = (n: number): number => {
    if (p + n > data.byteLength) fail('data.pkl is truncated');
    const at = p;
    p += n;
    return at;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, p);
    if (end < 0) fail('data.pkl is truncated');
    const s = text.decode(data.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = (): unknown => (stack.length ? stack.pop() : fail('pickle stack underflow'));
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('pickle MARK missing');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = (): unknown => (stack.length ? stack[stack.length - 1] : fail('pickle stack underflow'));
  const global = (module: string, name: string): Global => {
    const g = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.includes(g)) {
      throw new CheckpointError(
        `${where}: refusing to load: the pickle references '${g}', which is not a tensor-rebuild function ` +
          `(allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage); nothing was executed`,
      );
    }
    return { global: g };
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof PickleDict)) fail('SETITEM on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (d as PickleDict).map.set(items[i], items[i + 1]);
  };
  const str = (n: number): string => text.decode(data.subarray(need(n), p));

  for (;;) {
    const op = data[need(1)]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x7d: stack.push(new PickleDict()); break; // EMPTY_DICT
      case 0x64: { const d = new PickleDict(); setItems(d, popMark()); stack.push(d); break; } // DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x61: { const v = pop(); (top() as unknown[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); (top() as unknown[]).push(...items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x71: memo.set(data[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: { const k = data[need(1)]!; if (!memo.has(k)) fail(`memo ${k} missing`); stack.push(memo.get(k)); break; } // BINGET
      case 0x6a: { const k = dv.getUint32(need(4), true); if (!memo.has(k)) fail(`memo ${k} missing`); stack.push(memo.get(k)); break; } // LONG_BINGET
      case 0x63: { const module = line(); stack.push(global(module, line())); break; } // GLOBAL
      case 0x93: { const name = pop(); stack.push(global(String(pop()), String(name))); break; } // STACK_GLOBAL
      case 0x4a: stack.push(dv.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(data[need(1)]!); break; // BININT1
      case 0x4d: stack.push(dv.getUint16(need(2), true)); break; // BININT2
      case 0x8a: { // LONG1: little-endian two's complement
        const n = data[need(1)]!;
        const at = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i]!);
        if (n > 0 && data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: stack.push(dv.getFloat64(need(8), false)); break; // BINFLOAT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x58: stack.push(str(dv.getUint32(need(4), true))); break; // BINUNICODE
      case 0x8c: stack.push(str(data[need(1)]!)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(str(Number(dv.getBigUint64(need(8), true)))); break; // BINUNICODE8
      case 0x55: stack.push(str(data[need(1)]!)); break; // SHORT_BINSTRING
      case 0x54: stack.push(str(dv.getUint32(need(4), true))); break; // BINSTRING
      case 0x43: { const n = data[need(1)]!; stack.push(data.slice(need(n), p)); break; } // SHORT_BINBYTES
      case 0x42: { const n = dv.getUint32(need(4), true); stack.push(data.slice(need(n), p)); break; } // BINBYTES
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x51: stack.push(persistentLoad(pop(), fail)); break; // BINPERSID
      case 0x52: { const args = pop(); stack.push(call(pop(), args, fail)); break; } // REDUCE
      case 0x62: { // BUILD: OrderedDict's state (its `_metadata` attribute) is not needed
        pop();
        if (!(top() instanceof PickleDict)) fail('BUILD on an object other than a dict');
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)} (only what torch.save writes for tensors is read)`);
    }
  }
}

function persistentLoad(pid: unknown, fail: (m: string) => never): TorchStorage {
  if (!isTuple(pid) || pid[0] !== 'storage' || pid.length < 5) fail(`unexpected persistent id ${JSON.stringify(pid)}`);
  const [, type, key, , numel] = pid as [string, Global, unknown, unknown, unknown];
  const cls = typeof type === 'object' && type && 'global' in type ? type.global.replace(/^torch\./, '') : '';
  const dtype = STORAGE_DTYPES[cls];
  if (!dtype) fail(`persistent id names an unknown storage type ${JSON.stringify(type)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) fail(`storage ${String(key)} has an invalid size ${String(numel)}`);
  return { key: String(key), dtype: dtype!, numel: numel as number };
}

function call(fn: unknown, args: unknown, fail: (m: string) => never): unknown {
  const g = typeof fn === 'object' && fn && 'global' in fn ? (fn as Global).global : fail('REDUCE on something that is not a function');
  if (!isTuple(args)) fail(`REDUCE ${g}: arguments are not a tuple`);
  const a = args as unknown[];
  if (g === 'collections.OrderedDict') return new PickleDict();
  if (g === 'torch._utils._rebuild_tensor_v2' || g === 'torch._utils._rebuild_tensor') {
    const [storage, offset, shape, stride] = a as [TorchStorage, number, number[], number[]];
    const ints = (v: unknown) => isTuple(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
    if (!storage || typeof storage !== 'object' || !('key' in storage)) fail(`${g}: first argument is not a storage`);
    if (!Number.isSafeInteger(offset) || offset < 0 || !ints(shape) || !ints(stride) || shape.length !== stride.length) {
      fail(`${g}: invalid offset/size/stride ${JSON.stringify([offset, shape, stride])}`);
    }
    return { storage, offset, shape: [...shape], stride: [...stride] } satisfies TorchTensor;
  }
  if (g.startsWith('torch._utils._rebuild_parameter')) return a[0]; // a Parameter is its data tensor
  return fail(`${g} cannot be called`);
}
