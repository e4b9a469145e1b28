/**
 * The one rule for text read from data (heartbeats, records, messages, user
 * input) that reaches a terminal or a log line: C0 and C1 control
 * characters, DEL, line and paragraph separators and the bidirectional
 * controls become `\uXXXX`, so no such text can move the cursor, recolour,
 * retitle or reorder a terminal. Every printer of the CLI and every error
 * message quoting data goes through it.
 */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const UNSAFE_BUT_NEWLINE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** `text` safe to print on one line: every control character (newlines too) escaped as `\uXXXX`. */
export function printable(text: string): string {
  return String(text).replace(UNSAFE, escapeChar);
}

/** `text` safe to print as lines: as {@link printable}, but newlines and tabs stay (multi-line messages). */
export function printableLines(text: string): string {
  return String(text).replace(UNSAFE_BUT_NEWLINE, escapeChar);
}

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
