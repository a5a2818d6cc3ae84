// DESIGN.md §4's rules for text (title, description, question, option label), as the server
// applies them, so the create form can say what is wrong before sending:
// NFC, trimmed; control characters refused (newline and tab allowed in the description);
// bidi override/isolate characters refused everywhere; two labels that differ only by
// invisible (default-ignorable) characters are duplicates, and a text made only of them is
// empty.  Emoji joined by U+200D stay valid (the joiner only counts as invisible when comparing).

/** U+202A–U+202E (embeddings, overrides) and U+2066–U+2069 (isolates). */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
const CONTROL = /\p{Cc}/u;
const CONTROL_EXCEPT_NL_TAB = /(?![\n\t])\p{Cc}/u;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** What the server stores: NFC, trimmed. */
export function cleanText(s: string): string {
  return s.normalize('NFC').trim();
}

export type TextProblem = 'text_control_chars' | 'text_bidi_controls';

/** Why the server would refuse `s` (null: it would not). */
export function textProblem(s: string, multiline = false): TextProblem | null {
  const clean = cleanText(s);
  if ((multiline ? CONTROL_EXCEPT_NL_TAB : CONTROL).test(clean)) return 'text_control_chars';
  if (BIDI_CONTROL.test(clean)) return 'text_bidi_controls';
  return null;
}

/** The text as it looks: invisible characters removed (compare labels with this). */
export function visibleKey(s: string): string {
  return cleanText(s).replace(IGNORABLE, '').normalize('NFC').trim();
}

/** Empty, or made only of spaces and invisible characters. */
export function isBlank(s: string): boolean {
  return visibleKey(s) === '';
}

/** Length in code points, as the server (Python len) counts. */
export function charLength(s: string): number {
  return [...s].length;
}
