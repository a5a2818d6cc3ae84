// The ballot input of single and multiple: radio buttons or checkboxes, one per option.

import type { BallotProps } from './types';

/** Toggle an option in a selection: `one` replaces (radio), otherwise adds or removes (checkbox). */
export function toggle(one: boolean, current: string[], optionId: string, checked: boolean): string[] {
  if (one) return checked ? [optionId] : [];
  if (checked) return current.includes(optionId) ? current : [...current, optionId];
  return current.filter((id) => id !== optionId);
}

export function ChoiceBallot({ question: q, picked, onChange, one }: BallotProps & { one: boolean }) {
  const full = !one && picked.length >= q.max_choices;
  return (
    <div className="choices">
      {q.options.map((o) => {
        const checked = picked.includes(o.id);
        const inputId = `vo-${q.id}-${o.id}`;
        return (
          <div className={`choice ${checked ? 'choice-on' : ''}`} key={o.id}>
            <input
              id={inputId}
              type={one ? 'radio' : 'checkbox'}
              name={`q-${q.id}`}
              value={o.id}
              checked={checked}
              disabled={!checked && full}
              onChange={(e) => onChange(toggle(one, picked, o.id, e.target.checked))}
            />
            <label htmlFor={inputId}>{o.label}</label>
          </div>
        );
      })}
    </div>
  );
}
