// The client's message catalog: every text a person reads about an error or a validation
// problem comes from here, keyed by a code (the API's error codes, the client's own codes).
// One place to translate later; state modules return codes, pages call t().

type Params = Record<string, string | number>;
type Entry = string | ((p: Params) => string);

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

const EN: Record<string, Entry> = {
  // --- the API's error codes (DESIGN.md §4, §5) ---
  network_error: 'The server could not be reached. Check your connection and try again.',
  invalid_json: 'The server could not read the request.',
  unknown_field: 'The server did not accept a field of the request.',
  invalid_poll: 'The poll is not valid.',
  invalid_query: 'The request was not valid.',
  poll_not_found: 'This poll does not exist, or it was deleted.',
  not_found: 'Not found.',
  poll_closed: 'This poll is closed: no more votes are accepted.',
  already_voted: 'You have already voted in this poll.',
  invalid_code: 'This code is not valid for this poll.',
  code_used: 'This code was already used.',
  voter_required: 'An access code is needed to vote in this poll.',
  invalid_ballot: 'The ballot is not valid.',
  no_ballot: 'No ballot was found.',
  rate_limited: 'Too many requests right now. Wait a moment and try again.',
  admin_required: 'The organizer link is needed for this.',
  forbidden: 'The organizer link in this browser does not match this poll.',
  results_hidden: 'Results are shown when the poll closes.',
  storage_unavailable: 'The server cannot save right now. Try again in a few seconds.',
  payload_too_large: 'The poll is too large.',
  unsupported_media_type: 'The server did not accept the request’s format.',
  idempotency_key_reused: 'This request was already sent with other content. Try again.',
  method_not_allowed: 'The server does not allow this here.',
  too_many_subscriptions: 'Too many live results are open in this browser.',
  invalid_message: 'The live connection sent something the server did not understand.',
  bad_response: 'The server answered with something this page does not understand. Reload the page to try again.',
  unknown: 'Something went wrong.',
  http_error: (p) => `The server answered ${p.status}.`,

  // --- the create form (state/pollForm.ts) ---
  title_required: 'Give the poll a title.',
  title_too_long: (p) => `The title is longer than ${p.max} characters.`,
  description_too_long: (p) => `The description is longer than ${p.max} characters.`,
  questions_too_few: 'Add at least one question.',
  questions_too_many: (p) => `At most ${p.max} questions.`,
  question_required: 'Write the question.',
  question_too_long: (p) => `The question is longer than ${p.max} characters.`,
  options_too_few: (p) => `A question needs at least ${p.min} options.`,
  options_too_many: (p) => `A question has at most ${p.max} options.`,
  option_required: 'Write the option.',
  option_too_long: (p) => `The option is longer than ${p.max} characters.`,
  option_duplicate: 'This option is already in the question.',
  text_control_chars: 'Remove the control characters (they cannot be shown).',
  text_bidi_controls: 'Remove the invisible text-direction characters.',
  choices_not_numbers: 'Enter whole numbers for the minimum and maximum.',
  choices_min_negative: 'The minimum cannot be negative.',
  choices_min_over_max: 'The minimum is larger than the maximum.',
  choices_max_over_options: (p) => `The maximum cannot exceed the ${p.n} options.`,
  choices_max_zero: 'The maximum must be at least 1.',
  code_count_range: (p) => `Enter a number of access codes from ${p.min} to ${p.max}.`,
  closes_at_invalid: 'Enter a valid date and time.',
  closes_at_past: 'The closing time must be in the future.',

  // --- the ballot (state/ballot.ts) ---
  rule_one: 'Choose one.',
  rule_exactly: (p) => `Choose exactly ${p.n}.`,
  rule_optional_one: 'Choose at most 1 (optional).',
  rule_optional_up_to: (p) => `Choose up to ${p.max} (optional).`,
  rule_range: (p) => `Choose ${p.min} to ${p.max}.`,
  // kinds/ranked.tsx, kinds/scale.tsx
  rule_rank_exactly: (p) => `Rank ${p.n} ${plural(Number(p.n), 'option', 'options')}, 1 for your first choice.`,
  rule_rank_range: (p) =>
    Number(p.min) === 0 ? `Rank up to ${p.max} options, 1 for your first choice (optional).` : `Rank ${p.min} to ${p.max} options, 1 for your first choice.`,
  ballot_rank_too_few: (p) => `Rank at least ${p.min} ${plural(Number(p.min), 'option', 'options')}.`,
  rule_rank_all: (p) => `Rank all ${p.n} options, 1 for your first choice.`,
  rule_scale_range: (p) => `Choose one point from ${p.min} to ${p.max}.`,
  ballot_rank_too_many: (p) => `Rank at most ${p.max} ${plural(Number(p.max), 'option', 'options')}.`,
  scale_not_numbers: 'Enter whole numbers for the lowest and highest points.',
  scale_range: (p) => `The scale runs within ${p.lowest} to ${p.highest}, its lowest point below its highest (at most 11 points).`,
  scale_label_too_long: (p) => `The label is longer than ${p.max} characters.`,
  ballot_unknown_question: 'Unknown question.',
  ballot_duplicate: 'An option was chosen twice.',
  ballot_unknown_option: 'Unknown option.',
  ballot_choose_one: 'Choose one option.',
  ballot_too_few: (p) => `Choose at least ${p.min} ${plural(Number(p.min), 'option', 'options')}.`,
  ballot_too_many: (p) => `Choose at most ${p.max} ${plural(Number(p.max), 'option', 'options')}.`,

  // --- join codes and access codes ---
  join_code_shape: 'A join code has 8 letters and digits, like “7709 4zj5”.',
  access_code_required: 'Enter the access code you were given.',
};

export interface Problem {
  code: string;
  params?: Params;
}

/** The text of a message code (with its parameters); unknown codes read as "Something went wrong (code)". */
export function t(code: string, params: Params = {}): string {
  const e = EN[code];
  if (e === undefined) return `${EN.unknown as string} (${code})`;
  return typeof e === 'string' ? e : e(params);
}

export function hasMessage(code: string): boolean {
  return Object.hasOwn(EN, code);
}

export function text(p: Problem): string {
  return t(p.code, p.params);
}
