// The question kinds (DESIGN.md §3), one module each.  kindOf is the one place that branches on
// a kind: a new kind fails to compile until it is listed here.

import './kinds.css';
import type { QuestionKind } from '../types';
import { multiple } from './multiple';
import { ranked } from './ranked';
import { scale } from './scale';
import { single } from './single';
import type { KindModule } from './types';

export type { BallotProps, EditorProps, KindModule, ResultsProps } from './types';

export function kindOf(kind: QuestionKind): KindModule {
  switch (kind) {
    case 'single':
      return single;
    case 'multiple':
      return multiple;
    case 'ranked':
      return ranked;
    case 'scale':
      return scale;
    default: {
      const never: never = kind;
      throw new Error(`unknown question kind ${String(never)}`);
    }
  }
}

// A record over QuestionKind: leaving a kind out does not compile either.
const ORDER: Record<QuestionKind, number> = { single: 0, multiple: 1, ranked: 2, scale: 3 };

/** Every kind, in the order the create form offers them. */
export const KINDS: readonly QuestionKind[] = (Object.keys(ORDER) as QuestionKind[]).sort((a, b) => ORDER[a] - ORDER[b]);
