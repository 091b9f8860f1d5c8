import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/stream/coalesce.js';
import { parseSnapshot, snapshotCovers, visibleInSnapshot } from '../src/state/snapshot.js';

describe('coalescing', () => {
  it('keeps per key whether the row existed before and its last image', () => {
    const c = new Coalescer();
    c.change('t', 'I', '[1]', '{"id":1,"v":"a"}', '1');
    c.change('t', 'U', '[1]', '{"id":1,"v":"b"}', '2');
    c.change('t', 'U', '[2]', '{"id":2,"v":"x"}', '3');
    c.change('t', 'D', '[2]', '{"id":2,"v":"x"}', '4');
    c.change('t', 'D', '[3]', '{"id":3}', '5');
    c.change('t', 'I', '[3]', '{"id":3,"v":"again"}', '6');
    c.change('t', 'I', '[4]', '{"id":4}', '7');
    c.change('t', 'D', '[4]', '{"id":4}', '8');
    const keys = Object.fromEntries([...c.tables.get('t')!.keys].map(([k, v]) => [k, [v.existedBefore, v.image, v.eventId]]));
    expect(keys).toEqual({
      '[1]': [false, '{"id":1,"v":"b"}', '2'], // insert
      '[2]': [true, null, '4'], // delete
      '[3]': [true, '{"id":3,"v":"again"}', '6'], // update
      '[4]': [false, null, '8'], // nothing
    });
    expect(c.size).toBe(4);
    expect(c.events).toBe(8);
  });

  it('drops what came before a truncate', () => {
    const c = new Coalescer();
    c.change('t', 'I', '[1]', '{}', '1');
    c.change('u', 'I', '[1]', '{}', '2');
    c.truncate('t');
    c.change('t', 'I', '[2]', '{}', '3');
    expect(c.tables.get('t')!.truncate).toBe(true);
    expect([...c.tables.get('t')!.keys.keys()]).toEqual(['[2]']);
    expect(c.tables.get('u')!.truncate).toBe(false);
    expect(c.size).toBe(2);
  });
});

describe('snapshots', () => {
  it('tells visibility like pg_visible_in_snapshot', () => {
    const s = parseSnapshot('100:110:103,107');
    expect([99, 100, 103, 105, 107, 109, 110, 200].map((x) => visibleInSnapshot(String(x), s))).toEqual([
      true, true, false, true, false, true, false, false,
    ]);
    expect(parseSnapshot('5:5:').xip.size).toBe(0);
  });

  it('knows when a later snapshot sees everything an earlier one saw', () => {
    const copy = parseSnapshot('100:110:103,107');
    expect(snapshotCovers(parseSnapshot('103:112:103,107,111'), copy)).toBe(true);
    expect(snapshotCovers(parseSnapshot('100:109:'), copy)).toBe(false); // older xmax
    expect(snapshotCovers(parseSnapshot('100:112:100'), copy)).toBe(false); // 100 was committed for the copy
    expect(snapshotCovers(parseSnapshot('112:112:'), copy)).toBe(true);
  });
});
