/** One line per event, to stderr: text for people, JSON for log pipelines. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(format: 'text' | 'json', out: { write(s: string): void } = process.stderr): Logger {
  const line = (level: string, msg: string, fields: Record<string, unknown> = {}) => {
    const time = new Date().toISOString();
    if (format === 'json') {
      out.write(JSON.stringify({ time, level, msg, ...fields }) + '\n');
      return;
    }
    const tags = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    out.write(`${time} ${level.toUpperCase().padEnd(5)} ${tags ? `[${tags}] ` : ''}${msg}\n`);
  };
  return {
    info: (m, f) => line('info', m, f),
    warn: (m, f) => line('warn', m, f),
    error: (m, f) => line('error', m, f),
  };
}
