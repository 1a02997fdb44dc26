/**
 * The encrypted transport of the host protocol (docs/adr/0009-hsm-client-authentication-and-key-usage-policy.md,
 * "Transport"): TLS 1.3 with an external pre-shared key per client, no certificates. The PSK is
 * derived from the client's shared secret with HKDF-SHA-256 under its own label (the raw secret
 * keeps serving only the `X*` challenge-response inside the tunnel); the PSK identity is the
 * client id. TLS 1.3 PSK runs with an (EC)DHE exchange (OpenSSL refuses `psk_ke` without DHE
 * unless told otherwise), so a secret stolen later does not open recorded sessions.
 */
import { hkdfSync } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { ConnectionOptions, SecureContext, TLSSocketOptions } from 'node:tls';
import type { HsmClientCredential } from './auth';
import { HSM_AUTH } from './auth';

/** How the host protocol travels: `tls-psk` (default) or `plain` (loopback tests, legacy appliances). */
export type HsmTransport = 'tls-psk' | 'plain';

export const HSM_TRANSPORTS: readonly HsmTransport[] = ['tls-psk', 'plain'];

/** Named parameters of the TLS-PSK transport. */
export const HSM_TLS = {
  /** TLS 1.3 only: its external PSK mode always adds (EC)DHE (forward secrecy). */
  version: 'TLSv1.3',
  /**
   * TLS 1.3 suites whose hash is SHA-256, the hash Node binds to an external PSK; a SHA-384
   * suite finds no PSK and falls back to certificates, which this server has none of.
   */
  ciphersuites: 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
  /** PSK length (SHA-256 output). */
  pskBytes: 32,
  /** HKDF info prefix: a distinct label so the same secret is not used raw in two protocols. */
  label: 'fixpay-hsm-tls-psk/v1',
} as const;

/** The TLS PSK of one client: HKDF-SHA-256(secret, salt = label, info = label ‖ 0 ‖ client id). */
export function derivePsk(secret: Uint8Array, clientId: string): Buffer {
  const info = Buffer.from(`${HSM_TLS.label}\u0000${clientId}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(HSM_TLS.label, 'utf8'), info, HSM_TLS.pskBytes));
}

/** One secure context for every accepted connection: TLS 1.3, SHA-256 suites, no certificate. */
export function serverSecureContext(): SecureContext {
  return createSecureContext({
    minVersion: HSM_TLS.version,
    maxVersion: HSM_TLS.version,
    ciphers: HSM_TLS.ciphersuites,
  });
}

/**
 * Options for wrapping an accepted socket: the PSK is looked up by identity (the client id);
 * an unknown or malformed identity gets none and the handshake fails. `onIdentity` records the
 * identity the TLS layer authenticated, so the `X*` handshake can be bound to it.
 */
export function serverTlsOptions(
  context: SecureContext,
  psks: ReadonlyMap<string, Buffer>,
  onIdentity: (clientId: string) => void,
): TLSSocketOptions {
  // TLSSocketOptions does not declare pskCallback, though the TLSSocket constructor honours it.
  const options: TLSSocketOptions & { pskCallback: (socket: unknown, identity: string) => Buffer | null } = {
    isServer: true,
    secureContext: context,
    requestCert: false,
    pskCallback: (_socket, identity) => {
      if (!HSM_AUTH.clientIdPattern.test(identity)) return null;
      const psk = psks.get(identity);
      if (psk === undefined) return null;
      onIdentity(identity);
      return psk;
    },
  };
  return options;
}

/** Client connection options for `tls.connect`: identity = client id, PSK derived from its secret. */
export function clientTlsOptions(credential: HsmClientCredential): ConnectionOptions {
  const psk = derivePsk(credential.secret, credential.id);
  return {
    minVersion: HSM_TLS.version,
    maxVersion: HSM_TLS.version,
    ciphers: HSM_TLS.ciphersuites,
    // No certificates on either side: the PSK authenticates the server, so there is no name to check.
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk, identity: credential.id }),
  };
}
