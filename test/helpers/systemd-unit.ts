/**
 * Reading a systemd unit file as systemd does, enough to run its
 * `ExecStart=` line by hand (test/integration/deploy.test.ts): sections and
 * keys, `%i`/`%H`/`%%` specifiers, `Environment=` and `EnvironmentFile=`
 * (the file's settings override the unit's), and the expansion of
 * variables in the command line (`${NAME}` is one argument, `$NAME` alone
 * is split at whitespace into several).
 */
import { readFileSync } from 'node:fs';

/** A unit file: each section's keys, every value of a key repeated, in order. */
export type Unit = Record<string, Record<string, string[]>>;

/** Parses a unit file (comments, blank lines; no line continuations, which fj's units do not use). */
export function readUnit(path: string): Unit {
  const unit: Unit = {};
  let section = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) throw new Error(`${path}: not a key=value line in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    (unit[section][key] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

/** The one value of `section`.`key`, or undefined. */
export function unitValue(unit: Unit, section: string, key: string): string | undefined {
  return unit[section]?.[key]?.at(-1);
}

/** Replaces the specifiers fj's units use. */
export function specifiers(text: string, s: { instance?: string; hostname: string }): string {
  return text.replace(/%([%iH])/g, (_, c: string) => (c === '%' ? '%' : c === 'i' ? (s.instance ?? '') : s.hostname));
}

/** KEY=VALUE lines of an environment file (comments and blank lines skipped; quotes removed). */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`${path}: not a KEY=VALUE line: ${line}`);
    env[line.slice(0, eq).trim()] = line
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** Splits a command line at whitespace and expands its variables from `env`, as systemd does for ExecStart=. */
export function expandCommand(line: string, env: Record<string, string>): string[] {
  const out: string[] = [];
  for (const word of line.split(/\s+/).filter(Boolean)) {
    const alone = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (alone) {
      out.push(...(env[alone[1]] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    out.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? ''));
  }
  return out;
}
