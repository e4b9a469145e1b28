/**
 * Who could change what is under a directory: the one ownership rule for
 * every place fj reads back what it wrote earlier and then trusts it (the
 * validator cache runs the code it finds there; the file store hands out the
 * payloads and records it finds there).
 *
 * A path is safe when no one but the current user (or root) can replace
 * anything on the way to it: each directory above it belongs to the user or
 * root and is not writable by group or others, unless sticky (like /tmp,
 * where others can add entries but not rename or remove ours). POSIX only:
 * on Windows file modes say nothing and every check passes.
 */
import { lstatSync, statSync, type Stats } from 'node:fs';
import { dirname, parse, sep } from 'node:path';

/** The current user's id; undefined on Windows. */
export const currentUid = process.getuid?.();

/** Ours and not writable by group or others. */
export function isPrivate(st: Stats): boolean {
  return currentUid === undefined || (st.uid === currentUid && (st.mode & 0o022) === 0);
}

/** Writable by group or others. */
export function isOpen(st: Stats): boolean {
  return (st.mode & 0o022) !== 0;
}

/** Sticky (others may add entries, but only the owner removes or renames them). */
export function isSticky(st: Stats): boolean {
  return (st.mode & 0o1000) !== 0;
}

/** `mode 0755, owner uid 1000`: for error messages. */
export function describeStat(st: Stats): string {
  return `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${st.uid}`;
}

/**
 * The first directory above `path` (which should be a real path, no
 * symlinks) that someone else could change, with the reason; undefined when
 * there is none.
 */
export function unsafeAncestor(path: string): string | undefined {
  if (currentUid === undefined) return undefined;
  for (let p = dirname(path); ; p = dirname(p)) {
    const st = statSync(p);
    if (st.uid !== currentUid && st.uid !== 0) return `${p} belongs to another user (${describeStat(st)})`;
    if (isOpen(st) && !isSticky(st)) return `${p} is writable by others (${describeStat(st)})`;
    if (dirname(p) === p) return undefined;
  }
}

/** Whether no one but us (or root) can replace anything on the way to `dir` (see {@link unsafeAncestor}). */
export function safePath(dir: string): boolean {
  return unsafeAncestor(dir) === undefined;
}

/**
 * The first symbolic link on the way to `path` (as written, before
 * resolving) that someone other than us or root owns: following it would let
 * them choose where our files go. Undefined when there is none.
 */
export function foreignLink(path: string): string | undefined {
  if (currentUid === undefined) return undefined;
  const { root } = parse(path);
  let p = root;
  for (const part of path.slice(root.length).split(sep).filter(Boolean)) {
    p = p === root ? `${root}${part}` : `${p}${sep}${part}`;
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return undefined; // does not exist (yet): nothing further to follow
    }
    if (st.isSymbolicLink() && st.uid !== currentUid && st.uid !== 0)
      return `${p} is a symbolic link owned by another user (${describeStat(st)})`;
  }
  return undefined;
}
