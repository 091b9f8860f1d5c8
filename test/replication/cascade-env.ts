/**
 * A cascade on three real servers for topology tests: root -> branch -> leaf, the workload
 * schema on the root, the ledger audited on the branch and the leaf, and one worker process
 * serving all three nodes (their providers come from the nodes' rows).
 */
import pg from 'pg';
import { setQueueConfig } from '@pgferry/queue';
import { addTable, createBranchNode, createLeafNode, createRootNode, listTables } from '@pgferry/replicator';
import { PgServer } from '../harness/pg-server.js';
import { tableJson, waitFor } from './helpers.js';
import { WorkerProcess } from './worker-process.js';
import { AUDIT_LEDGER, ORDER_BY, WORKLOAD_SCHEMA, WORKLOAD_TABLES } from './workload.js';

export interface CascadeNode {
  name: string;
  server: PgServer;
  url: string;
  pool: pg.Pool;
}

export interface Cascade {
  root: CascadeNode;
  branch: CascadeNode;
  leaf: CascadeNode;
  worker: WorkerProcess;
}

async function startNode(name: string): Promise<CascadeNode> {
  const server = await PgServer.start({ name: `cascade-${name}` });
  const url = await server.createDatabase('app');
  const pool = new pg.Pool({ connectionString: url, max: 12, application_name: 'pgferry-test' });
  pool.on('error', () => undefined);
  return { name, server, url, pool };
}

/** Three servers and nodes; the worker process created, not started. */
export async function startCascade(): Promise<Cascade> {
  const [root, branch, leaf] = await Promise.all([startNode('root'), startNode('branch'), startNode('leaf')]);
  await root.pool.query(WORKLOAD_SCHEMA);
  for (const n of [branch, leaf]) await n.pool.query(`CREATE TABLE ledger (id bigint PRIMARY KEY, writer int NOT NULL, note text); ${AUDIT_LEDGER}`);
  await createRootNode(root.pool, { node: 'root', queue: 'repl' });
  // A quiet root ticks every second: a table copied from a branch is handed over at the
  // root's next tick (a branch makes no ticks of its own).
  await setQueueConfig(root.pool, 'repl', { ticker_idle_period: 1000 });
  await createBranchNode(root.pool, branch.pool, { node: 'branch', providerLocation: root.url, location: branch.url });
  await createLeafNode(branch.pool, leaf.pool, { node: 'leaf', providerLocation: branch.url, location: leaf.url });
  const worker = new WorkerProcess(
    {
      // The root's too: it idles while the node is the root, and serves it once a
      // switchover makes it a branch.
      subscriptions: [root, branch, leaf].map((n) => ({
        subscription: n.name,
        subscriber: n.url,
        pollIntervalMs: 50,
        retryMinMs: 100,
        retryMaxMs: 1000,
      })),
      tickIntervalMs: 50,
    },
    { standby: 2 },
  );
  return { root, branch, leaf, worker };
}

export async function stopCascade(c: Cascade | undefined): Promise<void> {
  if (!c) return;
  await c.worker.close().catch(() => undefined);
  await Promise.allSettled([c.root, c.branch, c.leaf].map((n) => n.pool.end()));
  await Promise.allSettled([c.root, c.branch, c.leaf].map((n) => n.server.destroy()));
}

/** Add the workload's tables to a subscriber node from its provider, and wait until they are ok. */
export async function addWorkloadTables(provider: pg.Pool, subscriber: pg.Pool, node: string): Promise<void> {
  for (const table of WORKLOAD_TABLES) await addTable(provider, subscriber, { subscription: node, table, create: table !== 'ledger' });
  await waitFor(`${node}'s tables ok`, async () => (await listTables(subscriber, node)).every((t) => t.state === 'ok'), 180_000, 200);
}

/** Every workload table is the same on all of `nodes` (waits until it is). */
export async function waitIdentical(nodes: CascadeNode[], timeoutMs = 180_000): Promise<void> {
  let last = '';
  await waitFor(
    'identical tables on every node',
    async () => {
      for (const t of WORKLOAD_TABLES) {
        const [first, ...rest] = await Promise.all(nodes.map((n) => tableJson(n.pool, t, ORDER_BY[t])));
        const differs = rest.findIndex((r) => r !== first);
        if (differs >= 0) {
          last = `${t} differs on ${nodes[differs + 1]!.name}`;
          return false;
        }
      }
      return true;
    },
    timeoutMs,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}
