/**
 * The Grafana dashboard's structure, and the metrics it and the alert rules use against
 * the real registries of the daemon, a consumer process and the replication worker. (That
 * the queries return data: prometheus-scrape.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  alertRulesFile,
  allPanels,
  builtinVariables,
  exportedMetricNames,
  metricRefs,
  parseLabelValues,
  readDashboard,
  variableRefs,
} from './files.js';

describe('Grafana dashboard', () => {
  const dashboard = readDashboard();
  const panels = allPanels(dashboard);
  const graphs = panels.filter((p) => p.type !== 'row');
  const targets = graphs.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
  const variables = dashboard.templating.list;
  let exported: Set<string>;
  beforeAll(async () => {
    exported = await exportedMetricNames();
  });

  it('panels have unique ids, a place on the grid that no other panel takes, and queries on the chosen data source', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, `${p.title}: gridPos`).toBe(true);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`);
          expect(other, `${p.title} overlaps ${other}`).toBeUndefined();
          cells.set(`${i},${j}`, p.title);
        }
      }
    }
    for (const p of graphs) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, `${p.title}: queries`).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, `${p.title}: refIds`).toBe(refIds.length);
      for (const t of p.targets!) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(p.datasource);
    }
    expect(targets.length).toBeGreaterThan(30);
  });

  it('every variable a query uses is defined before it is used, and query variables are label_values()', () => {
    expect(variables[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    const defined = new Set([...builtinVariables, 'datasource']);
    for (const v of variables.slice(1)) {
      expect(v.type, v.name).toBe('query');
      expect(v.datasource, v.name).toEqual({ type: 'prometheus', uid: '${datasource}' });
      const { selector } = parseLabelValues(v.query);
      for (const ref of variableRefs(selector)) expect(defined.has(ref), `${v.name} uses $${ref} before it is defined`).toBe(true);
      defined.add(v.name);
    }
    for (const t of targets) {
      for (const ref of variableRefs(t.expr)) expect(defined.has(ref), `${t.panel} ${t.refId}: $${ref}`).toBe(true);
    }
    // Each variable narrows some panel (a selector nobody reads is dead).
    for (const v of variables.slice(1)) {
      expect(targets.some((t) => variableRefs(t.expr).includes(v.name)), `$${v.name} is used`).toBe(true);
    }
  });

  it('every metric the dashboard and the alert rules read is one pgferry exports', () => {
    const dashboardRefs = metricRefs([...targets.map((t) => t.expr), ...variables.map((v) => v.query)].join('\n'));
    const alertRefs = metricRefs(readFileSync(alertRulesFile, 'utf8'));
    expect(dashboardRefs.filter((n) => !exported.has(n))).toEqual([]);
    expect(alertRefs.filter((n) => !exported.has(n))).toEqual([]);
    // The dashboard shows every family: queue, consumer (SQL and process), ticker, daemon
    // process, replication.
    for (const prefix of ['pgferry_queue_', 'pgferry_consumer_', 'pgferry_ticker_', 'pgferry_process_', 'pgferry_replication_']) {
      expect(dashboardRefs.some((n) => n.startsWith(prefix)), prefix).toBe(true);
    }
    // The check itself sees a name that is not exported.
    expect(exported.has('pgferry_queue_events_total')).toBe(true);
    expect(exported.has('pgferry_queue_event_total')).toBe(false);
  });
});
