/** Where the CLI's commands write. */

/** Where a command writes: anything with `write(text)`, like `process.stdout`. */
export interface Output {
  write(text: string): unknown;
  /** True for a terminal (the progress bar shows only then). */
  isTTY?: boolean;
}

/** The streams of one {@link runCli} call. */
export interface CliIO {
  /** Command output (the job's output JSON, `fj tasks`' list). Default: `process.stdout`. */
  stdout?: Output;
  /** Errors, commander's messages, the progress bar. Default: `process.stderr`. */
  stderr?: Output;
}

/** {@link CliIO} with the defaults filled in; what the commands receive. */
export type Streams = Required<CliIO>;
