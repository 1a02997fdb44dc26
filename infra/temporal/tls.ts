/**
 * Client TLS (mTLS) to a production Temporal frontend, from `temporal.tls*` settings
 * (docs/security.md). TLS is on when a client certificate or a CA file is configured; the dev
 * server runs without it.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { TemporalConfig } from '../../config';
import { FixpayError } from '../../domain/errors';

export type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';

function pem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new FixpayError(
      'CONFIG_INVALID',
      `${what} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * The `tls` option of Connection/NativeConnection.connect, or undefined for plain TCP. Throws
 * CONFIG_INVALID for a certificate without its key (or the reverse) and unreadable files.
 */
export function temporalTls(t: TemporalConfig): TLSConfig | undefined {
  if ((t.tlsCertFile === undefined) !== (t.tlsKeyFile === undefined))
    throw new FixpayError('CONFIG_INVALID', 'temporal.tlsCertFile and temporal.tlsKeyFile go together');
  if (t.tlsCertFile === undefined && t.tlsCaFile === undefined) return undefined;
  return {
    ...(t.tlsServerName === undefined ? {} : { serverNameOverride: t.tlsServerName }),
    ...(t.tlsCaFile === undefined ? {} : { serverRootCACertificate: pem(t.tlsCaFile, 'temporal.tlsCaFile') }),
    ...(t.tlsCertFile === undefined || t.tlsKeyFile === undefined
      ? {}
      : {
          clientCertPair: {
            crt: pem(t.tlsCertFile, 'temporal.tlsCertFile'),
            key: pem(t.tlsKeyFile, 'temporal.tlsKeyFile'),
          },
        }),
  };
}
