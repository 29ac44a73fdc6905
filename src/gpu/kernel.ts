// A kernel is data: WGSL source, an entry point and a label. Its bind group layout is read from
// the WGSL with wgsl_reflect, so the shader is the single source of truth for its bindings.

import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { BindingError } from '../util/errors';
import type { DType } from './tensor';

export interface KernelSource {
  /** Label for the pipeline, its bind groups and passes; shows up in every error and profile. */
  name: string;
  code: string;
  entryPoint?: string;
}

/** 'texture': a texture_2d<u32> read with textureLoad (the quantized weights' blocks, kernels/qmatmul.ts). */
export type BindingKind = 'storage' | 'read-only-storage' | 'uniform' | 'texture';

export interface UniformField {
  name: string;
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: BindingKind;
  /** Scalar element type of a storage array (f16, f32, i32, u32), for dtype checks; undefined if not a plain array. */
  elementType?: string;
  /** For uniforms: the struct's size and scalar fields. */
  uniformSize?: number;
  fields?: UniformField[];
}

export interface KernelLayout {
  entryPoint: string;
  workgroupSize: [number, number, number];
  bindings: BindingInfo[];
}

const SCALARS = new Set(['f16', 'f32', 'i32', 'u32']);

function scalarOf(type: any): string | undefined {
  // array<T>, array<vecN<T>>, array<atomic<T>>: the innermost scalar
  let t = type;
  for (let i = 0; i < 4 && t; i++) {
    if (SCALARS.has(t.name)) return t.name;
    if (t.name === 'vec2f' || t.name === 'vec4f' || t.name === 'vec3f') return 'f32';
    if (t.name === 'vec2h' || t.name === 'vec4h' || t.name === 'vec3h') return 'f16';
    if (t.name === 'vec2u' || t.name === 'vec4u') return 'u32';
    if (t.name === 'vec2i' || t.name === 'vec4i') return 'i32';
    t = t.format;
  }
  return undefined;
}

/** Read the bindings and workgroup size of one compute entry point. Only @group(0) is used. */
export function reflectKernel(src: KernelSource): KernelLayout {
  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(src.code);
  } catch (e) {
    throw new BindingError(`kernel "${src.name}": WGSL could not be parsed: ${(e as Error).message}`);
  }
  const entries = reflect.entry.compute;
  const entry = src.entryPoint ? entries.find((e: any) => e.name === src.entryPoint) : entries[0];
  if (!entry) {
    throw new BindingError(`kernel "${src.name}": no @compute entry point${src.entryPoint ? ` named "${src.entryPoint}"` : ''}`);
  }
  const groups = reflect.getBindGroups();
  if (groups.length > 1) throw new BindingError(`kernel "${src.name}": only @group(0) is supported`);
  const bindings: BindingInfo[] = [];
  for (const v of groups[0] ?? []) {
    if (!v) continue;
    const info: BindingInfo = { name: v.name, binding: v.binding, kind: 'uniform' };
    if (v.resourceType === 1) {
      info.kind = v.access === 'read' ? 'read-only-storage' : 'storage';
      info.elementType = scalarOf((v.type as any).format ?? v.type);
    } else if (v.resourceType === 0) {
      const members = (v.type as any).members as any[] | undefined;
      info.uniformSize = v.size;
      info.fields = (members ?? []).map((m) => {
        if (!['u32', 'i32', 'f32'].includes(m.type.name)) {
          throw new BindingError(`kernel "${src.name}": uniform "${v.name}" field "${m.name}" has type ${m.type.name}; only u32, i32 and f32 are packed`);
        }
        return { name: m.name, offset: m.offset, type: m.type.name };
      });
      if (!members) throw new BindingError(`kernel "${src.name}": uniform "${v.name}" must be a struct`);
    } else if (v.resourceType === 3 && (v.type as any).name === 'texture_2d' && scalarOf((v.type as any).format) === 'u32') {
      info.kind = 'texture';
      info.elementType = 'u32';
    } else {
      throw new BindingError(`kernel "${src.name}": binding "${v.name}" is not a buffer; only storage and uniform buffers and texture_2d<u32> are supported`);
    }
    bindings.push(info);
  }
  const wg = entry.workgroupSize ?? [1, 1, 1];
  return {
    entryPoint: entry.name,
    workgroupSize: [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1],
    bindings,
  };
}

/** Pack uniform values into the struct's bytes, checking that every field is given and nothing else. */
export function packUniform(kernel: string, info: BindingInfo, values: Record<string, number>): Uint8Array {
  const bytes = new Uint8Array(Math.max(16, Math.ceil(info.uniformSize! / 16) * 16));
  const view = new DataView(bytes.buffer);
  const fields = info.fields!;
  for (const key of Object.keys(values)) {
    if (!fields.some((f) => f.name === key)) {
      throw new BindingError(
        `kernel "${kernel}": uniform "${info.name}" has no field "${key}" (fields: ${fields.map((f) => f.name).join(', ')})`,
      );
    }
  }
  for (const f of fields) {
    const v = values[f.name];
    if (typeof v !== 'number' || Number.isNaN(v) && f.type !== 'f32') {
      throw new BindingError(`kernel "${kernel}": uniform "${info.name}" is missing field "${f.name}" (${f.type})`);
    }
    if (f.type === 'f32') view.setFloat32(f.offset, v, true);
    else if (f.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new BindingError(`kernel "${kernel}": uniform field "${f.name}" is u32 but got ${v}`);
      }
      view.setUint32(f.offset, v, true);
    } else {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
        throw new BindingError(`kernel "${kernel}": uniform field "${f.name}" is i32 but got ${v}`);
      }
      view.setInt32(f.offset, v, true);
    }
  }
  return bytes;
}

/** The dtype a WGSL scalar element type accepts. */
export function dtypeMatches(elementType: string | undefined, dtype: DType): boolean {
  return elementType === undefined || elementType === dtype;
}
