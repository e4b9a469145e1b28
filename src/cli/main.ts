#!/usr/bin/env node
/**
 * The `fj` binary: runs {@link runCli} on this process's arguments and exits
 * with its code — 0 success, 1 a hook failed, 2 usage or input error, 3
 * broker or store trouble. The command line itself lives in `program.ts`.
 */
import { startEarlyThread } from '../runtime/early-thread.js';

/**
 * Exit code of a program whose reader went away: 128 + SIGPIPE (13), what
 * `seq 1 1000000 | head -c 200` gives `seq` under `set -o pipefail`.
 */
const CLOSED_PIPE_EXIT = 141;

// A reader that closes the pipe early (`fj run ... | head -c 200`) ends fj quietly, as it ends any
// Unix tool. Node ignores SIGPIPE, so the closed pipe shows as an EPIPE 'error' event, which would
// otherwise crash with a stack. Any other error on the streams stays what it was: a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(CLOSED_PIPE_EXIT);
    throw err;
  });
}

const argv = process.argv.slice(2);
if (runsLocally(argv)) startEarlyThread();
const { runCli } = await import('./program.js');
process.exitCode = await runCli(argv);

/** `fj run` on the local executor (the default): its first thread starts now, while the CLI loads (runtime/early-thread.ts). */
function runsLocally(args: string[]): boolean {
  if (args[0] !== 'run') return false;
  for (let i = 1; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (a === '-e' || a === '--executor') return args[i + 1] === 'local';
    if (a.startsWith('--executor=')) return a === '--executor=local';
    if (a === '-h' || a === '--help') return false;
  }
  return true;
}
