// Types for cpu.mjs (plain JS so the .mjs benches run without a build; bench/train.ts imports it too).
/** lscpu's model name, else Node's. */
export function cpuModel(): string;
/** Logical CPUs. */
export function cores(): number;
