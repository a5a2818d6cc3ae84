import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  const lo = () => 0;
  const hi = () => 0.999999;

  it('grows exponentially from base', () => {
    const opts = { base: 500, cap: 30_000 };
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, { ...opts, random: hi }))).toEqual([500, 1000, 2000, 4000, 8000]);
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, { ...opts, random: lo }))).toEqual([250, 500, 1000, 2000, 4000]);
  });

  it('stays within [ceiling/2, ceiling] for any random value', () => {
    for (let a = 0; a < 12; a++) {
      const ceiling = Math.min(30_000, 500 * 2 ** a);
      for (const r of [0, 0.1, 0.5, 0.9, 0.999]) {
        const d = backoffDelay(a, { random: () => r });
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('is capped, even for huge attempts', () => {
    expect(backoffDelay(10, { random: hi })).toBe(30_000);
    expect(backoffDelay(1000, { random: hi })).toBe(30_000);
    expect(backoffDelay(1000, { random: lo })).toBe(15_000);
    expect(backoffDelay(Number.POSITIVE_INFINITY, { random: hi })).toBe(30_000);
    expect(backoffDelay(Number.NaN, { random: hi })).toBe(500);
    expect(backoffDelay(3, { base: 100, cap: 250, random: hi })).toBe(250);
  });

  it('uses the injected random source (jitter)', () => {
    expect(backoffDelay(2, { random: () => 0.5 })).toBe(1500);
    const seen = new Set([0.1, 0.3, 0.7].map((r) => backoffDelay(3, { random: () => r })));
    expect(seen.size).toBe(3);
  });

  it('treats negative or fractional attempts sanely and clamps bad random values', () => {
    expect(backoffDelay(-3, { random: hi })).toBe(500);
    expect(backoffDelay(1.7, { random: hi })).toBe(1000);
    expect(backoffDelay(0, { random: () => Number.NaN })).toBe(250);
    expect(backoffDelay(0, { random: () => 5 })).toBe(500);
  });
});
