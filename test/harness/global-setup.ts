/**
 * Vitest global setup: one real PostgreSQL server for the whole test run. Each test file
 * gets its own fresh database on it (see `useTestDatabase`). Always stopped at the end,
 * also when tests fail.
 */
import type { TestProject } from 'vitest/node';
import { PgServer } from './pg-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServer: { host: string; port: number; user: string; major: number };
  }
}

let server: PgServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await PgServer.start({ name: 'pgferry-test' });
  project.provide('pgServer', { host: server.host, port: server.port, user: server.user, major: server.major });
}

export async function teardown(): Promise<void> {
  await server?.destroy();
}
