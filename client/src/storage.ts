// localStorage helpers.  Every access is guarded: storage may be disabled (private mode,
// policies) or hold anything (another version of this app, a hand edit).

export interface OrganizerRecord {
  token: string;
  codes?: string[];
  title?: string;
  createdAt?: string;
}

/** The access code this device voted with, and the receipt that lets it read that ballot back. */
export interface CodeRecord {
  code: string;
  receipt?: string;
}

const VOTER_KEY = 'voting.voter';
const ADMIN_PREFIX = 'voting.admin.';
const CODE_PREFIX = 'voting.code.';

function store(): Storage | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null;
  } catch {
    return null;
  }
}

function read(key: string): string | null {
  try {
    return store()?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    const s = store();
    if (!s) return;
    if (value === null) s.removeItem(key);
    else s.setItem(key, value);
  } catch {
    /* storage unavailable or full: the session still works, it just is not remembered */
  }
}

function parse(raw: string | null): unknown {
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

export function getVoterToken(): string | null {
  return read(VOTER_KEY) || null;
}

export function setVoterToken(token: string | null): void {
  write(VOTER_KEY, token);
}

function asOrganizer(v: unknown): OrganizerRecord | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.token !== 'string' || !r.token) return null;
  const rec: OrganizerRecord = { token: r.token };
  if (Array.isArray(r.codes) && r.codes.every((c) => typeof c === 'string')) rec.codes = r.codes as string[];
  if (typeof r.title === 'string') rec.title = r.title;
  if (typeof r.createdAt === 'string') rec.createdAt = r.createdAt;
  return rec;
}

export function getOrganizer(pollId: string): OrganizerRecord | null {
  return asOrganizer(parse(read(ADMIN_PREFIX + pollId)));
}

export function saveOrganizer(pollId: string, rec: OrganizerRecord): void {
  const prev = getOrganizer(pollId);
  // Keep what was saved at creation (codes, title) when only the token is known later.
  const merged: OrganizerRecord = { ...prev, ...rec, codes: rec.codes ?? prev?.codes };
  if (prev && !rec.title) merged.title = prev.title;
  if (prev && !rec.createdAt) merged.createdAt = prev.createdAt;
  write(ADMIN_PREFIX + pollId, JSON.stringify(merged));
}

export function forgetOrganizer(pollId: string): void {
  write(ADMIN_PREFIX + pollId, null);
}

/** Every poll this browser organizes ("My polls"), newest first (unknown dates last). */
export function listOrganized(): { id: string; record: OrganizerRecord }[] {
  const s = store();
  if (!s) return [];
  const out: { id: string; record: OrganizerRecord }[] = [];
  try {
    for (let i = 0; i < s.length; i++) {
      const key = s.key(i);
      if (!key?.startsWith(ADMIN_PREFIX)) continue;
      const id = key.slice(ADMIN_PREFIX.length);
      const record = asOrganizer(parse(s.getItem(key)));
      if (id && record) out.push({ id, record });
    }
  } catch {
    return out;
  }
  return out.sort((a, b) => (b.record.createdAt ?? '').localeCompare(a.record.createdAt ?? '') || a.id.localeCompare(b.id));
}

export function getMyCode(pollId: string): CodeRecord | null {
  const raw = read(CODE_PREFIX + pollId);
  if (!raw) return null;
  const v = parse(raw);
  if (typeof v === 'object' && v !== null && typeof (v as CodeRecord).code === 'string') {
    const { code, receipt } = v as CodeRecord;
    return typeof receipt === 'string' ? { code, receipt } : { code };
  }
  // Earlier versions kept the bare code.
  return /^[\w -]{1,64}$/.test(raw) ? { code: raw } : null;
}

export function setMyCode(pollId: string, rec: CodeRecord | null): void {
  write(CODE_PREFIX + pollId, rec ? JSON.stringify(rec) : null);
}
