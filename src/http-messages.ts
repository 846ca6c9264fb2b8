// One-line messages for failed calls to a faultline API, shared by every client of it (the CLI
// and the scenario runner), so a user reads the same words whichever tool failed.

/** The server's error text: Toxiproxy's `error` (or the very old `title`), else the raw body. */
export function errorText(res: Response, text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; title?: unknown };
    const message = parsed.error ?? parsed.title;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON (a 404 page, a 403 for browsers, an empty 503): fall through to the raw text.
  }
  return oneLine(text) || res.statusText || 'request failed';
}

/** Why a request never got an answer: a timeout, or the socket error behind fetch's. */
export function networkMessage(base: string, err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `request to ${base} timed out after ${timeoutMs} ms`;
  }
  const cause = (err as { cause?: { code?: unknown; syscall?: unknown; message?: unknown } })?.cause;
  let reason: string;
  if (cause && typeof cause.code === 'string') {
    reason = typeof cause.syscall === 'string' ? `${cause.syscall} ${cause.code}` : cause.code;
  } else if (cause && typeof cause.message === 'string' && cause.message !== '') {
    reason = cause.message;
  } else {
    reason = err instanceof Error ? err.message : String(err);
  }
  return `cannot reach ${base}: ${oneLine(reason)}`;
}

export function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' ');
}
