import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '@pgferry/test/test-database';
import { createSubscriberPool } from '../src/index.js';

describe('subscriber sessions', () => {
  const db = useTestDatabase({ install: false });

  it('skip capture and commit durably, whatever the server defaults', async () => {
    // The test server runs with synchronous_commit off: a crash may lose its last commits.
    expect((await db.pool.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe('off');
    const pool = createSubscriberPool(db.url, 1);
    try {
      const { rows } = await pool.query(
        `SELECT current_setting('synchronous_commit') AS sync, current_setting('pgferry.replica', true) AS replica`,
      );
      expect(rows[0]).toEqual({ sync: 'on', replica: 'on' });
    } finally {
      await pool.end();
    }
  });
});
