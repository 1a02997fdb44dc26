/**
 * `fixpay hsm …`: the network HSM (payShield-style host commands over TCP, software engine), LMK
 * generation, a key-ceremony console that forms a key from custodians' components, and a
 * diagnostics probe for any HSM speaking the protocol (ours or an appliance).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import type { Config } from '../../config';
import { FixpayError } from '../../domain/errors';
import { parseClientSecret, parseClientsFile } from '../../hsm/host-protocol/auth';
import type { HsmClientCredential } from '../../hsm/host-protocol/auth';
import { HOST_PROTOCOL_DEFAULTS } from '../../hsm/host-protocol/codec';
import { NetworkHsm } from '../../hsm/host-protocol/client';
import { startHsmServer } from '../../hsm/host-protocol/server';
import { KEY_ALGORITHMS, KEY_TYPES } from '../../hsm/port';
import type { KeyAlgorithm, KeyHandle, KeyType } from '../../hsm/port';
import { lmkFromHex } from '../../hsm/software/key-store';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { createLogger } from '../../infra/logging';
import { serveProcessMetrics } from '../../infra/metrics';
import { registerHsmMetrics } from '../../hsm/metrics';
import { loadSecrets } from '../../infra/secrets';

const int = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be an integer 0–65535`);
  return n;
};

function loadLmk(path: string): Buffer {
  return lmkFromHex(readFileSync(path, 'utf8'));
}

/** This process's HSM client credential: hsm.clientId and its secret (generated for dev when missing). */
function ownCredential(config: Config): HsmClientCredential {
  const secret = loadSecrets(config.security, { generate: true }).hsmClientSecret;
  return { id: config.hsm.clientId, secret: parseClientSecret(config.hsm.clientId, secret) };
}

