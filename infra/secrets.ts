/**
 * The platform's secrets: payload codec keys, the codec endpoint's operator token, the software
 * HSM's local master key (LMK) and the network HSM client's shared secret. Production passes them
 * through the environment (FIXPAY_CODEC_KEYS, FIXPAY_OPERATOR_TOKEN, FIXPAY_LMK,
 * FIXPAY_HSM_CLIENT_SECRET) or a protected file (FIXPAY_SECRETS_FILE). `fixpay dev` generates
 * development ones into `<dataDir>/secrets.json` (mode 0600) on first start, and adds a secret
 * missing from an older file.
 * Nothing here logs a secret.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SecurityConfig } from '../config';
import { FixpayError } from '../domain/errors';

export interface Secrets {
  /** `id:hex,id:hex` oldest first. */
  readonly codecKeys: string;
  readonly operatorToken: string;
  /** 64 hex digits. */
  readonly lmk: string;
  /** 64 hex digits: the network HSM client `hsm.clientId` authenticates with it. */
  readonly hsmClientSecret: string;
  /**
   * Password of the embedded database (`fixpay dev`), from the secrets file only; generated into
   * it when missing. Absent when secrets come from settings alone (production uses DATABASE_URL).
   */
  readonly databasePassword?: string;
}

function isSecrets(v: unknown): v is Secrets {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o['codecKeys'] === 'string' &&
    typeof o['operatorToken'] === 'string' &&
    typeof o['lmk'] === 'string' &&
    typeof o['hsmClientSecret'] === 'string'
  );
}

/** Fresh development secrets. */
export function generateSecrets(now: Date = new Date()): Secrets {
  const keyId = `dev-${now.toISOString().slice(0, 10)}`;
  return {
    codecKeys: `${keyId}:${randomBytes(32).toString('hex')}`,
    operatorToken: randomBytes(24).toString('base64url'),
    lmk: randomBytes(32).toString('hex'),
    hsmClientSecret: randomBytes(32).toString('hex'),
    databasePassword: newDatabasePassword(),
  };
}

function newDatabasePassword(): string {
  return randomBytes(24).toString('base64url');
}

function writeSecretsFile(file: string, secrets: Partial<Secrets>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * Settings first, then the secrets file; with `generate`, writes a new file when none exists.
 * Throws CONFIG_INVALID when a secret is missing, or when the file is readable by others.
 */
export function loadSecrets(security: SecurityConfig, options: { generate: boolean }): Secrets {
  let fromFile: Partial<Secrets> = {};
  const file = security.secretsFile;
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o077;
    if (mode !== 0)
      throw new FixpayError('CONFIG_INVALID', `${file} must not be readable by group or others (chmod 600)`);
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null) fromFile = parsed;
    // A file from before the HSM client secret existed: add one, keeping the rest.
    if (options.generate && fromFile.hsmClientSecret === undefined && security.hsmClientSecret === undefined) {
      fromFile = { ...fromFile, hsmClientSecret: generateSecrets().hsmClientSecret };
      writeSecretsFile(file, fromFile);
    }
    // Files written before the embedded database needed a password get one.
    if (options.generate && typeof fromFile.databasePassword !== 'string') {
      fromFile = { ...fromFile, databasePassword: newDatabasePassword() };
      writeSecretsFile(file, fromFile);
    }
  } else if (
    options.generate &&
    (security.codecKeys === undefined ||
      security.operatorToken === undefined ||
      security.lmk === undefined ||
      security.hsmClientSecret === undefined)
  ) {
    const fresh = generateSecrets();
    writeSecretsFile(file, fresh);
    fromFile = fresh;
  }
  const merged = {
    codecKeys: security.codecKeys ?? fromFile.codecKeys,
    operatorToken: security.operatorToken ?? fromFile.operatorToken,
    lmk: security.lmk ?? fromFile.lmk,
    hsmClientSecret: security.hsmClientSecret ?? fromFile.hsmClientSecret,
    ...(typeof fromFile.databasePassword === 'string' ? { databasePassword: fromFile.databasePassword } : {}),
  };
  if (!isSecrets(merged)) {
    const missing = Object.entries(merged)
      .filter(([, v]) => typeof v !== 'string')
      .map(([k]) => k);
    throw new FixpayError('CONFIG_INVALID', `missing secrets: ${missing.join(', ')} (set them or FIXPAY_SECRETS_FILE)`);
  }
  return merged;
}
