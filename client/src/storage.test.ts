import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { forgetOrganizer, getMyCode, getOrganizer, getVoterToken, listOrganized, saveOrganizer, setMyCode, setVoterToken } from './storage';
import { MemoryStorage } from './test/fakes';

let store: MemoryStorage;

beforeEach(() => {
  store = new MemoryStorage();
  vi.stubGlobal('window', { localStorage: store });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('storage', () => {
  it('keeps the voter token', () => {
    expect(getVoterToken()).toBeNull();
    setVoterToken('v1');
    expect(getVoterToken()).toBe('v1');
    setVoterToken(null);
    expect(getVoterToken()).toBeNull();
  });

  it('keeps codes and title when the token is saved again later', () => {
    saveOrganizer('p1', { token: 't1', codes: ['a', 'b'], title: 'Lunch', createdAt: '2026-01-01T00:00:00Z' });
    saveOrganizer('p1', { token: 't1' });
    expect(getOrganizer('p1')).toEqual({ token: 't1', codes: ['a', 'b'], title: 'Lunch', createdAt: '2026-01-01T00:00:00Z' });
    forgetOrganizer('p1');
    expect(getOrganizer('p1')).toBeNull();
  });

  it('lists the organized polls newest first and skips broken records', () => {
    saveOrganizer('old', { token: 't', createdAt: '2025-01-01T00:00:00Z' });
    saveOrganizer('new', { token: 't', createdAt: '2026-05-01T00:00:00Z' });
    saveOrganizer('nodate', { token: 't' });
    store.setItem('voting.admin.broken', '{not json');
    store.setItem('voting.admin.notoken', JSON.stringify({ title: 'x' }));
    store.setItem('voting.voter', 'v');
    expect(listOrganized().map((x) => x.id)).toEqual(['new', 'old', 'nodate']);
  });

  it('keeps the access code with its receipt, and reads the older bare form', () => {
    setMyCode('p1', { code: 'abcd', receipt: 'r1' });
    expect(getMyCode('p1')).toEqual({ code: 'abcd', receipt: 'r1' });
    store.setItem('voting.code.p2', 'k3x9q2ab');
    expect(getMyCode('p2')).toEqual({ code: 'k3x9q2ab' });
    store.setItem('voting.code.p3', '<script>');
    expect(getMyCode('p3')).toBeNull();
    setMyCode('p1', null);
    expect(getMyCode('p1')).toBeNull();
  });

  it('works (forgetting) when storage throws', () => {
    vi.stubGlobal('window', {
      get localStorage(): Storage {
        throw new Error('SecurityError');
      },
    });
    setVoterToken('x');
    expect(getVoterToken()).toBeNull();
    expect(listOrganized()).toEqual([]);
  });
});
