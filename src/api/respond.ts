// The one place a thrown error becomes an HTTP response, and the few response shapes the API
// writes. Toxiproxy's error body is {"error": message, "status": N} plus a newline.

import type { ServerResponse } from 'node:http';
import { FaultlineError, isFaultlineError } from '../errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, newline = false): void {
  const text = JSON.stringify(body) + (newline ? '\n' : '');
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

export function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(text),
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

/** Writes a body piece by piece, waiting for the socket to drain so exports stay bounded. */
export async function sendStream(
  res: ServerResponse, status: number, type: string,
  produce: (write: (text: string) => Promise<void>) => Promise<void>,
): Promise<void> {
  res.writeHead(status, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
  try {
    await produce(async (text) => {
      if (res.destroyed) throw new Error('client went away');
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    });
    res.end();
  } catch {
    // Headers are gone already; cutting the stream is the only honest signal left.
    res.destroy();
  }
}

/** Turns anything thrown by a handler into Toxiproxy's error JSON. Returns the error sent. */
export function sendError(res: ServerResponse, err: unknown, extra?: Record<string, unknown>): FaultlineError {
  const error = isFaultlineError(err)
    ? err
    : new FaultlineError('ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  if (res.headersSent) {
    res.destroy();
    return error;
  }
  sendJson(res, error.status, { error: error.message, status: error.status, code: error.code, ...extra }, true);
  return error;
}
