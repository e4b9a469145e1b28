#!/usr/bin/env node
/**
 * The `fj` binary: runs {@link runCli} on this process's arguments and exits
 * with its code — 0 success, 1 a hook failed, 2 usage or input error, 3
 * broker or store trouble. The command line itself lives in `program.ts`.
 */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
