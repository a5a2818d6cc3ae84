// Join codes (poll ids) and access codes as people read and type them: shown in groups of four
// ("7709 4zj5"), accepted in any case, with spaces or dashes (DESIGN.md §3, §8).

/** A poll id as the server writes it: 8 characters from [a-z0-9]. */
export const POLL_ID_RE = /^[a-z0-9]{8}$/;

/** What a person typed or a link carried → the canonical form (no spaces or dashes, lower case). */
export function normalizeCode(raw: string): string {
  return raw.replace(/[\s\-\u00A0\u2000-\u200B\u202F\u205F\u3000]/gu, '').toLowerCase();
}

/** Group size that splits a code evenly: 4 ("7709 4zj5"), else 5 ("r2swb d6u4n"), else 3, else 4. */
function groupSize(n: number): number {
  for (const size of [4, 5, 3]) if (n % size === 0 && n > size) return size;
  return 4;
}

/** "77094zj5" → ["7709", "4zj5"]; "r2swbd6u4n" → ["r2swb", "d6u4n"]. */
export function groups(code: string, size = groupSize(code.length)): string[] {
  const out: string[] = [];
  for (let i = 0; i < code.length; i += size) out.push(code.slice(i, i + size));
  return out;
}

/** "77094zj5" → "7709 4zj5". */
export function grouped(code: string): string {
  return groups(code).join(' ');
}
