/** `fixpay sim bank`: the issuer / card network simulator (network-side ISO 8583 over TCP). */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Account } from '../../simulator/bank/bank';
import { Bank } from '../../simulator/bank/bank';
import { defaultAccounts, SIM_ZAK_HEX, SIM_ZPK_HEX } from '../../simulator/bank/accounts';
import { BankServer } from '../../simulator/bank/server';
import { commandGroup } from '../main';

interface Options {
  host: string;
  port: string;
  latencyMs: string;
  jitterMs: string;
  dropRate: string;
  timeoutRate: string;
  timeoutDelayMs: string;
  seed: string;
  zpk: string;
  zak: string;
  accounts?: string;
  settlementFile?: string;
}

const num = (name: string, value: string, max = Number.MAX_SAFE_INTEGER): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new Error(`--${name} must be a number between 0 and ${max}`);
  return n;
};

function parseAccounts(path: string): Account[] {
  const data: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(data)) throw new Error(`${path}: expected an array of accounts`);
  return data.map((a: unknown, i) => {
    if (typeof a !== 'object' || a === null) throw new Error(`${path}[${i}]: not an object`);
    const v: Record<string, unknown> = { ...a };
    const { pan, kind, balanceMinor, creditLimitMinor, pin, perTransactionLimitMinor, expirationDate, blocked } = v;
    if (typeof pan !== 'string' || !/^\d{12,19}$/.test(pan)) throw new Error(`${path}[${i}].pan: 12–19 digits`);
    if (kind !== 'debit' && kind !== 'credit') throw new Error(`${path}[${i}].kind: debit or credit`);
    if (typeof balanceMinor !== 'number' || typeof pin !== 'string')
      throw new Error(`${path}[${i}]: balanceMinor and pin are required`);
    return {
      pan,
      kind,
      balanceMinor,
      pin,
      creditLimitMinor: typeof creditLimitMinor === 'number' ? creditLimitMinor : 0,
      perTransactionLimitMinor:
        typeof perTransactionLimitMinor === 'number' ? perTransactionLimitMinor : Number.MAX_SAFE_INTEGER,
      ...(typeof expirationDate === 'string' ? { expirationDate } : {}),
      ...(blocked === true ? { blocked } : {}),
    };
  });
}

export function register(program: Command): void {
  commandGroup(program, 'sim', 'simulators for what the platform talks to')
    .command('bank')
    .description(
      'run the issuer / card network simulator: ISO 8583 network spec (ASCII, 4-digit length) over TCP, debit and credit ' +
        'accounts, PIN check under its zone PIN key, limits, reversals, batch settlement (0500/0320), configurable latency, ' +
        'drops and timeouts. Prints {"ready":true,...} when listening; writes the settlement file on exit (Ctrl-C).',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', '5800')
    .option('--latency-ms <ms>', 'delay before each answer', '0')
    .option('--jitter-ms <ms>', 'extra random delay, uniform 0..ms', '0')
    .option('--drop-rate <p>', 'probability (0-1) that an answer is never sent', '0')
    .option('--timeout-rate <p>', 'probability (0-1) that an answer comes after --timeout-delay-ms', '0')
    .option('--timeout-delay-ms <ms>', 'delay of the late answers', '30000')
    .option('--seed <n>', 'seed of the random choices, for repeatable runs', '1')
    .option('--zpk <hex>', 'zone PIN key (test key; 32 or 48 hex digits)', SIM_ZPK_HEX)
    .option('--zak <hex>', 'zone MAC key of the link, ANSI X9.19 (test key; 32 hex digits)', SIM_ZAK_HEX)
    .option(
      '--accounts <file>',
      'JSON array of accounts {pan, kind, balanceMinor, pin, creditLimitMinor?, perTransactionLimitMinor?, expirationDate?, blocked?}',
    )
    .option('--settlement-file <file>', 'where to write the settlement file (CSV) on exit')
    .action(async (o: Options) => {
      if (!/^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48})$/.test(o.zpk)) throw new Error('--zpk must be 32 or 48 hex digits');
      if (!/^[0-9A-Fa-f]{32}$/.test(o.zak)) throw new Error('--zak must be 32 hex digits');
      const bank = new Bank({
        zpk: Buffer.from(o.zpk, 'hex'),
        accounts: o.accounts === undefined ? defaultAccounts() : parseAccounts(o.accounts),
      });
      const server = new BankServer(bank, {
        zak: Buffer.from(o.zak, 'hex'),
        host: o.host,
        port: num('port', o.port, 65535),
        latencyMs: num('latency-ms', o.latencyMs),
        latencyJitterMs: num('jitter-ms', o.jitterMs),
        dropRate: num('drop-rate', o.dropRate, 1),
        timeoutRate: num('timeout-rate', o.timeoutRate, 1),
        timeoutDelayMs: num('timeout-delay-ms', o.timeoutDelayMs),
        seed: num('seed', o.seed),
      });
      const address = await server.listen();
      console.log(JSON.stringify({ ready: true, host: address.address, port: address.port }));
      const stop = (): void => {
        if (o.settlementFile !== undefined) writeFileSync(o.settlementFile, bank.settlementFile());
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
