import { describe, expect, it } from 'vitest';
import { emptyForm, localToRfc3339, move, newOption, newQuestion, toCreateBody, validatePollForm, type PollForm } from './pollForm';
import { text, type Problem } from '../messages';

const msg = (p?: Problem) => (p ? text(p) : undefined);

function valid(): PollForm {
  const f = emptyForm();
  f.title = 'Lunch?';
  f.questions[0].text = 'Where?';
  f.questions[0].options[0].label = 'Pizza';
  f.questions[0].options[1].label = 'Sushi';
  return f;
}

describe('validatePollForm', () => {
  it('accepts a minimal poll', () => {
    expect(validatePollForm(valid())).toEqual({});
  });

  it('checks title and description lengths', () => {
    const f = valid();
    f.title = '   ';
    expect(validatePollForm(f).title).toBeTruthy();
    f.title = 'x'.repeat(201);
    expect(msg(validatePollForm(f).title)).toMatch(/200/);
    f.title = 'x'.repeat(200);
    f.description = 'd'.repeat(2001);
    const e = validatePollForm(f);
    expect(e.title).toBeUndefined();
    expect(msg(e.description)).toMatch(/2000/);
  });

  it('checks question count, text and options', () => {
    const f = valid();
    f.questions = [];
    expect(validatePollForm(f).questions).toBeTruthy();
    const g = valid();
    g.questions = Array.from({ length: 21 }, () => g.questions[0]);
    expect(msg(validatePollForm(g).questions)).toMatch(/20/);
    const h = valid();
    const q = h.questions[0];
    q.text = '';
    q.options = [q.options[0]];
    const e = validatePollForm(h);
    expect(e[`q.${q.key}.text`]).toBeTruthy();
    expect(msg(e[`q.${q.key}.options`])).toMatch(/at least 2/);
  });

  it('requires unique non-empty labels within a question', () => {
    const f = valid();
    const q = f.questions[0];
    q.options.push(newOption(' Pizza '), newOption(''));
    const e = validatePollForm(f);
    expect(msg(e[`o.${q.options[2].key}.label`])).toMatch(/already/);
    expect(e[`o.${q.options[3].key}.label`]).toBeTruthy();
    expect(e[`o.${q.options[0].key}.label`]).toBeUndefined();
  });

  it('compares labels like the server: NFC, but case-sensitive', () => {
    const f = valid();
    const q = f.questions[0];
    q.options = [newOption('caf\u00e9'), newOption('cafe\u0301'), newOption('Yes'), newOption('yes')];
    const e = validatePollForm(f);
    expect(msg(e[`o.${q.options[1].key}.label`])).toMatch(/already/);
    expect(e[`o.${q.options[3].key}.label`]).toBeUndefined();
  });

  it('checks min/max of multiple questions', () => {
    const f = valid();
    const q = f.questions[0];
    q.kind = 'multiple';
    for (const [min, max, ok] of [
      ['0', '2', true],
      ['1', '1', true],
      ['2', '1', false],
      ['0', '3', false],
      ['-1', '1', false],
      ['', '2', false],
      ['0', '0', false],
    ] as const) {
      q.min = min;
      q.max = max;
      expect(validatePollForm(f)[`q.${q.key}.choices`] === undefined).toBe(ok);
    }
  });

  it('checks code_count for code polls', () => {
    const f = valid();
    f.eligibility = 'codes';
    for (const [c, ok] of [
      ['1', true],
      ['10000', true],
      ['0', false],
      ['10001', false],
      ['abc', false],
    ] as const) {
      f.codeCount = c;
      expect(validatePollForm(f).codeCount === undefined).toBe(ok);
    }
  });

  it('requires closes_at in the future', () => {
    const f = valid();
    f.closesAt = '2020-01-01T10:00';
    expect(msg(validatePollForm(f).closesAt)).toMatch(/future/);
    f.closesAt = '2999-01-01T10:00';
    expect(validatePollForm(f).closesAt).toBeUndefined();
  });
});

