// `multiple`: between min_choices and max_choices options (DESIGN.md §3).

import type { Problem } from '../messages';
import { ChoiceBallot } from './choice';
import { MinMaxEditor, OptionBars, checkCount, checkMinMax, labelOf, optionsBody, plainSummary } from './common';
import type { KindModule } from './types';

export function choiceRule(min: number, max: number): Problem {
  if (min === max) return { code: 'rule_exactly', params: { n: min } };
  if (min === 0) return max === 1 ? { code: 'rule_optional_one' } : { code: 'rule_optional_up_to', params: { max } };
  return { code: 'rule_range', params: { min, max } };
}

export const multiple: KindModule = {
  kind: 'multiple',
  title: 'Several choices',
  writesOptions: true,
  onPick: (q) => ({ min: '1', max: String(q.options.length) }),
  checkDraft: checkMinMax,
  body: (q) => ({
    kind: 'multiple',
    min_choices: Number.parseInt(q.min, 10),
    max_choices: Number.parseInt(q.max, 10),
    options: optionsBody(q),
  }),
  Editor: (props) => <MinMaxEditor {...props} lowLabel="At least" highLabel="At most" />,
  rule: (q) => choiceRule(q.min_choices, q.max_choices),
  check: (q, picked) =>
    checkCount(
      picked,
      q.min_choices,
      q.max_choices,
      { code: 'ballot_too_few', params: { min: q.min_choices } },
      { code: 'ballot_too_many', params: { max: q.max_choices } },
    ),
  Ballot: (props) => <ChoiceBallot {...props} one={false} />,
  Results: ({ question, qt, total, variant }) => <OptionBars question={question} qt={qt} total={total} variant={variant} ofVoters />,
  summary: (q, qt) => plainSummary(q, qt),
  choiceText: (q, picked) => picked.map((id) => labelOf(q, id)).join(', '),
};
