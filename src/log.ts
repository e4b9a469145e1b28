/** A small leveled logger writing one line per message to stderr. */
import type { Logger } from './task/types.js';

/** Log levels, most severe first. */
export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** A logger whose lines read `fj <level> [<scope>] message`. */
export function createLogger(scope: string, level: LogLevel = 'warn', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const rank = RANK[level] ?? RANK.warn;
  const at = (lvl: Exclude<LogLevel, 'silent'>) =>
    RANK[lvl] <= rank ? (message: string) => write(`fj ${lvl} [${scope}] ${message}\n`) : () => {};
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

/** True when `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in RANK;
}