describe('DESIGN §4 text rules', () => {
  it('refuses control characters, except newline and tab in the description', () => {
    const f = valid();
    f.title = 'Lunch\u0007';
    f.description = 'Line one\n\tLine two';
    let e = validatePollForm(f);
    expect(e.title?.code).toBe('text_control_chars');
    expect(e.description).toBeUndefined();
    f.title = 'Lunch';
    f.description = 'bad\u0000';
    e = validatePollForm(f);
    expect(e.description?.code).toBe('text_control_chars');
    f.description = '';
    f.questions[0].text = 'Where\nnow?';
    expect(validatePollForm(f)[`q.${f.questions[0].key}.text`]?.code).toBe('text_control_chars');
  });

  it('refuses bidi override and isolate characters everywhere', () => {
    for (const ch of ['\u202A', '\u202D', '\u202E', '\u2066', '\u2069']) {
      const f = valid();
      f.questions[0].options[0].label = `Pizza${ch}`;
      f.description = `x${ch}y`;
      const e = validatePollForm(f);
      expect(e[`o.${f.questions[0].options[0].key}.label`]?.code).toBe('text_bidi_controls');
      expect(e.description?.code).toBe('text_bidi_controls');
    }
  });

  it('labels differing only by invisible characters are duplicates; only-invisible is empty', () => {
    for (const invisible of ['\u200B', '\u00AD', '\uFEFF', '\u2060', '\u200D']) {
      const f = valid();
      const q = f.questions[0];
      q.options.push(newOption(`Piz${invisible}za`), newOption(`${invisible}${invisible}`));
      const e = validatePollForm(f);
      expect(e[`o.${q.options[2].key}.label`]?.code).toBe('option_duplicate');
      expect(e[`o.${q.options[3].key}.label`]?.code).toBe('option_required');
    }
    const g = valid();
    g.title = '\u200B \uFEFF';
    expect(validatePollForm(g).title?.code).toBe('title_required');
  });

  it('keeps emoji ZWJ sequences valid and distinct from other emoji', () => {
    const f = valid();
    const q = f.questions[0];
    q.options = [newOption('\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'), newOption('\u{1F3F3}\uFE0F\u200D\u{1F308}'), newOption('\u{1F468}')];
    expect(validatePollForm(f)).toEqual({});
  });

  it('sends NFC, trimmed text', () => {
    const f = valid();
    f.title = '  cafe\u0301 ';
    expect(toCreateBody(f).title).toBe('caf\u00e9');
    expect(toCreateBody(f).show_results).toBe('always');
    f.showResults = 'after_vote';
    expect(toCreateBody(f).show_results).toBe('after_vote');
  });
});

describe('toCreateBody', () => {
  it('builds the API body', () => {
    const f = valid();
    f.questions.push(newQuestion());
    const q2 = f.questions[1];
    q2.text = ' Extras ';
    q2.kind = 'multiple';
    q2.min = '0';
    q2.max = '2';
    q2.options[0].label = 'Tea';
    q2.options[1].label = 'Cake';
    f.eligibility = 'codes';
    f.codeCount = '25';
    const b = toCreateBody(f);
    expect(b).toMatchObject({ title: 'Lunch?', eligibility: 'codes', code_count: 25, closes_at: null, visibility: 'unlisted' });
    expect(b.questions[0]).toEqual({ text: 'Where?', kind: 'single', options: [{ label: 'Pizza' }, { label: 'Sushi' }] });
    expect(b.questions[1]).toEqual({
      text: 'Extras',
      kind: 'multiple',
      min_choices: 0,
      max_choices: 2,
      options: [{ label: 'Tea' }, { label: 'Cake' }],
    });
    f.eligibility = 'open';
    expect(toCreateBody(f).code_count).toBeNull();
  });
});

describe('localToRfc3339', () => {
  it('converts local datetime-local values to UTC RFC 3339', () => {
    const iso = localToRfc3339('2030-06-15T14:30');
    expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Date.parse(iso!)).toBe(new Date(2030, 5, 15, 14, 30).getTime());
    expect(localToRfc3339('')).toBeNull();
    expect(localToRfc3339('nonsense')).toBeNull();
  });
});

describe('move', () => {
  it('reorders and ignores moves out of range', () => {
    expect(move(['a', 'b', 'c'], 0, 1)).toEqual(['b', 'a', 'c']);
    expect(move(['a', 'b', 'c'], 2, -2)).toEqual(['c', 'a', 'b']);
    expect(move(['a', 'b', 'c'], 0, -1)).toEqual(['a', 'b', 'c']);
  });
});
