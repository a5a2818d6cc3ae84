import { useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api, errorText, uuid } from '../api';
import { text, type Problem } from '../messages';
import { ErrorBox } from '../components/ErrorBox';
import {
  LIMITS,
  emptyForm,
  move,
  newOption,
  newQuestion,
  toCreateBody,
  validatePollForm,
  type FormErrors,
  type PollForm,
  type QuestionDraft,
} from '../state/pollForm';
import { KINDS, kindOf } from '../kinds';
import type { CreatePollBody, CreatePollResponse } from '../types';

function FieldError({ id, message }: { id: string; message?: Problem }) {
  if (!message) return null;
  return (
    <p className="field-error" id={id}>
      {text(message)}
    </p>
  );
}

function describedBy(...ids: (string | false | undefined)[]): string | undefined {
  const s = ids.filter(Boolean).join(' ');
  return s || undefined;
}

function Counter({ value, max }: { value: string; max: number }) {
  const n = [...value].length;
  return (
    <span className={`counter ${n > max ? 'counter-over' : ''}`} aria-hidden="true">
      {`${n}/${max}`}
    </span>
  );
}

export default function CreatePoll({ onCreated }: { onCreated: (res: CreatePollResponse) => void }) {
  const [form, setForm] = useState<PollForm>(emptyForm);
  const [showErrors, setShowErrors] = useState(false);
  const [serverError, setServerError] = useState<string | null>(null);
  const errorRef = useRef<HTMLDivElement>(null);
  const summaryRef = useRef<HTMLDivElement>(null);
  const idemRef = useRef<{ key: string; body: string } | null>(null);
  // The key travels in the mutation's variables: its automatic retries (network errors only)
  // repeat the same key, so a poll is never created twice.
  const create = useMutation({
    mutationFn: (v: { body: CreatePollBody; key: string }) => api.createPoll(v.body, v.key),
  });
  const sending = create.isPending;

  const errors: FormErrors = showErrors ? validatePollForm(form) : {};
  const update = (patch: Partial<PollForm>) => setForm((f) => ({ ...f, ...patch }));
  const updateQ = (key: string, patch: Partial<QuestionDraft>) =>
    setForm((f) => ({ ...f, questions: f.questions.map((q) => (q.key === key ? { ...q, ...patch } : q)) }));

  const focusLater = (id: string) => setTimeout(() => document.getElementById(id)?.focus(), 0);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (sending) return;
    setServerError(null);
    const errs = validatePollForm(form);
    setShowErrors(true);
    if (Object.keys(errs).length > 0) {
      setTimeout(() => summaryRef.current?.focus(), 0);
      return;
    }
    const body = toCreateBody(form);
    const bodyText = JSON.stringify(body);
    // One key per submitted body: submitting the same poll again after a failure reuses it, so
    // the server answers with the poll it may already have made instead of making a second.
    if (!idemRef.current || idemRef.current.body !== bodyText) idemRef.current = { key: uuid(), body: bodyText };
    create.mutate(
      { body, key: idemRef.current.key },
      {
        onSuccess: (res) => {
          idemRef.current = null;
          onCreated(res);
        },
        onError: (err) => {
          setServerError(`The poll was not created: ${errorText(err)}`);
          setTimeout(() => errorRef.current?.focus(), 0);
        },
      },
    );
  };

  const errorCount = Object.keys(errors).length;

  return (
    <form className="card create" onSubmit={submit} noValidate aria-labelledby="create-title">
      <h2 id="create-title">Create a poll</h2>
      {showErrors && errorCount > 0 && (
        <div className="error-box" role="alert" tabIndex={-1} ref={summaryRef} data-testid="form-errors">
          {errorCount === 1 ? 'One field needs attention.' : `${errorCount} fields need attention.`}
        </div>
      )}
      <ErrorBox message={serverError} ref={errorRef} />

      <div className="field">
        <label htmlFor="poll-title" className="field-label">
          Title <Counter value={form.title} max={LIMITS.titleMax} />
        </label>
        <input
          id="poll-title"
          name="title"
          value={form.title}
          onChange={(e) => update({ title: e.target.value })}
          aria-invalid={!!errors.title}
          aria-describedby={describedBy(errors.title && 'poll-title-err')}
          required
          autoComplete="off"
          placeholder="Where do we go for lunch?"
        />
        <FieldError id="poll-title-err" message={errors.title} />
      </div>

      <div className="field">
        <label htmlFor="poll-desc" className="field-label">
          Description (optional) <Counter value={form.description} max={LIMITS.descriptionMax} />
        </label>
        <textarea
          id="poll-desc"
          name="description"
          rows={2}
          value={form.description}
          onChange={(e) => update({ description: e.target.value })}
          aria-invalid={!!errors.description}
          aria-describedby={describedBy(errors.description && 'poll-desc-err')}
        />
        <FieldError id="poll-desc-err" message={errors.description} />
      </div>

      <fieldset className="questions">
        <legend>Questions</legend>
        <FieldError id="questions-err" message={errors.questions} />
        {form.questions.map((q, qi) => (
          <QuestionEditor
            key={q.key}
            q={q}
            index={qi}
            count={form.questions.length}
            errors={errors}
            onChange={(patch) => updateQ(q.key, patch)}
            onRemove={() => {
              setForm((f) => ({ ...f, questions: f.questions.filter((x) => x.key !== q.key) }));
              focusLater('add-question');
            }}
            onMove={(delta) => {
              setForm((f) => ({ ...f, questions: move(f.questions, qi, delta) }));
              focusLater(`q-${q.key}-${delta < 0 ? 'up' : 'down'}`);
            }}
          />
        ))}
        <button
          type="button"
          id="add-question"
          className="btn"
          disabled={form.questions.length >= LIMITS.questionsMax}
          onClick={() => {
            const nq = newQuestion();
            setForm((f) => ({ ...f, questions: [...f.questions, nq] }));
            focusLater(`q-${nq.key}-text`);
          }}
        >
          + Add question
        </button>
      </fieldset>

      <fieldset className="settings">
        <legend>Settings</legend>
        <Radios
          legend="Results"
          name="results"
          value={form.results}
          onChange={(v) => update({ results: v as PollForm['results'] })}
          options={[
            ['live', 'Live: everybody sees the tally move'],
            ['after_close', 'After close: shown when the poll closes'],
          ]}
        />
        <Radios
          legend="Participants see the results"
          name="show-results"
          value={form.showResults}
          onChange={(v) => update({ showResults: v as PollForm['showResults'] })}
          options={[
            ['always', 'Always, also before they vote'],
            ['after_vote', 'Only after they voted (answers are not nudged by the tally)'],
          ]}
        />
        <Radios
          legend="Who can vote"
          name="eligibility"
          value={form.eligibility}
          onChange={(v) => update({ eligibility: v as PollForm['eligibility'] })}
          options={[
            ['open', 'Anyone with the link (one vote per browser)'],
            ['codes', 'Only with a one-time access code'],
          ]}
        >
          {form.eligibility === 'codes' && (
            <div className="field inline-field">
              <label htmlFor="code-count" className="field-label">
                Number of access codes
              </label>
              <input
                id="code-count"
                type="number"
                inputMode="numeric"
                min={LIMITS.codeCountMin}
                max={LIMITS.codeCountMax}
                value={form.codeCount}
                onChange={(e) => update({ codeCount: e.target.value })}
                aria-invalid={!!errors.codeCount}
                aria-describedby={describedBy(errors.codeCount && 'code-count-err')}
              />
              <FieldError id="code-count-err" message={errors.codeCount} />
            </div>
          )}
        </Radios>
        <Radios
          legend="Visibility"
          name="visibility"
          value={form.visibility}
          onChange={(v) => update({ visibility: v as PollForm['visibility'] })}
          options={[
            ['unlisted', 'Unlisted: only people with the link or code'],
            ['public', 'Public: listed on the home page'],
          ]}
        />
        <div className="field check">
          <input
            id="allow-revote"
            type="checkbox"
            checked={form.allowRevote}
            onChange={(e) => update({ allowRevote: e.target.checked })}
          />
          <label htmlFor="allow-revote">Allow voters to change their vote while the poll is open</label>
        </div>
        <div className="field">
          <label htmlFor="closes-at" className="field-label">
            Close automatically at (optional, your local time)
          </label>
          <div className="row">
            <input
              id="closes-at"
              type="datetime-local"
              value={form.closesAt}
              onChange={(e) => update({ closesAt: e.target.value })}
              aria-invalid={!!errors.closesAt}
              aria-describedby={describedBy(errors.closesAt && 'closes-at-err')}
            />
            {form.closesAt && (
              <button type="button" className="btn btn-small" onClick={() => update({ closesAt: '' })}>
                Clear
              </button>
            )}
          </div>
          <FieldError id="closes-at-err" message={errors.closesAt} />
        </div>
      </fieldset>

      <div className="actions">
        <button type="submit" className="btn btn-primary btn-large" disabled={sending} data-testid="create-submit">
          {sending ? 'Creating…' : 'Create poll'}
        </button>
      </div>
    </form>
  );
}

