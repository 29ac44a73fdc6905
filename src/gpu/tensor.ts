// A typed handle on a range of a GPU buffer: dtype, shape, and where the bytes live.

export type DType = 'f16' | 'f32' | 'i32' | 'u32';

export const DTYPE_BYTES: Record<DType, number> = { f16: 2, f32: 4, i32: 4, u32: 4 };

export class Tensor {
  readonly numel: number;
  /** Bytes the elements occupy (not rounded). */
  readonly byteLength: number;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
    /** Byte offset of element 0 inside the buffer. */
    readonly offset = 0,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`tensor "${label}": bad shape [${shape.join(', ')}]`);
    }
    this.numel = shape.reduce((a, b) => a * b, 1);
    this.byteLength = this.numel * DTYPE_BYTES[dtype];
  }

  /** Size of the binding that covers this tensor: WebGPU wants a multiple of 4 bytes. */
  get bindingSize(): number {
    return alignUp(Math.max(this.byteLength, 4), 4);
  }

  /** A view of `shape` starting `elementOffset` elements in. The offset must keep 256-byte binding alignment. */
  view(shape: readonly number[], elementOffset = 0, label = this.label): Tensor {
    const t = new Tensor(this.buffer, shape, this.dtype, label, this.offset + elementOffset * DTYPE_BYTES[this.dtype]);
    if (t.offset + t.byteLength > this.offset + this.byteLength) {
      throw new RangeError(`tensor "${this.label}": view [${shape.join(', ')}] at ${elementOffset} runs past its end`);
    }
    return t;
  }

  toString(): string {
    return `Tensor(${this.label}: ${this.dtype}[${this.shape.join(', ')}])`;
  }
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
