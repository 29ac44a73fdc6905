export function buildExample(): Promise<void>;
export function serve(port?: number, host?: string): Promise<import('node:http').Server>;
