/**
 * CPU time spent by the benchmark process plus every process of the benchmark's
 * PostgreSQL server (backends, WAL writer, checkpointer, ...). On a shared, noisy host the
 * wall clock stretches with other people's load; CPU time per operation much less, so it
 * is reported next to the wall-clock ratio.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** utime + stime, cutime + cstime (ticks) of the postmaster's live children and of itself, by pid. */
function serverProcesses(pmPid: number): Map<number, { ticks: number; reaped: number }> {
  const out = new Map<number, { ticks: number; reaped: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesized command name: state ppid ... utime(14) stime(15) cutime(16) cstime(17).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    if (pid !== pmPid && Number(rest[1]) !== pmPid) continue;
    out.set(pid, { ticks: Number(rest[11]) + Number(rest[12]), reaped: Number(rest[13]) + Number(rest[14]) });
  }
  return out;
}

/**
 * utime + stime (ms) of the postmaster and its live children, plus the postmaster's cutime
 * + cstime: the children it has reaped. A backend that exits moves its time from the first
 * sum to the second, so the total only grows (a pool closing its connections mid-run does
 * not make a run's CPU negative).
 */
function serverCpuMs(pmPid: number): number {
  let ticks = 0;
  for (const [pid, p] of serverProcesses(pmPid)) ticks += p.ticks + (pid === pmPid ? p.reaped : 0);
  return ticks * TICK_MS;
}

/** CPU time (ms) so far of each live process of a server (postmaster and children), by pid. */
export function serverProcessCpuMs(dataDir: string): Map<number, number> {
  return new Map([...serverProcesses(postmasterPid(dataDir))].map(([pid, p]) => [pid, p.ticks * TICK_MS]));
}

export interface CpuSample {
  wallMs: number;
  /** This process plus the server's processes. */
  cpuMs: number;
}

export class CpuMeter {
  private readonly pms: number[];
  /** `dataDirs`: the servers whose processes count (one or more). */
  constructor(dataDirs: string[]) {
    this.pms = [...new Set(dataDirs)].map(postmasterPid);
  }

  private serverMs(): number {
    return this.pms.reduce((sum, pm) => sum + serverCpuMs(pm), 0);
  }

  async measure(fn: () => Promise<unknown>): Promise<CpuSample> {
    const s0 = this.serverMs();
    const n0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const wallMs = performance.now() - t0;
    const n = process.cpuUsage(n0);
    const s1 = this.serverMs();
    return { wallMs, cpuMs: (n.user + n.system) / 1000 + (s1 - s0) };
  }
}

/** CPU time (ms) so far of this process and of each server, read separately (where the time goes). */
export interface CpuSplit {
  node: number;
  servers: number[];
}

export class CpuSplitMeter {
  private readonly pms: number[];
  constructor(dataDirs: string[]) {
    this.pms = dataDirs.map(postmasterPid);
  }

  now(): CpuSplit {
    const n = process.cpuUsage();
    return { node: (n.user + n.system) / 1000, servers: this.pms.map(serverCpuMs) };
  }

  static since(a: CpuSplit, b: CpuSplit): CpuSplit {
    return { node: b.node - a.node, servers: b.servers.map((x, i) => x - a.servers[i]!) };
  }
}
