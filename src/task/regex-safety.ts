/**
 * A check of the `pattern`s in a schema for the classic catastrophic shape.
 * ajv tests them with JavaScript's backtracking RegExp engine, on strings
 * from the input: `^(a+)+$` against 30 `a`s and a `!` takes seconds, 40
 * takes hours. Such a pattern is refused when the schema is compiled, so a
 * hostile input cannot hang validation through it.
 *
 * The shape refused: a group repeated without bound (`*`, `+`, `{n,}`) whose
 * body can match by repetition alone — every piece of one alternative is
 * itself repeated or optional, e.g. `(a+)+`, `(\w+\s?)*`, `(a*|b)+`. A body
 * with one mandatory piece, like the separator in `^[a-z]+(-[a-z]+)*$`,
 * passes. This is a heuristic, not a proof: overlapping alternatives such as
 * `(a|aa)+`, or `(.*a)+`, are not caught. Keep patterns simple (a character
 * class and one quantifier is the safest) and bound strings with `maxLength`.
 */

/** The first pattern in `schema` with the catastrophic shape and where it is (a JSON pointer), or undefined when every pattern passes. */
export function findUnsafePattern(schema: unknown): { path: string; pattern: string } | undefined {
  let found: { path: string; pattern: string } | undefined;
  const visit = (node: unknown, path: string): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((v, i) => visit(v, `${path}/${i}`));
    for (const [key, value] of Object.entries(node)) {
      const at = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      // Data, not schemas: a "pattern" in there is just a value.
      if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples') continue;
      if (key === 'pattern' && typeof value === 'string' && isCatastrophic(value)) found ??= { path: at, pattern: value };
      if (key === 'patternProperties' && value && typeof value === 'object') {
        for (const p of Object.keys(value)) if (isCatastrophic(p)) found ??= { path: at, pattern: p };
      }
      visit(value, at);
    }
  };
  visit(schema, '');
  return found;
}

interface Piece {
  /** Can match its text in more than one way by itself: repeated or optional. */
  loose: boolean;
  /** Contains an unbounded quantifier. */
  unbounded: boolean;
  /** A group whose body can match by repetition alone. */
  risky: boolean;
}

interface Group {
  last?: Piece;
  /** The current alternative: its pieces so far, all loose so far, any unbounded. */
  count: number;
  allLoose: boolean;
  altUnbounded: boolean;
  unbounded: boolean;
  risky: boolean;
}

const newGroup = (): Group => ({ count: 0, allLoose: true, altUnbounded: false, unbounded: false, risky: false });

function commit(g: Group): void {
  if (!g.last) return;
  g.count++;
  g.allLoose &&= g.last.loose;
  g.altUnbounded ||= g.last.unbounded;
  g.unbounded ||= g.last.unbounded;
  g.last = undefined;
}

function endAlternative(g: Group): void {
  commit(g);
  if (g.count > 0 && g.allLoose && g.altUnbounded) g.risky = true;
  g.count = 0;
  g.allLoose = true;
  g.altUnbounded = false;
}

/** True when `source` repeats, without bound, a group whose body can match by repetition alone. */
export function isCatastrophic(source: string): boolean {
  const stack: Group[] = [newGroup()];
  const top = () => stack[stack.length - 1];
  const atom = () => {
    commit(top());
    top().last = { loose: false, unbounded: false, risky: false };
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1];
      // \p{...}, \u{...}, \k<name>: skip to the closing brace or bracket.
      const close = source[i + 2] === '{' && 'pPu'.includes(next) ? '}' : source[i + 2] === '<' && next === 'k' ? '>' : '';
      i = close ? Math.max(source.indexOf(close, i + 2), i + 1) : i + 1;
      atom();
    } else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
      atom();
    } else if (c === '(') {
      commit(top());
      stack.push(newGroup());
      if (source[i + 1] === '?') {
        // (?:  (?=  (?!  (?<=  (?<!  (?<name>
        i += source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!' ? Math.max(source.indexOf('>', i) - i, 2) : source[i + 2] === '<' ? 3 : 2;
      }
    } else if (c === ')' && stack.length > 1) {
      const g = stack.pop()!;
      endAlternative(g);
      commit(top());
      top().last = { loose: g.risky, unbounded: g.unbounded, risky: g.risky };
    } else if (c === '|') {
      endAlternative(top());
    } else if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(i)))) {
      let min = c === '+' ? 1 : 0;
      let max = c === '?' ? 1 : Infinity;
      if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i))!;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        i += m[0].length - 1;
      }
      if (source[i + 1] === '?') i++; // lazy: the same backtracking
      const last = top().last;
      if (!last) continue;
      if (max === Infinity && last.risky) return true;
      if (max > min || min === 0) last.loose = true;
      if (max === Infinity) last.unbounded = true;
    } else atom();
  }
  return false;
}
