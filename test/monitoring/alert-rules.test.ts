/**
 * The alert rules, unit-tested by promtool on series written for each alert
 * (packages/queue/monitoring/alerts.test.yaml): every alert has a case where it fires and one
 * where it does not, and the tests catch a rule that never fires or fires on everything.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alertNames, alertRulesFile, alertTestsFile, metricRefs, monitoringDir } from './files.js';
import { promtool } from './prometheus.js';

/**
 * The rules text with alert `name`'s expression replaced (its `expr:` and continuation
 * lines), and with its `for:` dropped when `dropFor`.
 */
function withExpr(rules: string, name: string, expr: string, dropFor = false): string {
  const lines = rules.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- alert: ${name}`);
  const start = lines.findIndex((l, i) => i > at && /^\s+expr:/.test(l));
  const indent = /^\s*/.exec(lines[start]!)![0].length;
  let end = start + 1;
  while (end < lines.length && /^\s*/.exec(lines[end]!)![0].length > indent && lines[end]!.trim() !== '') end++;
  lines.splice(start, end - start, `${' '.repeat(indent)}expr: '${expr}'`);
  if (dropFor && lines[start + 1]?.trim().startsWith('for:')) lines.splice(start + 1, 1);
  return lines.join('\n');
}

/** The expression of alert `name` (as written, folded lines joined). */
function exprOf(rules: string, name: string): string {
  const lines = rules.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- alert: ${name}`);
  const start = lines.findIndex((l, i) => i > at && /^\s+expr:/.test(l));
  const indent = /^\s*/.exec(lines[start]!)![0].length;
  const out = [lines[start]!.replace(/^\s+expr:\s*>?/, '')];
  for (let i = start + 1; i < lines.length && /^\s*/.exec(lines[i]!)![0].length > indent; i++) out.push(lines[i]!);
  return out.join(' ');
}

describe('alert rules (promtool)', () => {
  const names = alertNames();
  const rules = readFileSync(alertRulesFile, 'utf8');
  const tests = readFileSync(alertTestsFile, 'utf8');
  const scratch = mkdtempSync(join(tmpdir(), 'pgferry-alerts-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the rules file is valid', () => {
    const r = promtool(['check', 'rules', alertRulesFile]);
    expect(r.output, r.output).toContain(`SUCCESS: ${names.length} rules found`);
    expect(r.status, r.output).toBe(0);
    expect(names.length).toBeGreaterThanOrEqual(10);
  });

  it('every alert fires and stays quiet on the series written for it', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yaml'], monitoringDir);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');

    // Which alerts each case evaluates, and whether it expects them to fire.
    const cases = [...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)].map((m) => ({ alert: m[1]!, fires: !m[2] }));
    expect(cases.filter((c) => !names.includes(c.alert))).toEqual([]);
    for (const name of names) {
      expect(cases.some((c) => c.alert === name && c.fires), `${name}: a case where it fires`).toBe(true);
      expect(cases.some((c) => c.alert === name && !c.fires), `${name}: a case where it does not fire`).toBe(true);
    }
  });

  it.each(names)('the tests of %s catch a rule that never fires, and one that fires at once on every series', (name) => {
    const run = (mutated: string) => {
      writeFileSync(join(scratch, 'prometheus-alerts.yaml'), mutated);
      copyFileSync(alertTestsFile, join(scratch, 'alerts.test.yaml'));
      return promtool(['test', 'rules', 'alerts.test.yaml'], scratch);
    };
    const never = run(withExpr(rules, name, 'vector(1) == 0'));
    expect(never.status, never.output).not.toBe(0);
    expect(never.output).toContain(`alertname: ${name}`);

    // Every series of the metrics it reads, whatever their values and for how long (the
    // metric name kept as a label: series of two metrics may have the same labels).
    const metrics = metricRefs(exprOf(rules, name));
    expect(metrics.length).toBeGreaterThan(0);
    const all = `label_replace({__name__=~"${metrics.join('|')}"}, "metric", "$1", "__name__", "(.+)")`;
    const always = run(withExpr(rules, name, all, true));
    expect(always.status, always.output).not.toBe(0);
    expect(always.output).toContain(`alertname: ${name}`);
  });
});
