/**
 * `fixpay core`: the operator's commands over the operator API (`/operator/v1/`, ADR 0020). Each
 * command is one HTTP call with the operator's own token (FIXPAY_OPERATOR_BEARER) and, for writes,
 * an Idempotency-Key (`--key`, random by default: give the same key to retry a command safely).
 * `fixpay core token` makes a new operator token and the line for the operators file.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { newOperatorToken, OPERATOR_ROLES } from '../../api/operator';
import { clearKeyOpener, openBureauFile, openPinMailerFile, parseBureauFile } from '../../cards/bureau-file';
import { FixpayError } from '../../domain/errors';

interface CallOptions {
  readonly api?: string;
  readonly key?: string;
}

/** One call to the operator API; prints the answer and gives it back (undefined when none came). */
async function request(
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  opts: CallOptions,
): Promise<{ readonly status: number; readonly text: string } | undefined> {
  const config = loadConfig();
  const token = config.security.operatorBearer;
  if (token === undefined) {
    console.error('set FIXPAY_OPERATOR_BEARER to your operator token (fixpay core token makes one)');
    process.exitCode = 2;
    return undefined;
  }
  const base = opts.api ?? `http://${config.api.host}:${config.api.port}`;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(method === 'POST'
          ? { 'content-type': 'application/json', 'idempotency-key': opts.key ?? randomUUID() }
          : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    console.error(`cannot reach the operator API at ${base}: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
    return undefined;
  }
  const text = await res.text();
  console.log(text);
  if (res.status >= 400) process.exitCode = 1;
  return { status: res.status, text };
}

async function call(method: 'GET' | 'POST', path: string, body: unknown, opts: CallOptions): Promise<void> {
  await request(method, path, body, opts);
}

/**
 * Writes the sealed bureau file (or PIN mailer file) of an approving answer to `file`, created
 * owner-only and never overwritten. Says so when the answer has none.
 */
function writeBureauFile(text: string, file: string): void {
  let outcome: Record<string, unknown> | undefined;
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    outcome =
      typeof body['outcome'] === 'object' && body['outcome'] !== null
        ? (body['outcome'] as Record<string, unknown>)
        : undefined;
  } catch {
    outcome = undefined;
  }
  const sealed = outcome?.['bureau'] ?? outcome?.['pinMailer'];
  if (sealed === undefined) {
    console.error('the answer carries no bureau or PIN mailer file (already handed out, or not a card issue)');
    process.exitCode = 1;
    return;
  }
  writeFileSync(file, `${JSON.stringify(sealed, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  console.error(`sealed file written to ${file} (opens only with the bureau key)`);
}

const withCommon = (c: Command): Command =>
  c
    .option('--api <url>', 'operator API base URL; default http://<FIXPAY_API_HOST>:<FIXPAY_API_PORT>')
    .option('--key <idempotencyKey>', 'Idempotency-Key of the write (same key: same run, done once)');

export function register(program: Command): void {
  const core = program
    .command('core')
    .description('business core operations: customers, terminals, prepaid cards, approvals');

  withCommon(core.command('onboard <customerId>'))
    .description('onboard a customer with its KYC data (a JSON file of fields, docs/business-core.md)')
    .requiredOption('--kind <kind>', 'household or merchant')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--kyc <file>', 'JSON file of KYC fields')
    .action(async (customerId: string, o: CallOptions & { kind: string; name: string; kyc: string }) => {
      let kyc: unknown;
      try {
        kyc = JSON.parse(readFileSync(o.kyc, 'utf8'));
      } catch {
        console.error(`${o.kyc} is not a readable JSON file`);
        process.exitCode = 2;
        return;
      }
      await call('POST', '/operator/v1/customers', { customerId, kind: o.kind, name: o.name, kyc }, o);
    });

  withCommon(core.command('order <terminalId>'))
    .description('order (register) a terminal for a customer')
    .requiredOption('--customer <customerId>', 'owner')
    .requiredOption('--profile <deviceProfileId>', 'device profile, e.g. es201912-v23')
    .action(async (terminalId: string, o: CallOptions & { customer: string; profile: string }) => {
      await call(
        'POST',
        '/operator/v1/terminals',
        { terminalId, customerId: o.customer, deviceProfileId: o.profile },
        o,
      );
    });

  withCommon(core.command('terminal <terminalId> <command>'))
    .description(
      'a lifecycle command: personalise, bind, activate, suspend, resume, replacePsam, moveLine, rejectRebinding, retire (personalise, replacePsam and retire wait for a supervisor)',
    )
    .option('--psam <psamNo>', 'PSAM number (personalise, bind, replacePsam)')
    .option('--ani <number>', 'caller number of the line (bind, moveLine, rejectRebinding)')
    .action(async (terminalId: string, command: string, o: CallOptions & { psam?: string; ani?: string }) => {
      await call(
        'POST',
        `/operator/v1/terminals/${encodeURIComponent(terminalId)}/commands`,
        {
          command,
          ...(o.psam === undefined ? {} : { psamNo: o.psam }),
          ...(o.ani === undefined ? {} : { ani: o.ani }),
        },
        o,
      );
    });

  withCommon(core.command('show <terminalId>'))
    .description('a terminal, its lifecycle history and audit trail')
    .action(async (terminalId: string, o: CallOptions) => {
      await call('GET', `/operator/v1/terminals/${encodeURIComponent(terminalId)}`, undefined, o);
    });

  withCommon(core.command('rebindings'))
    .description('phones heard on a new line, waiting for moveLine or rejectRebinding')
    .action(async (o: CallOptions) => call('GET', '/operator/v1/rebindings', undefined, o));

  withCommon(core.command('approvals'))
    .description('key and card operations waiting for a second person')
    .action(async (o: CallOptions) => call('GET', '/operator/v1/approvals', undefined, o));

  withCommon(core.command('decide <approvalId> <decision>'))
    .description(
      'approve or reject (supervisor, not the requester); an approval runs the command. A card batch, replacement or PIN reissue answers the sealed bureau / PIN mailer file once: keep it for the bureau (--bureau-out)',
    )
    .option(
      '--bureau-out <file>',
      'card batch, replacement or PIN reissue: write the sealed bureau / PIN mailer file to this new file (mode 0600)',
    )
    .action(async (approvalId: string, decision: string, o: CallOptions & { bureauOut?: string }) => {
      const r = await request(
        'POST',
        `/operator/v1/approvals/${encodeURIComponent(approvalId)}/decision`,
        { decision },
        o,
      );
      if (r !== undefined && r.status < 400 && o.bureauOut !== undefined) writeBureauFile(r.text, o.bureauOut);
    });

  core
    .command('bureau-open')
    .description(
      "the card bureau's side: open a sealed bureau or PIN mailer file with the bureau's copy of the bureau key " +
        '(a file of 32, 48 or 64 hex digits) and print one JSON line per card. Run it where the bureau key is ' +
        'held, never on the platform: its processes only seal (docs/cards.md, "The bureau file").',
    )
    .requiredOption('--key-file <file>', "file holding the bureau's copy of the bureau key, hex")
    .requiredOption('--in <file>', 'the sealed file (fixpay core decide --bureau-out)')
    .action(async (o: { keyFile: string; in: string }) => {
      try {
        const keyHex = readFileSync(o.keyFile, 'utf8').trim();
        if (!/^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$/.test(keyHex))
          throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'the key file holds 32, 48 or 64 hex digits');
        const file = parseBureauFile(readFileSync(o.in, 'utf8'));
        const open = clearKeyOpener(Buffer.from(keyHex, 'hex'));
        const cards = file.content === 'cards' ? await openBureauFile(file, open) : await openPinMailerFile(file, open);
        for (const c of cards) console.log(JSON.stringify(c));
      } catch (e) {
        console.error(e instanceof FixpayError ? `${e.code} ${e.message}` : `cannot open: ${String(e)}`);
        process.exitCode = 1;
      }
    });

  withCommon(core.command('card-range <binLow> <binHigh>'))
    .description('a BIN range of our prepaid programme, authorised on-us (supervisor)')
    .requiredOption('--issuer <issuerId>', 'issuer id recorded on the route')
    .action(async (binLow: string, binHigh: string, o: CallOptions & { issuer: string }) => {
      await call('POST', '/operator/v1/card-ranges', { binLow, binHigh, issuerId: o.issuer }, o);
    });

  withCommon(core.command('card-batch'))
    .description('ask for a batch of prepaid cards (waits for a supervisor: fixpay core decide)')
    .requiredOption('--bin <bin>', 'BIN of an on-us range (6-11 digits)')
    .requiredOption('--first <sequence>', 'sequence number of the first card')
    .requiredOption('--count <n>', 'number of cards (1-10000)')
    .requiredOption('--currency <code>', 'ISO 4217 currency of the card accounts, e.g. CNY')
    .option('--validity <months>', 'months of validity (default 36)')
    .option('--pin-length <digits>', 'PIN digits (default 6)')
    .action(
      async (
        o: CallOptions & {
          bin: string;
          first: string;
          count: string;
          currency: string;
          validity?: string;
          pinLength?: string;
        },
      ) => {
        const int = (v: string): number => (/^\d{1,12}$/.test(v) ? Number(v) : Number.NaN);
        await call(
          'POST',
          '/operator/v1/card-batches',
          {
            bin: o.bin,
            firstSequence: int(o.first),
            count: int(o.count),
            currency: o.currency,
            ...(o.validity === undefined ? {} : { validityMonths: int(o.validity) }),
            ...(o.pinLength === undefined ? {} : { pinLength: int(o.pinLength) }),
          },
          o,
        );
      },
    );

  withCommon(core.command('card <cardId> <command>'))
    .description(
      'a card command: activate, load (--amount), block, unblock, replace (--sequence), reissuePin (replace and reissuePin wait for a supervisor)',
    )
    .option('--amount <minor>', 'load: amount in minor units (cents)')
    .option('--sequence <n>', 'replace: sequence number of the new card in the same BIN')
    .action(async (cardId: string, command: string, o: CallOptions & { amount?: string; sequence?: string }) => {
      const int = (v: string): number => (/^\d{1,12}$/.test(v) ? Number(v) : Number.NaN);
      await call(
        'POST',
        `/operator/v1/cards/${encodeURIComponent(cardId)}/commands`,
        {
          command,
          ...(o.amount === undefined ? {} : { amountMinor: int(o.amount) }),
          ...(o.sequence === undefined ? {} : { sequence: int(o.sequence) }),
        },
        o,
      );
    });

  withCommon(core.command('card-show <cardId>'))
    .description('a card: masked number, state, balance')
    .action(async (cardId: string, o: CallOptions) => {
      await call('GET', `/operator/v1/cards/${encodeURIComponent(cardId)}`, undefined, o);
    });

  core
    .command('token <operatorId> <role>')
    .description(`a new operator token (shown once) and its operators-file entry; role: ${OPERATOR_ROLES.join(', ')}`)
    .action((operatorId: string, role: string) => {
      if (!(OPERATOR_ROLES as readonly string[]).includes(role) || !/^[0-9A-Za-z._-]{1,64}$/.test(operatorId)) {
        console.error(`usage: fixpay core token <operatorId> <${OPERATOR_ROLES.join('|')}>`);
        process.exitCode = 2;
        return;
      }
      const { token, tokenSha256 } = newOperatorToken();
      console.log(`token (give it to ${operatorId} only; it is not kept): ${token}`);
      console.log(`operators file entry: ${JSON.stringify({ id: operatorId, role, tokenSha256 })}`);
    });
}