function Radios({
  legend,
  name,
  value,
  options,
  onChange,
  children,
}: {
  legend: string;
  name: string;
  value: string;
  options: [string, string][];
  onChange: (v: string) => void;
  children?: ReactNode;
}) {
  return (
    <fieldset className="radios">
      <legend className="field-label">{legend}</legend>
      {options.map(([v, label]) => (
        <div className="check" key={v}>
          <input id={`${name}-${v}`} type="radio" name={name} value={v} checked={value === v} onChange={() => onChange(v)} />
          <label htmlFor={`${name}-${v}`}>{label}</label>
        </div>
      ))}
      {children}
    </fieldset>
  );
}

function QuestionEditor({
  q,
  index,
  count,
  errors,
  onChange,
  onRemove,
  onMove,
}: {
  q: QuestionDraft;
  index: number;
  count: number;
  errors: FormErrors;
  onChange: (patch: Partial<QuestionDraft>) => void;
  onRemove: () => void;
  onMove: (delta: number) => void;
}) {
  const n = index + 1;
  const textErr = errors[`q.${q.key}.text`];
  const optErr = errors[`q.${q.key}.options`];
  const kind = kindOf(q.kind);
  const KindEditor = kind.Editor;
  const focusLater = (id: string) => setTimeout(() => document.getElementById(id)?.focus(), 0);

  const setOptions = (options: QuestionDraft['options']) => {
    const patch: Partial<QuestionDraft> = { options };
    // Keep "max" within the number of options (and following it when it was "all").
    const max = Number.parseInt(q.max, 10);
    if (Number.isFinite(max) && (max > options.length || max === q.options.length)) patch.max = String(options.length);
    onChange(patch);
  };

  return (
    <div className="question" data-testid="question-editor">
      <div className="question-head">
        <h3 className="question-num">Question {n}</h3>
        <div className="toolbar">
          <button
            type="button"
            id={`q-${q.key}-up`}
            className="btn btn-icon"
            disabled={index === 0}
            onClick={() => onMove(-1)}
            aria-label={`Move question ${n} up`}
          >
            ↑
          </button>
          <button
            type="button"
            id={`q-${q.key}-down`}
            className="btn btn-icon"
            disabled={index === count - 1}
            onClick={() => onMove(1)}
            aria-label={`Move question ${n} down`}
          >
            ↓
          </button>
          <button type="button" className="btn btn-icon btn-danger" disabled={count <= 1} onClick={onRemove} aria-label={`Remove question ${n}`}>
            ✕
          </button>
        </div>
      </div>
      <div className="field">
        <label htmlFor={`q-${q.key}-text`} className="field-label">
          Question {n} text <Counter value={q.text} max={LIMITS.questionTextMax} />
        </label>
        <input
          id={`q-${q.key}-text`}
          value={q.text}
          onChange={(e) => onChange({ text: e.target.value })}
          aria-invalid={!!textErr}
          aria-describedby={describedBy(textErr && `q-${q.key}-text-err`)}
          autoComplete="off"
        />
        <FieldError id={`q-${q.key}-text-err`} message={textErr} />
      </div>

      <fieldset className="radios radios-inline">
        <legend className="field-label">Answer type</legend>
        {KINDS.map((k) => (
          <div className="check" key={k}>
            <input
              id={`q-${q.key}-${k}`}
              type="radio"
              name={`kind-${q.key}`}
              checked={q.kind === k}
              onChange={() => onChange({ kind: k, ...kindOf(k).onPick(q) })}
            />
            <label htmlFor={`q-${q.key}-${k}`}>{kindOf(k).title}</label>
          </div>
        ))}
      </fieldset>

      {KindEditor && <KindEditor q={q} errors={errors} onChange={onChange} errorId={(field) => `q-${q.key}-${field}-err`} />}

      {kind.writesOptions && (
        <fieldset className="options">
          <legend className="field-label">Options of question {n}</legend>
          <ol className="option-list">
            {q.options.map((o, oi) => {
              const err = errors[`o.${o.key}.label`];
              const m = oi + 1;
              return (
                <li key={o.key} className="option-row">
                  <label htmlFor={`o-${o.key}`} className="sr-only">
                    Option {m} of question {n}
                  </label>
                  <input
                    id={`o-${o.key}`}
                    value={o.label}
                    placeholder={`Option ${m}`}
                    autoComplete="off"
                    onChange={(e) => onChange({ options: q.options.map((x) => (x.key === o.key ? { ...x, label: e.target.value } : x)) })}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') {
                        // Enter in the last option adds a new one instead of submitting.
                        e.preventDefault();
                        if (oi === q.options.length - 1 && q.options.length < LIMITS.optionsMax) {
                          const no = newOption();
                          setOptions([...q.options, no]);
                          focusLater(`o-${no.key}`);
                        } else if (oi < q.options.length - 1) {
                          focusLater(`o-${q.options[oi + 1].key}`);
                        }
                      }
                    }}
                    aria-invalid={!!err}
                    aria-describedby={describedBy(err && `o-${o.key}-err`)}
                  />
                  <div className="toolbar">
                    <button
                      type="button"
                      id={`o-${o.key}-up`}
                      className="btn btn-icon"
                      disabled={oi === 0}
                      aria-label={`Move option ${m} of question ${n} up`}
                      onClick={() => {
                        onChange({ options: move(q.options, oi, -1) });
                        focusLater(`o-${o.key}-up`);
                      }}
                    >
                      ↑
                    </button>
                    <button
                      type="button"
                      id={`o-${o.key}-down`}
                      className="btn btn-icon"
                      disabled={oi === q.options.length - 1}
                      aria-label={`Move option ${m} of question ${n} down`}
                      onClick={() => {
                        onChange({ options: move(q.options, oi, 1) });
                        focusLater(`o-${o.key}-down`);
                      }}
                    >
                      ↓
                    </button>
                    <button
                      type="button"
                      className="btn btn-icon btn-danger"
                      disabled={q.options.length <= LIMITS.optionsMin}
                      aria-label={`Remove option ${m} of question ${n}`}
                      onClick={() => {
                        setOptions(q.options.filter((x) => x.key !== o.key));
                        focusLater(`add-option-${q.key}`);
                      }}
                    >
                      ✕
                    </button>
                  </div>
                  <FieldError id={`o-${o.key}-err`} message={err} />
                </li>
              );
            })}
          </ol>
          <FieldError id={`q-${q.key}-options-err`} message={optErr} />
          <button
            type="button"
            id={`add-option-${q.key}`}
            className="btn btn-small"
            disabled={q.options.length >= LIMITS.optionsMax}
            onClick={() => {
              const no = newOption();
              setOptions([...q.options, no]);
              focusLater(`o-${no.key}`);
            }}
          >
            + Add option
          </button>
        </fieldset>
      )}
    </div>
  );
}
