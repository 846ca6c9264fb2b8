// host:port parsing and formatting, with IPv6 brackets, and Toxiproxy's way of reporting the
// address a listener actually bound.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface HostPort {
  /** Empty means every interface, as Go's ":0" does. */
  host: string;
  port: number;
}

/** Splits `host:port` / `[v6]:port` / `:port`. Throws a plain Error with Go-like wording. */
export function parseHostPort(address: string): HostPort {
  // Toxiproxy accepts an empty listen address: every interface, an ephemeral port.
  if (address === '') return { host: '', port: 0 };
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0) throw new Error(`address ${address}: missing ']' in address`);
    host = address.slice(1, close);
    const rest = address.slice(close + 1);
    if (!rest.startsWith(':')) throw new Error(`address ${address}: missing port in address`);
    portText = rest.slice(1);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) throw new Error(`address ${address}: missing port in address`);
    host = address.slice(0, colon);
    if (host.includes(':')) throw new Error(`address ${address}: too many colons in address`);
    portText = address.slice(colon + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`address ${address}: invalid port`);
  }
  return { host, port: Number(portText) };
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Resolves a listen address to the literal one to bind. Hostnames resolve to their first
 * address with IPv4 preferred, so `localhost:0` reports `127.0.0.1:<port>` as Toxiproxy does.
 */
export async function resolveListen(address: string): Promise<HostPort> {
  const { host, port } = parseHostPort(address);
  if (host === '' || isIP(host) !== 0) return { host, port };
  const found = await lookup(host, { verbatim: false });
  return { host: found.address, port };
}

/** The string Toxiproxy reports for a bound listener: the wildcard shows as `[::]`. */
export function reportBound(host: string, port: number): string {
  if (host === '' || host === '::') return `[::]:${port}`;
  return formatHostPort(host, port);
}
