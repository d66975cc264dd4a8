/**
 * Counts this process's open TCP connections to one port, from the kernel's
 * own tables (/proc/net/tcp plus /proc/self/fd), so the figure does not
 * depend on what any client library chooses to report. Linux only; elsewhere
 * it returns undefined and the bench falls back to runtime.stats().
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const ESTABLISHED = '01';

function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    } catch {
      // The fd closed between readdir and readlink.
    }
  }
  return inodes;
}

export function openConnectionsTo(port: number): number | undefined {
  try {
    const inodes = ownSocketInodes();
    let count = 0;
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10) continue;
        const remotePort = parseInt(cols[2]!.split(':')[1]!, 16);
        if (remotePort === port && cols[3] === ESTABLISHED && inodes.has(cols[9]!)) count++;
      }
    }
    return count;
  } catch {
    return undefined;
  }
}
