/** Node names and the consumer names derived from them (no database: the rules themselves). */
import { describe, expect, it } from 'vitest';
import { checkNodeName, copyConsumerName, isCopyConsumerOf, maxNodeNameLength, ReplicationSetupError } from '../src/index.js';

// pgferry._check_name, the rule every consumer name must pass.
const validConsumer = (s: string) => /^[A-Za-z0-9_.:-]{1,100}$/.test(s);

describe('node names', () => {
  it('allow exactly the names whose copy consumer names are valid', () => {
    const max = maxNodeNameLength();
    const longest = 'n'.repeat(max);
    checkNodeName(longest);
    for (const table of ['public.t', 'a_schema."A very long table name, with spaces and ""quotes"""', 'x']) {
      expect(copyConsumerName(longest, table).length).toBeLessThanOrEqual(100);
      expect(validConsumer(copyConsumerName(longest, table))).toBe(true);
    }
    // One more character and some copy consumer name would be invalid: refused.
    expect(validConsumer(copyConsumerName('n'.repeat(max + 1), 'public.t'))).toBe(false);
    expect(() => checkNodeName('n'.repeat(max + 1))).toThrow(ReplicationSetupError);
    expect(() => checkNodeName('n'.repeat(max + 1))).toThrow(new RegExp(`\\(${max + 1} characters\\).*use 1 to ${max} characters`));
  });

  it('refuse the empty name, ":" (it separates derived names) and what a consumer name cannot hold', () => {
    for (const bad of ['', 'a:b', 'leaf:copy:0123456789ab', 'a b', 'a#b', 'é', 'a"b']) {
      expect(() => checkNodeName(bad), bad).toThrow(/invalid node name/);
    }
    for (const good of ['leaf1', 'eu-west.2', 'A_b']) checkNodeName(good);
  });

  it("recognise a node's copy consumers, and no other node's", () => {
    const t = 'public.accounts';
    expect(isCopyConsumerOf('leaf', copyConsumerName('leaf', t))).toBe(true);
    expect(isCopyConsumerOf('leaf', copyConsumerName('leaf', 'other.table'))).toBe(true);
    expect(isCopyConsumerOf('leaf', 'leaf')).toBe(false);
    expect(isCopyConsumerOf('lea', copyConsumerName('leaf', t))).toBe(false);
    expect(isCopyConsumerOf('leaf', copyConsumerName('leaf2', t))).toBe(false);
    expect(isCopyConsumerOf('leaf', `${copyConsumerName('leaf', t)}0`)).toBe(false);
    expect(isCopyConsumerOf('leaf', 'leaf:copy:NOTHEXNOTHEX')).toBe(false);
  });
});
