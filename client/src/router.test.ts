import { describe, expect, it } from 'vitest';
import { matchRoute } from './router';
import { grouped, normalizeCode } from './state/codes';
import { formatCountdown } from './pages/PresentPage';

describe('matchRoute', () => {
  it('matches the fixed routes', () => {
    expect(matchRoute('/')).toEqual({ name: 'home' });
    expect(matchRoute('/p/77094zj5')).toEqual({ name: 'vote', id: '77094zj5' });
    expect(matchRoute('/p/77094zj5/present')).toEqual({ name: 'present', id: '77094zj5' });
    expect(matchRoute('/p/77094zj5/admin')).toEqual({ name: 'admin', id: '77094zj5' });
  });

  it('leads /p/{ID} in capitals or with spaces to the poll, by its canonical path', () => {
    expect(matchRoute('/p/7709%204ZJ5')).toEqual({ name: 'vote', id: '77094zj5', canonical: '/p/77094zj5' });
    expect(matchRoute('/p/77094ZJ5/present/')).toEqual({ name: 'present', id: '77094zj5', canonical: '/p/77094zj5/present' });
  });

  it('everything else is "page not found"', () => {
    for (const p of ['/nope', '/p/', '/p/abc', '/p/77094zj5/other', '/p/%E0%A4%A', '/api', '/p/abcd!234'])
      expect(matchRoute(p).name).toBe('notfound');
  });
});

describe('codes', () => {
  it('normalizes and groups', () => {
    expect(normalizeCode(' 7709 4ZJ5 ')).toBe('77094zj5');
    expect(normalizeCode('7709-4zj5')).toBe('77094zj5');
    expect(grouped('77094zj5')).toBe('7709 4zj5');
    expect(grouped('r2swbd6u4n')).toBe('r2swb d6u4n');
    expect(grouped('abcdefghijkl')).toBe('abcd efgh ijkl');
    expect(grouped('abc')).toBe('abc');
  });
});

describe('formatCountdown', () => {
  it('counts down in minutes, hours, days', () => {
    expect(formatCountdown(65_000)).toBe('1:05');
    expect(formatCountdown(3_723_000)).toBe('1:02:03');
    expect(formatCountdown(2 * 86_400_000)).toBe('2 days');
    expect(formatCountdown(-5)).toBe('0:00');
  });
});
