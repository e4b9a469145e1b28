/** A small leveled logger writing one line per message to stderr. */

/** A minimal leveled logger handed to hooks as `ctx.log`. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Log levels, most severe first. */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** How log lines look: `text` (for people) or `json` (one object per line, for log collectors). */
export type LogFormat = 'text' | 'json';
/** The log formats, for option checks. */
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** How a logger writes its lines. */
export interface LogStyle {
  format: LogFormat;
  /** `text`: each line starts with its ISO 8601 time (json lines always carry `time`). */
  timestamps: boolean;
}

/** `fj run`'s: text for a terminal, no timestamps. */
export const PLAIN: LogStyle = { format: 'text', timestamps: false };

/** A job's logs (`fj run`, `run()`) in `format`: text without timestamps (a terminal), or json lines (which carry `time`). */
export function jobLogStyle(format: LogFormat): LogStyle {
  return format === 'json' ? { format, timestamps: true } : PLAIN;
}

/** Fields a json log line carries besides its message: the job, its task, the item, where one is known. */
export interface LogFields {
  job?: string;
  task?: string;
  item?: number;
}

/**
 * A logger whose lines read `fj <level> [<scope>] message` (after the time,
 * with `style.timestamps`), or with `style.format` `json`:
 * `{"time":"2026-12-02T20:50:01.123Z","level":"info","scope":"...","job":"...","task":"...","msg":"..."}`
 * (`fields`, when given, each a field of its own for log collectors to filter on).
 */
export function createLogger(
  scope: string,
  level: LogLevel = 'warn',
  write: (line: string) => void = (l) => process.stderr.write(l),
  style: LogStyle = PLAIN,
  fields: LogFields = {},
): Logger {
  const rank = RANK[level] ?? RANK.warn;
  const line = (lvl: Exclude<LogLevel, 'silent'>, message: string): string => {
    if (style.format === 'json')
      return `${JSON.stringify({ time: new Date().toISOString(), level: lvl, scope, ...fields, msg: message })}\n`;
    return `${style.timestamps ? `${new Date().toISOString()} ` : ''}fj ${lvl} [${scope}] ${message}\n`;
  };
  const at = (lvl: Exclude<LogLevel, 'silent'>) =>
    RANK[lvl] <= rank ? (message: string) => write(line(lvl, message)) : () => {};
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/**
 * The level of a task's own `ctx.log`: its info lines show at fj's default
 * level (`warn`), where fj's own info and debug chatter does not; quieter
 * levels (`error`, `silent`) and `debug` apply to both.
 */
export function taskLogLevel(level: LogLevel): LogLevel {
  return level === 'warn' ? 'info' : level;
}

/**
 * The logger a task's hooks get as `ctx.log`: at {@link taskLogLevel} of the
 * job's level, in the job's log style. Every place that runs hooks (the
 * inline and grouping transports, a worker thread, the job lifecycle for
 * `setup` and `join`) builds it here, so a task's lines show alike on every
 * executor and under `checkLaws`.
 */
export function taskLogger(scope: string, level: LogLevel, style: LogStyle, fields?: LogFields): Logger {
  return createLogger(scope, taskLogLevel(level), undefined, style, fields);
}

/** True when `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in RANK;
}
