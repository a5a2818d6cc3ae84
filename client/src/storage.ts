// localStorage helpers.  Every access is guarded: storage may be disabled (private mode, policies).

export interface OrganizerRecord {
  token: string;
  codes?: string[];
  title?: string;
  createdAt?: string;
}

const VOTER_KEY = 'voting.voter';
const adminKey = (pollId: string) => `voting.admin.${pollId}`;
const codeKey = (pollId: string) => `voting.code.${pollId}`;

function read(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    /* storage unavailable: the session still works, it just is not remembered */
  }
}

export function getVoterToken(): string | null {
  return read(VOTER_KEY);
}

export function setVoterToken(token: string | null): void {
  write(VOTER_KEY, token);
}

export function getOrganizer(pollId: string): OrganizerRecord | null {
  const raw = read(adminKey(pollId));
  if (!raw) return null;
  try {
    const rec = JSON.parse(raw) as OrganizerRecord;
    return typeof rec.token === 'string' && rec.token ? rec : null;
  } catch {
    return null;
  }
}

export function saveOrganizer(pollId: string, rec: OrganizerRecord): void {
  const prev = getOrganizer(pollId);
  // Keep codes saved at creation when only the token is known later (admin link opened again).
  const merged: OrganizerRecord = { ...prev, ...rec, codes: rec.codes ?? prev?.codes };
  write(adminKey(pollId), JSON.stringify(merged));
}

export function forgetOrganizer(pollId: string): void {
  write(adminKey(pollId), null);
}

/** The access code this browser voted with (participant side). */
export function getMyCode(pollId: string): string | null {
  return read(codeKey(pollId));
}

export function setMyCode(pollId: string, code: string | null): void {
  write(codeKey(pollId), code);
}
