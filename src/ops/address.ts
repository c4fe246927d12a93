// Stats addresses as uWSGI reads --emperor-stats: anything with ':' is TCP host:port, anything else a unix socket
// path ('@name' an abstract one).

export type StatsAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseStatsAddress(addr: string): StatsAddress {
  const colon = addr.lastIndexOf(':');
  if (colon < 0) {
    if (addr === '') throw new Error('stats address is empty');
    return { kind: 'unix', path: addr.startsWith('@') ? `\0${addr.slice(1)}` : addr };
  }
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = addr.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`stats address ${addr}: '${portText}' is not a TCP port`);
  // uWSGI binds ':port' on every IPv4 interface
  return { kind: 'tcp', host: host === '' ? '0.0.0.0' : host, port };
}

export function formatStatsAddress(a: StatsAddress): string {
  if (a.kind === 'unix') return a.path.startsWith('\0') ? `@${a.path.slice(1)}` : a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
