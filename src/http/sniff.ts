// The first bytes of a client connection say which HTTP it speaks: HTTP/2 with prior
// knowledge opens with its connection preface; anything else is HTTP/1.1, which may still ask
// to upgrade to HTTP/2 (h2c) with its first request.

import type { HttpConnection, ProtocolSession } from './connection.js';
import { H1Session } from './h1-session.js';
import { PREFACE } from './h2-frame.js';
import { H2Relay } from './h2-relay.js';
import { H2cSession } from './h2-upgrade.js';

const EMPTY: Buffer = Buffer.alloc(0);

export function sniffer(): (conn: HttpConnection) => ProtocolSession {
  return (conn) => {
    let seen = EMPTY;
    /** An HTTP/1.1 session that hands an h2c upgrade request to an HTTP/2 session, which
     *  gives it back (declined) when the upstream does not speak HTTP/2. */
    const http1 = (): H1Session => new H1Session(conn, (head, headBytes, body) => {
      conn.session = new H2cSession(conn, {
        head,
        body,
        decline: (early) => {
          conn.dropUpstream();
          const session = new H1Session(conn, null);
          conn.session = session;
          void session.fromClient(early.length === 0 ? headBytes : Buffer.concat([headBytes, early]));
        },
      });
    });
    return {
      fromClient(data) {
        seen = seen.length === 0 ? data : Buffer.concat([seen, data]);
        const n = Math.min(seen.length, PREFACE.length);
        const prefix = seen.compare(PREFACE, 0, n, 0, n) === 0;
        if (prefix && n < PREFACE.length) return;
        conn.session = prefix ? new H2Relay(conn) : http1();
        return conn.session.fromClient(seen);
      },
      clientEnded() {
        conn.endClient('client closed');
      },
      destroy() {},
    };
  };
}
