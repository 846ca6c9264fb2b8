// One table of every error the API can return. Toxiproxy's message strings are part of the
// API: clients and their test suites compare them, so they are spelled exactly as Toxiproxy
// spells them. Codes whose message depends on the input carry a `detail` that is appended.

export const ERRORS = {
  ERR_PROXY_NOT_FOUND: { status: 404, message: 'proxy not found' },
  ERR_TOXIC_NOT_FOUND: { status: 404, message: 'toxic not found' },
  ERR_PROXY_EXISTS: { status: 409, message: 'proxy already exists' },
  ERR_TOXIC_EXISTS: { status: 409, message: 'toxic already exists' },
  ERR_MISSING_FIELD: { status: 400, message: 'missing required field' },
  ERR_INVALID_TOXIC_TYPE: { status: 400, message: 'invalid toxic type' },
  ERR_INVALID_STREAM: { status: 400, message: 'stream was invalid, can be either upstream or downstream' },
  ERR_BAD_BODY: { status: 400, message: 'bad request body' },
  ERR_BAD_QUERY: { status: 400, message: 'bad query' },
  ERR_NO_EVENT_LOG: { status: 404, message: 'the event log is off: the server was started without persistence' },
  ERR_INVALID_ATTRIBUTE: { status: 400, message: 'invalid attribute' },
  ERR_UNSUPPORTED_PROTOCOL: { status: 400, message: 'toxic does not apply to this protocol' },
  ERR_BODY_TOO_LARGE: { status: 413, message: 'request body too large' },
  ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request line or headers too large: the limit is 16 KiB' },
  ERR_MALFORMED_REQUEST: { status: 400, message: 'malformed HTTP request (a byte outside what HTTP allows in the request line or a header, or bad framing): percent-encode names and values' },
  ERR_REQUEST_TIMEOUT: { status: 408, message: 'request timeout: the request line, headers and body must arrive within 30 s' },
  ERR_BROWSER_FORBIDDEN: { status: 403, message: 'User agent not allowed' },
  ERR_ROUTE_NOT_FOUND: { status: 404, message: 'page not found' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  ERR_HOST_NOT_ALLOWED: { status: 403, message: 'host not allowed' },
  ERR_SCENARIO_FILE_NOT_FOUND: { status: 404, message: 'scenario file not found' },
  ERR_INVALID_SCENARIO: { status: 400, message: 'invalid scenario' },
  ERR_EXEC_NOT_ALLOWED: { status: 403, message: 'exec not allowed on this server' },
  ERR_EXEC_NEEDS_TOKEN: { status: 403, message: 'exec needs the token' },
  ERR_RUN_NOT_FOUND: { status: 404, message: 'scenario run not found' },
  ERR_RUN_FINISHED: { status: 409, message: 'scenario run already finished' },
  ERR_RUN_RUNNING: { status: 409, message: 'scenario run is running on this server' },
  ERR_SESSION_NOT_FOUND: { status: 404, message: 'session not found' },
  ERR_SESSION_RECORDING: { status: 409, message: 'a session is already recording' },
  ERR_SESSION_ENDED: { status: 409, message: 'session already ended' },
  ERR_SESSION_EMPTY: { status: 409, message: 'session has no control actions to replay' },
  ERR_LISTEN: { status: 500, message: 'listen failed' },
  ERR_STATE_NOT_SAVED: { status: 503, message: 'the change could not be saved, so it was not made' },
  ERR_INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class FaultlineError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  /**
   * `message` replaces the table's text when the wire string depends on the input (Toxiproxy
   * forwards raw OS errors for listen failures, and names the field for missing ones).
   */
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'FaultlineError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

export function isFaultlineError(err: unknown): err is FaultlineError {
  return err instanceof FaultlineError;
}

/** `missing required field: name`, with Toxiproxy's ` at proxy N` suffix for populate. */
export function missingField(field: string, index?: number): FaultlineError {
  const where = index === undefined ? '' : ` at proxy ${index}`;
  return new FaultlineError('ERR_MISSING_FIELD', `missing required field: ${field}${where}`);
}

export function badBody(reason: string): FaultlineError {
  return new FaultlineError('ERR_BAD_BODY', `bad request body: ${reason}`);
}

export function invalidAttribute(field: string, reason: string): FaultlineError {
  return new FaultlineError('ERR_INVALID_ATTRIBUTE', `bad request body: attribute ${field} ${reason}`);
}
