/**
 * Password authentication in front of the embedded PGlite. PGlite's socket server trusts every
 * connection (it answers a startup message with AuthenticationOk at once), so the embedded
 * database listens on a Unix socket in a private folder and this proxy owns the TCP port: it runs
 * the PostgreSQL wire protocol's startup phase itself — SSL refused, the user checked, MD5 password
 * authentication with a fresh random salt per connection — and only then connects the client to
 * PGlite and pipes the two. A wrong user or password gets PostgreSQL's own error (28000 / 28P01)
 * and the connection is closed; nothing reaches PGlite. See docs/security.md.
 *
 * MD5 (not SCRAM-SHA-256) because every client the platform uses speaks it and the password is
 * 32 random bytes: a captured exchange cannot be brute-forced, and the salt prevents replay.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** The startup phase must end within this time, or the connection is closed. */
export const PG_AUTH_TIMEOUT_MS = 10_000;
/** Largest startup or password message accepted before authentication. */
export const PG_AUTH_MESSAGE_BYTES_MAX = 8_192;

const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const CANCEL_REQUEST = 80_877_102;

export interface PgAuthProxyOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Where PGlite's socket server listens (a Unix socket in a private folder). */
  readonly upstreamPath: string;
  readonly maxConnections: number;
}

export interface PgAuthProxy {
  readonly port: number;
  close(): Promise<void>;
}

/** PostgreSQL's MD5 answer: "md5" + md5(md5(password + user) + salt), in hex. */
export function md5Answer(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash('md5')
    .update(password + user)
    .digest('hex');
  return `md5${createHash('md5')
    .update(Buffer.concat([Buffer.from(inner), salt]))
    .digest('hex')}`;
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** An ErrorResponse (severity FATAL) with an SQLSTATE, as PostgreSQL sends it. */
function fatal(sqlState: string, text: string): Buffer {
  const field = (code: string, value: string) => Buffer.from(`${code}${value}\0`, 'utf8');
  return message(
    'E',
    Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', sqlState), field('M', text), Buffer.from([0])]),
  );
}

function parseStartup(body: Buffer): Map<string, string> {
  const params = new Map<string, string>();
  const parts = body.subarray(8).toString('utf8').split('\0'); // after length and protocol
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i];
    const value = parts[i + 1];
    if (key === undefined || key === '' || value === undefined) break;
    params.set(key, value);
  }
  return params;
}

/** Handles one client until it is authenticated (then piped to PGlite) or refused. */
function handle(socket: Socket, options: PgAuthProxyOptions): void {
  let buffer = Buffer.alloc(0);
  let state: 'startup' | 'password' | 'piped' = 'startup';
  let startup: Buffer | undefined;
  let user = '';
  const salt = randomBytes(4);
  const timer = setTimeout(() => socket.destroy(), PG_AUTH_TIMEOUT_MS);
  timer.unref();
  const refuse = (sqlState: string, text: string): void => {
    clearTimeout(timer);
    state = 'piped'; // ignore anything more
    socket.end(fatal(sqlState, text));
  };
  const connectUpstream = (): void => {
    clearTimeout(timer);
    state = 'piped';
    socket.removeListener('data', onData);
    socket.pause();
    const upstream = createConnection(options.upstreamPath);
    upstream.once('connect', () => {
      // PGlite answers the startup message with AuthenticationOk and the session parameters.
      upstream.write(startup ?? Buffer.alloc(0));
      if (buffer.length > 0) upstream.write(buffer);
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    });
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  };
  const step = (): boolean => {
    if (state === 'startup') {
      if (buffer.length < 8) return false;
      const length = buffer.readInt32BE(0);
      if (length < 8 || length > PG_AUTH_MESSAGE_BYTES_MAX) {
        refuse('08P01', 'invalid startup packet length');
        return false;
      }
      if (buffer.length < length) return false;
      const body = buffer.subarray(0, length);
      buffer = buffer.subarray(length);
      const code = body.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        socket.write('N'); // no SSL: loopback or a private socket; the client goes on in the clear
        return true;
      }
      if (code === CANCEL_REQUEST) {
        socket.destroy(); // PGlite runs one query at a time and cannot cancel it
        return false;
      }
      if (code !== PROTOCOL_3) {
        refuse('0A000', 'unsupported frontend protocol');
        return false;
      }
      const params = parseStartup(body);
      user = params.get('user') ?? '';
      if (user === '') {
        refuse('28000', 'no PostgreSQL user name specified in startup packet');
        return false;
      }
      startup = Buffer.from(body);
      const auth = Buffer.alloc(8);
      auth.writeInt32BE(5, 0); // AuthenticationMD5Password
      salt.copy(auth, 4);
      socket.write(message('R', auth));
      state = 'password';
      return true;
    }
    if (state === 'password') {
      if (buffer.length < 5) return false;
      const type = String.fromCharCode(buffer[0] ?? 0);
      const length = buffer.readInt32BE(1);
      if (type !== 'p' || length < 5 || length > PG_AUTH_MESSAGE_BYTES_MAX) {
        refuse('08P01', 'expected a password message');
        return false;
      }
      if (buffer.length < length + 1) return false;
      const answer = buffer
        .subarray(5, length + 1)
        .toString('utf8')
        .replace(/\0$/, '');
      buffer = buffer.subarray(length + 1);
      const expected = Buffer.from(md5Answer(options.user, options.password, salt));
      const given = Buffer.from(answer);
      const ok = user === options.user && given.length === expected.length && timingSafeEqual(given, expected);
      if (!ok) {
        // One message for a wrong user and a wrong password: nothing tells which was wrong.
        refuse('28P01', `password authentication failed for user "${user.slice(0, 63)}"`);
        return false;
      }
      connectUpstream();
      return false;
    }
    return false;
  };
  const onData = (chunk: Buffer): void => {
    buffer = Buffer.concat([buffer, chunk]);
    if (buffer.length > PG_AUTH_MESSAGE_BYTES_MAX * 2) {
      refuse('08P01', 'too much data before authentication');
      return;
    }
    while (state !== 'piped' && step()) {
      /* next message */
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => clearTimeout(timer));
}

/** Starts the proxy. Rejects with the listen error (e.g. EADDRINUSE). */
export function startPgAuthProxy(options: PgAuthProxyOptions): Promise<PgAuthProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    handle(socket, options);
  });
  server.maxConnections = options.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.removeListener('error', reject);
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : options.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
