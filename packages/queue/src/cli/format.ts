/** Plain-text tables and human figures for the CLI. */

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Numbers are right-aligned by default. */
  align?: 'left' | 'right';
}

/** A cell as text: '-' for nothing, times in UTC to the second. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (v instanceof Date) return formatTime(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const raw = rows.map((r) => columns.map((c) => c.value(r)));
  const text = raw.map((vals) => vals.map(cell));
  const right = columns.map(
    (c, i) => c.align === 'right' || (c.align === undefined && raw.length > 0 && raw.every((v) => typeof v[i] === 'number')),
  );
  const widths = columns.map((c, i) => Math.max(c.header.length, ...text.map((t) => t[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...text.map(line)].join('\n');
}

/** Key/value lines, aligned: for one object's details. */
export function renderPairs(pairs: [string, unknown][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width + 1)}  ${cell(v)}`).join('\n');
}

export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Seconds as 850ms, 4.2s, 3m05s, 2h01m, 3d04h. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Cut long text for a table cell. */
export function truncate(s: string | null, max = 60): string | null {
  if (s === null) return null;
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Bytes as people read them: 0 B, 8.0 kB, 1.5 MB (powers of 1000). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
