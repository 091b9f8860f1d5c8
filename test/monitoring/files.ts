/** The shipped monitoring files (packages/queue/monitoring) as the tests read them. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Consumer } from '@pgferry/queue';
import { Daemon, createLogger, parseDaemonConfig } from '../../packages/queue/src/daemon/index.js';
import { instrumentConsumer } from '../../packages/queue/src/metrics/index.js';
import { ReplicationWorker, replicationMetrics } from '../../packages/replicator/src/index.js';

export const monitoringDir = fileURLToPath(new URL('../../packages/queue/monitoring/', import.meta.url));
export const alertRulesFile = `${monitoringDir}prometheus-alerts.yaml`;
export const alertTestsFile = `${monitoringDir}alerts.test.yaml`;

export interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  datasource?: { type: string; uid: string };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query: string;
  datasource?: { type: string; uid: string };
}

export interface Dashboard {
  panels: Panel[];
  templating: { list: Variable[] };
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(`${monitoringDir}grafana-dashboard.json`, 'utf8')) as Dashboard;
}

/** Every panel, those inside collapsed rows included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The alert names of the rules file, in order (its layout: `- alert: Name` lines). */
export function alertNames(): string[] {
  return [...readFileSync(alertRulesFile, 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
}

/** Metric names an expression or file refers to. */
export const metricRefs = (text: string): string[] => [
  ...new Set(text.match(/\bpgferry_[a-z0-9_]*[a-z0-9](?![a-z0-9_*])/g) ?? []),
];

/** `label_values(selector, label)`: a Grafana Prometheus query variable. */
export function parseLabelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!m) throw new Error(`not a label_values(selector, label) query: ${query}`);
  return { selector: m[1]!, label: m[2]! };
}

/** Grafana's built-in variables the dashboard may use. */
export const builtinVariables = ['__rate_interval', '__interval', '__range'];

/** The variables an expression uses ($name or ${name}). */
export const variableRefs = (text: string): string[] => [
  ...new Set([...text.matchAll(/\$\{?(\w+)\}?/g)].map((m) => m[1]!)),
];

/** Replace $name / ${name} by values[name] (throws on an unknown one). */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for variable $${name} in ${text}`);
    return v;
  });
}

type Registry = ReturnType<typeof replicationMetrics>;

function namesOf(registry: Registry): string[] {
  return registry.getMetricsAsArray().flatMap((m) => {
    const name = m.name;
    const isHistogram = (m as unknown as { constructor: { name: string } }).constructor.name === 'Histogram';
    return isHistogram ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
  });
}

/**
 * Every metric name pgferry's code exports: the daemon's registry, a consumer process's
 * instrumentation and the replication worker's. Built from the real registries (nothing
 * connects: the daemon and worker are not started).
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const daemon = new Daemon(parseDaemonConfig({ databases: ['postgres://nowhere/x'] }), createLogger('text', { write: () => undefined }));
  const pool = new pg.Pool({ connectionString: 'postgres://nowhere/x' });
  instrumentConsumer(new Consumer(pool, { queue: 'q', name: 'c', listen: false }), { registry: daemon.registry });
  const worker = new ReplicationWorker({ subscriptions: [] });
  const names = new Set([...namesOf(daemon.registry), ...namesOf(replicationMetrics(worker))]);
  await pool.end();
  return names;
}
