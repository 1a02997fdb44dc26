/**
 * Client authentication for the host protocol (docs/adr/0009-hsm-client-authentication.md): a
 * mutual challenge-response over a shared secret per client id. The client says who it is with a
 * fresh nonce (`XA`); the server answers with its own nonce (`XB`); the client proves it holds the
 * secret with an HMAC-SHA-256 over both nonces (`XC`); the server checks it in constant time and
 * proves the same back (`XD`), so a client also knows it reached an HSM holding its secret.
 * The secret never crosses the wire and a recorded exchange cannot be replayed (fresh nonces).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FixpayError } from '../../domain/errors';

/** One client's credential: its id and the shared secret (at least `AUTH_SECRET_BYTES_MIN`). */
export interface HsmClientCredential {
  readonly id: string;
  readonly secret: Buffer;
}

/** Named sizes of the handshake. */
export const HSM_AUTH = {
  /** Shortest secret accepted: 256 bits. */
  secretBytesMin: 32,
  /** Nonce length on each side. */
  nonceBytes: 32,
  /** Client ids: printable, short, no separators that could blur the MAC input. */
  clientIdPattern: /^[A-Za-z0-9._-]{1,64}$/,
} as const;

const LABEL = 'fixpay-hsm-auth/v1';

/** The proof one side sends: HMAC-SHA-256(secret, label ‖ side ‖ id ‖ client nonce ‖ server nonce). */
export function authProof(
  secret: Uint8Array,
  side: 'client' | 'server',
  clientId: string,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Buffer {
  return createHmac('sha256', secret)
    .update(`${LABEL}\u0000${side}\u0000${clientId}\u0000`)
    .update(clientNonce)
    .update(serverNonce)
    .digest();
}

/** Constant-time comparison of a received proof with the expected one (any length). */
export function proofMatches(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

export function newNonce(): Buffer {
  return randomBytes(HSM_AUTH.nonceBytes);
}

/**
 * Parses a secret as written in config or a clients file: 64+ hex digits, or base64url of 32+
 * bytes. Throws CONFIG_INVALID naming the client (never the secret).
 */
export function parseClientSecret(clientId: string, text: string): Buffer {
  const t = text.trim();
  const bytes = /^(?:[0-9A-Fa-f]{2})+$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64url');
  if (bytes.length < HSM_AUTH.secretBytesMin) {
    throw new FixpayError(
      'CONFIG_INVALID',
      `HSM client ${clientId}: the secret must hold at least ${HSM_AUTH.secretBytesMin} bytes`,
    );
  }
  return bytes;
}

/**
 * Parses a clients file: `{ "clients": [{ "id": "switch-1", "secret": "<hex or base64url>" }] }`.
 * Throws CONFIG_INVALID on anything else, on a bad id, a short secret or a repeated id.
 */
export function parseClientsFile(json: unknown): HsmClientCredential[] {
  const clients = (json as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new FixpayError('CONFIG_INVALID', 'HSM clients file: expected {"clients": [{"id": …, "secret": …}]}');
  }
  const out: HsmClientCredential[] = [];
  for (const c of clients as unknown[]) {
    const { id, secret } = (c ?? {}) as { id?: unknown; secret?: unknown };
    if (typeof id !== 'string' || !HSM_AUTH.clientIdPattern.test(id) || typeof secret !== 'string') {
      throw new FixpayError(
        'CONFIG_INVALID',
        'HSM clients file: each client needs an id ([A-Za-z0-9._-]) and a secret',
      );
    }
    if (out.some((o) => o.id === id)) throw new FixpayError('CONFIG_INVALID', `HSM clients file: ${id} twice`);
    out.push({ id, secret: parseClientSecret(id, secret) });
  }
  return out;
}
