// `mqg serve`: flags → the model (openServeEngine) → the HTTP server (startServer) → its address
// on stdout → until SIGINT / SIGTERM, then a clean stop (in-flight requests cancelled, the GPU
// released, exit 0).

import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { openServeEngine } from '../train/serve/open.node';
import { startServer } from '../train/serve/server.node';
import { QUANTIZE_FLAG, reportQuantization } from './flags';
import type { QuantType } from '../model/quantized';

const spec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory (its newest checkpoint), a checkpoint directory, or a model file' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory (default: the checkpoint\'s own adapter/, if any)' },
  tokenizer: { type: 'string', help: 'tokenizer ("gpt2" or tokenizer.json; default: the checkpoint\'s own)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on (loopback unless told otherwise)' },
  port: { type: 'int', default: 8080, min: 0, max: 65535, help: 'port (0 = any free one)' },
  'max-queue': { type: 'int', default: 32, min: 0, help: 'requests that may wait for the GPU behind the running one; past it: 503' },
  'api-key-env': { type: 'string', help: 'require "Authorization: Bearer <key>", the key read from this environment variable' },
  'model-name': { type: 'string', help: 'the model id in /v1/models and responses (default: the checkpoint\'s name)' },
  precision: { type: 'string', default: 'auto', choices: ['auto', 'f16', 'f32'], help: 'auto | f16 | f32' },
  quantize: QUANTIZE_FLAG,
  help: { type: 'boolean', help: 'show this help' },
};

const FOOTER = [
  'Endpoints: GET /v1/models; POST /v1/completions, /v1/chat/completions (max_tokens, temperature, top_p, seed, stop,',
  'stream: server-sent events ending with data: [DONE]); POST /v1/mcq {question, options, context?} -> a score per',
  'option and the ranking (by the multiple-choice head when the checkpoint has one, else by log-likelihood).',
  'The chat template and the answers: docs/commands.md, "mqg serve".',
].join('\n');

export async function serveMain(argv: string[]): Promise<void> {
  const { flags, positional } = parseFlags(argv, spec, 'serve');
  if (flags.help) return void console.log(usage('serve', 'serve a model over an OpenAI-compatible HTTP API', spec, FOOTER));
  if (positional.length) throw new UsageError(`mqg serve: unexpected argument "${positional[0]}" (flags start with --)`);
  if (!flags.checkpoint) throw new UsageError('mqg serve: --checkpoint is required');
  const keyEnv = flags['api-key-env'] as string | undefined;
  const apiKey = keyEnv === undefined ? undefined : process.env[keyEnv];
  if (keyEnv !== undefined && !apiKey) throw new UsageError(`mqg serve: --api-key-env ${keyEnv}, but the environment variable ${keyEnv} is not set`);
  const opened = await openServeEngine({
    checkpoint: flags.checkpoint as string, adapter: flags.adapter as string | undefined, tokenizer: flags.tokenizer as string | undefined,
    precision: flags.precision as 'auto', quantize: flags.quantize as QuantType | undefined, maxQueue: flags['max-queue'] as number, modelId: flags['model-name'] as string | undefined,
  });
  reportQuantization('serve', opened.engine.model);
  const server = await startServer(opened.engine, { host: flags.host as string, port: flags.port as number, apiKey }).catch((e: Error) => {
    opened.destroy();
    throw new UsageError(`mqg serve: cannot listen on ${flags.host}:${flags.port}: ${e.message}`);
  });
  const { engine } = opened;
  console.log(`mqg serve: ${engine.modelId} (${engine.model.dtype}, ${engine.head ? `${engine.head.kind} head` : 'no head: /v1/mcq by log-likelihood'}${opened.adapterDir ? `, adapter ${opened.adapterDir}` : ''}) listening on ${server.url}${apiKey ? ' (bearer token required)' : ''}`);
  if (!/^(127\.|\[::1\]|localhost)/.test(new URL(server.url).hostname) && !apiKey) console.error(`warning: listening on ${server.url} beyond loopback without --api-key-env: anyone who can reach it can use it`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await server.close();
  opened.destroy();
  console.log(`mqg serve: stopped (${signal}) after ${engine.stats.completions} completion(s)`);
}