/** The clients `fixpay hsm serve` accepts: the clients file (mode 0600), else this config's own client. */
function acceptedClients(config: Config): HsmClientCredential[] {
  const file = config.hsm.clientsFile;
  if (file === undefined) return [ownCredential(config)];
  if ((statSync(file).mode & 0o077) !== 0) {
    throw new FixpayError('CONFIG_INVALID', `${file} must not be readable by group or others (chmod 600)`);
  }
  return parseClientsFile(JSON.parse(readFileSync(file, 'utf8')));
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

export function register(program: Command): void {
  const hsm = program
    .command('hsm')
    .description('HSM: run the network HSM (payShield-style host commands), generate an LMK, form keys, probe an HSM');

  hsm
    .command('serve', { isDefault: true })
    .description(
      'run the network HSM: a TCP server speaking payShield-style host commands (2-byte length, echoed header), ' +
        'executed by the software HSM with the LMK from --lmk-file. The link is TLS 1.3 with a pre-shared key per ' +
        'client (hsm.transport, default tls-psk) and every client authenticates again inside it (shared-secret ' +
        'challenge-response): the clients in hsm.clientsFile (FIXPAY_HSM_CLIENTS_FILE), else hsm.clientId with ' +
        'security.hsmClientSecret. Address and limits come from the hsm settings (docs/configuration.md); every key ' +
        'command is audited. See docs/protocols/hsm-host-commands.md.',
    )
    .requiredOption('--lmk-file <path>', 'file holding the LMK as 64 hex digits (AES-256); keep it mode 0600')
    .option('--host <host>', 'address to listen on (default: hsm.host)')
    .option('--port <port>', 'TCP port (default: hsm.port, 1500 as payShield)')
    .option(
      '--header-length <n>',
      'message header length echoed in replies',
      String(HOST_PROTOCOL_DEFAULTS.headerLength),
    )
    .action(async (opts: { lmkFile: string; host?: string; port?: string; headerLength: string }) => {
      const config = loadConfig();
      const logger = createLogger('hsm');
      // Its own /metrics: every operation it executes for its clients, by operation and result.
      const metrics = await serveProcessMetrics(config.metrics, { process: 'hsm', node: config.access.nodeId }, (why) =>
        logger.warn({ why }, 'metrics endpoint not served'),
      );
      const engine = registerHsmMetrics(metrics.registry).meterCallerScoped(
        new SoftwareHsm({ lmk: loadLmk(opts.lmkFile), audit: logger }),
      );
      const { host, port, clientId: _own, clientsFile: _file, transport, ...limits } = config.hsm;
      if (transport === 'plain') {
        console.error(
          'WARNING: hsm.transport is plain: PIN blocks, key handles and MAC data cross the network in clear. ' +
            'Use tls-psk (the default) anywhere but an isolated test bench.',
        );
      }
      const server = await startHsmServer({
        transport,
        hsm: engine,
        clients: acceptedClients(config),
        host: opts.host ?? host,
        port: opts.port === undefined ? port : int('port', opts.port),
        headerLength: int('header-length', opts.headerLength),
        limits,
        logger,
      });
      logger.info({ metrics: metrics.url ?? '(not served)' }, 'hsm: metrics');
      const stop = (): void => {
        void Promise.all([server.close(), metrics.close()]).then(() => {
          logger.info({}, 'hsm: stopped');
          process.exit(0);
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  hsm
    .command('generate-lmk')
    .description('write a new random LMK (64 hex digits) to a file created with mode 0600; refuses to overwrite')
    .requiredOption('--out <path>', 'file to create')
    .action((opts: { out: string }) => {
      const lmk = randomBytes(32);
      writeFileSync(opts.out, `${lmk.toString('hex').toUpperCase()}\n`, { mode: 0o600, flag: 'wx' });
      lmk.fill(0);
      const check = new SoftwareHsm({ lmk: loadLmk(opts.out) }).describe();
      console.log(`LMK written to ${opts.out}: ${check}`);
    });

  hsm
    .command('form-key')
    .description(
      "key ceremony console: read custodians' clear components from standard input, one per line as HEX or " +
        'HEX:KCV (each KCV checked), form the key by XOR (odd parity forced) and print its handle under the LMK ' +
        'and its check value. Components are never echoed.',
    )
    .requiredOption('--lmk-file <path>', 'file holding the LMK (64 hex digits)')
    .requiredOption('--type <type>', `key type: ${KEY_TYPES.join(', ')}`)
    .option('--algorithm <algorithm>', `key algorithm: ${KEY_ALGORITHMS.join(', ')}`, 'tdes2')
    .action(async (opts: { lmkFile: string; type: string; algorithm: string }) => {
      const type: KeyType = oneOf('type', opts.type, KEY_TYPES);
      const algorithm: KeyAlgorithm = oneOf('algorithm', opts.algorithm, KEY_ALGORITHMS);
      const engine = new SoftwareHsm({ lmk: loadLmk(opts.lmkFile), audit: createLogger('hsm') });
      // The console at a ceremony is the one caller in operator mode (key formation).
      const ceremony = engine.forCaller({ clientId: 'console', operatorMode: true });
      const lines = readFileSync(0, 'utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '');
      const components: KeyHandle[] = lines.map((line, i) => {
        const [hex = '', kcv] = line.split(':');
        const info = engine.importClearComponent(algorithm, hex, kcv);
        console.log(`component ${i + 1}: check value ${info.kcv}`);
        return info.handle;
      });
      const key = await ceremony.formKeyFromComponents({ type, algorithm, components });
      console.log(`${type} ${algorithm} check value ${key.kcv}`);
      console.log(key.handle);
    });

  hsm
    .command('generate-key')
    .description(
      'key console: generate a key of a type under the LMK (e.g. the card bureau key: --type BUREAU --algorithm ' +
        'aes256) and print its handle and check value; with --export-under, also the key as a TR-31 block under ' +
        'that ZMK/KBPK handle (what the other party imports). Never prints a clear key.',
    )
    .requiredOption('--lmk-file <path>', 'file holding the LMK (64 hex digits)')
    .requiredOption('--type <type>', `key type: ${KEY_TYPES.join(', ')}`)
    .option('--algorithm <algorithm>', `key algorithm: ${KEY_ALGORITHMS.join(', ')}`, 'aes256')
    .option('--export-under <handle>', 'a ZMK or KBPK handle to export the new key under (TR-31)')
    .action(async (opts: { lmkFile: string; type: string; algorithm: string; exportUnder?: string }) => {
      const type: KeyType = oneOf('type', opts.type, KEY_TYPES);
      const algorithm: KeyAlgorithm = oneOf('algorithm', opts.algorithm, KEY_ALGORITHMS);
      const engine = new SoftwareHsm({ lmk: loadLmk(opts.lmkFile), audit: createLogger('hsm') });
      const key = await engine.forCaller({ clientId: 'console' }).generateKey({
        type,
        algorithm,
        ...(opts.exportUnder === undefined
          ? {}
          : { exportUnder: { kek: opts.exportUnder as KeyHandle, scheme: 'tr31' as const } }),
      });
      console.log(`${type} ${algorithm} check value ${key.kcv}`);
      console.log(key.handle);
      if (key.exported !== undefined) console.log(`TR-31 under the KEK: ${key.exported}`);
    });

  hsm
    .command('export-key')
    .description(
      'key console: print a key (its handle under the LMK) as a TR-31 block under a ZMK/KBPK handle, for the ' +
        "other party's HSM (e.g. the card bureau key to the bureau); the key-usage rules decide what may leave",
    )
    .requiredOption('--lmk-file <path>', 'file holding the LMK (64 hex digits)')
    .requiredOption('--key <handle>', 'the key to export')
    .requiredOption('--kek <handle>', 'the ZMK or KBPK it travels under')
    .action(async (opts: { lmkFile: string; key: string; kek: string }) => {
      const engine = new SoftwareHsm({ lmk: loadLmk(opts.lmkFile), audit: createLogger('hsm') });
      const out = await engine
        .forCaller({ clientId: 'console' })
        .exportKey({ key: opts.key as KeyHandle, kek: opts.kek as KeyHandle, scheme: 'tr31' });
      console.log(`check value ${out.kcv}`);
      console.log(out.cryptogram);
    });

  hsm
    .command('diagnostics')
    .description(
      'authenticate as hsm.clientId, send NC (diagnostics) and B2 (echo) to an HSM and print its LMK check value ' +
        'and firmware',
    )
    .option('--host <host>', 'HSM address (default: hsm.host)')
    .option('--port <port>', 'HSM port (default: hsm.port)')
    .option('--header-length <n>', 'message header length', String(HOST_PROTOCOL_DEFAULTS.headerLength))
    .action(async (opts: { host?: string; port?: string; headerLength: string }) => {
      const config = loadConfig();
      const client = new NetworkHsm({
        host: opts.host ?? config.hsm.host,
        port: opts.port === undefined ? config.hsm.port : int('port', opts.port),
        headerLength: int('header-length', opts.headerLength),
        credentials: ownCredential(config),
        transport: config.hsm.transport,
      });
      if (config.hsm.transport === 'plain')
        console.error('WARNING: hsm.transport is plain: the HSM link is not encrypted');
      try {
        const d = await client.diagnostics();
        const echo = await client.echo('fixpay');
        console.log(
          `LMK check value ${d.lmkCheckValue}, firmware ${d.firmware}, echo ${echo === 'fixpay' ? 'ok' : 'WRONG'}`,
        );
      } finally {
        client.close();
      }
    });
}
