// What every question kind (DESIGN.md §3: single, multiple, ranked, scale) provides: its part of
// the create form, its ballot input and checks, its rule text and its results view.  Pages never
// branch on a question's kind; they ask kindOf(kind) (kinds/index.ts) for its module.

import type { ComponentType } from 'react';
import type { Problem } from '../messages';
import type { FormErrors, QuestionDraft } from '../state/pollForm';
import type { CreatePollBody, Question, QuestionTally } from '../types';

export type QuestionBody = CreatePollBody['questions'][number];

export interface EditorProps {
  q: QuestionDraft;
  errors: FormErrors;
  onChange: (patch: Partial<QuestionDraft>) => void;
  /** Ids of the kind's error messages, for aria-describedby. */
  errorId: (field: string) => string;
}

export interface BallotProps {
  question: Question;
  /** The chosen option ids (for `ranked`, in rank order). */
  picked: string[];
  onChange: (next: string[]) => void;
  disabled: boolean;
}

export interface ResultsProps {
  question: Question;
  /** The question's tally (undefined before any arrived). */
  qt: QuestionTally | undefined;
  /** Ballots in the poll. */
  total: number;
  /** `slide`: the presenter's projector layout. */
  variant: 'page' | 'slide';
}

export interface KindModule {
  kind: Question['kind'];
  /** The create form's name for this answer type. */
  title: string;
  /** Does the organizer write the options?  (A scale's points are made by the server.) */
  writesOptions: boolean;
  /** The draft fields to set when the organizer picks this kind. */
  onPick: (q: QuestionDraft) => Partial<QuestionDraft>;
  /** The kind's own checks of a draft: field path → problem (see state/pollForm.ts for paths). */
  checkDraft: (q: QuestionDraft) => FormErrors;
  /** The kind's part of the create body (kind, options or scale fields, min/max). */
  body: (q: QuestionDraft) => Omit<QuestionBody, 'text'>;
  /** Kind-specific settings in the question editor (null: none). */
  Editor: ComponentType<EditorProps> | null;
  /** The rule under the question on the ballot. */
  rule: (q: Question) => Problem;
  /** Checks of the chosen option ids beyond "distinct and known" (done for every kind). */
  check: (q: Question, picked: string[]) => Problem | null;
  Ballot: ComponentType<BallotProps>;
  Results: ComponentType<ResultsProps>;
  /** One sentence of the tally for screen readers (aria-live). */
  summary: (q: Question, qt: QuestionTally | undefined, total: number) => string;
  /** The voter's choices as text ("Your vote counted"). */
  choiceText: (q: Question, picked: string[]) => string;
}
