// Hand-made torch.save files for tests (no torch needed): a stored zip writer (optionally with
// zip64 records) and a pickle writer emitting what torch.save emits for a state dict.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip with every member stored; `zip64` writes the zip64 end records and directory extras torch writes for big files. */
export function writeZip(members: { name: string; data: Uint8Array }[], zip64 = false): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const m of members) {
    const name = enc.encode(m.name);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc32(m.data), true);
    lv.setUint32(18, m.data.length, true);
    lv.setUint32(22, m.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const extra = zip64 ? 28 : 0;
    const cd = new Uint8Array(46 + name.length + extra);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint32(16, crc32(m.data), true);
    cv.setUint32(20, zip64 ? 0xffffffff : m.data.length, true);
    cv.setUint32(24, zip64 ? 0xffffffff : m.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    cd.set(name, 46);
    if (zip64) {
      const x = 46 + name.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(m.data.length), true);
      cv.setBigUint64(x + 12, BigInt(m.data.length), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    parts.push(local, m.data);
    central.push(cd);
    offset += local.length + m.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const tail: Uint8Array[] = [...central];
  if (zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setBigUint64(24, BigInt(members.length), true);
    rv.setBigUint64(32, BigInt(members.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(offset), true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(offset + cdSize), true);
    lv.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : members.length, true);
  ev.setUint16(10, zip64 ? 0xffff : members.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : offset, true);
  tail.push(eocd);
  const all = [...parts, ...tail];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let p = 0;
  for (const x of all) {
    out.set(x, p);
    p += x.length;
  }
  return out;
}

/** Pickle opcodes, as torch.save (protocol 2) writes them. */
export class PickleWriter {
  private bytes: number[] = [0x80, 0x02];
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b);
  }
  int(n: number): this {
    return this.op(0x4a, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  ints(a: number[]): this {
    this.op(0x28);
    for (const n of a) this.int(n);
    return this.op(0x74);
  }
  done(): Uint8Array {
    return new Uint8Array([...this.bytes, 0x2e]);
  }
}

export interface TorchTensorSpec {
  name: string;
  /** Storage key; tensors with the same key share a storage. */
  key: string;
  storage: 'FloatStorage' | 'HalfStorage' | 'BFloat16Storage' | 'LongStorage';
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
}

/** data.pkl of a state dict (an OrderedDict, with the `_metadata` BUILD torch adds) of these tensors. */
export function stateDictPickle(tensors: TorchTensorSpec[]): Uint8Array {
  const w = new PickleWriter().global('collections', 'OrderedDict').op(0x29, 0x52).op(0x28);
  for (const t of tensors) {
    const stride = t.stride ?? t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    w.op(0x28).str('storage').global('torch', t.storage).str(t.key).str('cpu').int(t.storageNumel).op(0x74, 0x51);
    w.int(t.offset ?? 0).ints(t.shape).ints(stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52).op(0x74, 0x52);
  }
  w.op(0x75);
  // state = {'_metadata': OrderedDict()} then BUILD, as for a real state_dict()
  w.op(0x7d).str('_metadata').global('collections', 'OrderedDict').op(0x29, 0x52).op(0x73, 0x62);
  return w.done();
}

/** A torch.save archive: `archive/data.pkl`, `archive/byteorder`, `archive/data/<key>`. */
export function torchFile(pickle: Uint8Array, storages: Record<string, Uint8Array>, zip64 = false): Uint8Array {
  return writeZip(
    [
      { name: 'archive/data.pkl', data: pickle },
      { name: 'archive/byteorder', data: new TextEncoder().encode('little') },
      ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
      { name: 'archive/version', data: new TextEncoder().encode('3\n') },
    ],
    zip64,
  );
}
