// `single`: one option (DESIGN.md §3: min = max = 1).

import { ChoiceBallot } from './choice';
import { OptionBars, checkCount, labelOf, optionsBody, plainSummary } from './common';
import type { KindModule } from './types';

export const single: KindModule = {
  kind: 'single',
  title: 'One choice',
  writesOptions: true,
  onPick: () => ({}),
  checkDraft: () => ({}),
  body: (q) => ({ kind: 'single', options: optionsBody(q) }),
  Editor: null,
  rule: () => ({ code: 'rule_one' }),
  check: (_q, picked) => checkCount(picked, 1, 1, { code: 'ballot_choose_one' }, { code: 'ballot_too_many', params: { max: 1 } }),
  Ballot: (props) => <ChoiceBallot {...props} one />,
  Results: ({ question, qt, total, variant }) => <OptionBars question={question} qt={qt} total={total} variant={variant} ofVoters={false} />,
  summary: (q, qt) => plainSummary(q, qt),
  choiceText: (q, picked) => picked.map((id) => labelOf(q, id)).join(', '),
};
