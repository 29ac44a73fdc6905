/**
 * The central directory of a zip archive, read through a ByteSource (never the whole file):
 * enough to find the stored (uncompressed) members of a torch.save archive, zip64 included
 * (torch writes zip64 records for files over 4 GiB). Browser-safe.
 *
 * We read the directory ourselves rather than through a zip library: the ones that serve
 * random access on a descriptor (yauzl) are callback/stream based and Node-only, and all we
 * need is ~100 lines: the end records, the directory, and each member's local header length.
 */

import { CheckpointError } from '../../util/errors';
import type { ByteSource } from './bytes';

export interface ZipMember {
  name: string;
  /** 0 = stored. torch.save stores every member uncompressed. */
  method: number;
  size: number;
  compressedSize: number;
  /** Offset of the member's local header. */
  localHeader: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

const u64 = (dv: DataView, o: number): number => Number(dv.getBigUint64(o, true));

export async function readZipDirectory(src: ByteSource): Promise<ZipMember[]> {
  const where = `zip archive '${src.name}'`;
  // The end-of-central-directory record (22 bytes) sits within the last 64 KiB + 22 (its comment).
  const tailLen = Math.min(src.size, 0xffff + 22 + 20);
  const tailStart = src.size - tailLen;
  const tail = await src.read(tailStart, tailLen);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let e = -1;
  for (let i = tailLen - 22; i >= 0; i--) if (tv.getUint32(i, true) === EOCD) { e = i; break; }
  if (e < 0) throw new CheckpointError(`${where} has no end-of-central-directory record: the file is truncated or not a zip`);
  let count = tv.getUint16(e + 10, true);
  let cdSize = tv.getUint32(e + 12, true);
  let cdOffset = tv.getUint32(e + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = e - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== ZIP64_LOCATOR) throw new CheckpointError(`${where}: zip64 end locator missing`);
    const recOffset = u64(tv, loc + 8);
    const rec = await src.read(recOffset, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== ZIP64_EOCD) throw new CheckpointError(`${where}: bad zip64 end-of-central-directory record at ${recOffset}`);
    count = u64(rv, 32);
    cdSize = u64(rv, 40);
    cdOffset = u64(rv, 48);
  }
  if (cdOffset + cdSize > src.size) throw new CheckpointError(`${where} is truncated: its central directory [${cdOffset}, ${cdOffset + cdSize}) lies past the end (${src.size} bytes)`);
  const cd = await src.read(cdOffset, cdSize);
  const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const members: ZipMember[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || dv.getUint32(p, true) !== CENTRAL) throw new CheckpointError(`${where}: corrupt central directory entry ${k}`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localHeader = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information (id 1): the 64-bit values of the fields that read 0xffffffff, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = dv.getUint16(x, true);
      const len = dv.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (size === 0xffffffff) { size = u64(dv, q); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(dv, q); q += 8; }
        if (localHeader === 0xffffffff) { localHeader = u64(dv, q); q += 8; }
      }
      x += 4 + len;
    }
    members.push({ name, method, size, compressedSize, localHeader });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return members;
}

/** Offset of a stored member's data: after its local header, whose name and extra field lengths may differ from the directory's. */
export async function memberDataOffset(src: ByteSource, m: ZipMember): Promise<number> {
  const h = await src.read(m.localHeader, 30);
  const dv = new DataView(h.buffer, h.byteOffset, 30);
  if (dv.getUint32(0, true) !== LOCAL) throw new CheckpointError(`zip archive '${src.name}': bad local header for member '${m.name}' at ${m.localHeader}`);
  const start = m.localHeader + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (start + m.size > src.size) throw new CheckpointError(`zip archive '${src.name}' is truncated: member '${m.name}' (${m.size} bytes at ${start}) goes past the end (${src.size} bytes)`);
  return start;
}
