#!/usr/bin/env node
// The `mqg` command: runs the built CLI (dist/ is made by `npm run setup` or `npm run build`).
//
// Dawn writes two lines, "Warning: maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially
// reduced ...", with fprintf(stderr) when the first adapter is requested (Limits.cpp, on any driver that
// reports more than 16 dynamic buffers; mqg binds none with a dynamic offset). Dawn has no runtime
// switch for its log and Node no dup2, so the CLI runs as a child of this process, whose stderr passes
// through a filter that drops exactly those lines and nothing else. The child has a process group of
// its own, so a terminal's Ctrl-C reaches it once: this process forwards SIGINT, SIGTERM and SIGHUP,
// and exits as the child did (its code, or the same signal). If this process dies, the child gets a
// SIGTERM (its IPC channel closes). MQG_NO_WRAP=1 runs the CLI in this process (Dawn's lines shown).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/node/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('mqg: dist/ is missing; run `npm run setup` (or `npm run build`) first.');
  process.exit(1);
}

const CHILD = 'MQG_CLI_CHILD';
if (process.env[CHILD] === '1' || process.env.MQG_NO_WRAP === '1') {
  if (process.env[CHILD] === '1') {
    // stderr is the filter's pipe: keep the terminal's behaviour (progress lines redrawn in place)
    if (process.env.MQG_STDERR_TTY === '1') {
      process.stderr.isTTY = true;
      process.stderr.columns = Number(process.env.MQG_STDERR_COLUMNS) || 80;
    }
    delete process.env[CHILD];
    delete process.env.MQG_STDERR_TTY;
    delete process.env.MQG_STDERR_COLUMNS;
    if (process.channel) {
      process.channel.unref();
      process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    }
  }
  await import(cli);
} else {
  const env = { ...process.env, [CHILD]: '1' };
  if (process.stderr.isTTY) Object.assign(env, { MQG_STDERR_TTY: '1', MQG_STDERR_COLUMNS: String(process.stderr.columns ?? 80) });
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env,
    detached: true,
  });
  const forward = (sig) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handlers = signals.map((sig) => [sig, forward(sig)]);
  for (const [sig, h] of handlers) process.on(sig, h);
  pipeStderr(child.stderr);
  child.on('error', (e) => {
    console.error(`mqg: cannot start the CLI: ${e.message}`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

/** Copies the child's stderr to ours as it comes (partial lines too: progress lines end in \r), minus Dawn's lines. */
function pipeStderr(stream) {
  const DROP = 'Warning: maxDynamic';
  let held = ''; // the start of a line that may still turn out to be Dawn's
  let passing = false; // inside a line already being passed through
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    let s = held + chunk;
    held = '';
    let out = '';
    while (s) {
      const nl = s.indexOf('\n');
      const line = nl < 0 ? s : s.slice(0, nl + 1);
      s = nl < 0 ? '' : s.slice(nl + 1);
      if (passing) {
        out += line;
        passing = nl < 0;
      } else if (nl >= 0) {
        if (!line.startsWith(DROP)) out += line;
      } else if (DROP.startsWith(line) || line.startsWith(DROP)) {
        held = line;
      } else {
        out += line;
        passing = true;
      }
    }
    if (out) process.stderr.write(out);
  });
  stream.on('end', () => {
    if (held && !held.startsWith(DROP)) process.stderr.write(held);
  });
}
