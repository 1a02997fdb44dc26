/**
 * The prepaid programme end to end (ADR 0026, issue #16), on the real platform: Temporal dev
 * server, database, software HSM, the bank simulator behind the card network gateway, and the phone
 * over real FSK audio. Operators work through the operator API and the `fixpay core` CLI: a BIN
 * range of ours, a batch issued under four eyes (CVVs and PINs from the HSM, the PIN mailer block
 * under the printer's key), activation; the card is loaded from a phone (the card-load menu
 * service) and used for an on-us purchase the bank simulator never sees, while a card of another
 * BIN still goes to the network and is approved there. Replacement and PIN reissue are four-eyes
 * too. The bureau and PIN mailer files come back sealed under the bureau key (issue 16) and open
 * with the bureau's copy of it to the cards stored; a PIN reissue names the card only. No card
 * number, CVV, PIN mailer block or clear PIN block is in the logs, the database or the runs'
 * histories — raw, or with every payload opened by the codec.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../../api/app';
import { newOperatorToken, temporalLifecycleRunner } from '../../api/operator';
import type { BureauCard, BureauFile, CardView } from '../../activities/terminal-lifecycle';
import { clearKeyOpener, openBureauFile, openPinMailerFile } from '../../cards/bureau-file';
import { isLuhnValid } from '../../core/cards';
import { maskPan } from '../../domain/masking';
import { DEMO_BUREAU_KEY_HEX, DEMO_CVK_HEX, DEMO_PRINTER_KEY_HEX } from '../../demo/keys';
import { visaCvv } from '../../hsm/crypto/card-verification';
import { accountIdFor } from '../../demo/seed';
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { fromHex } from '../../hsm/crypto/bytes';
import { decodePinBlock } from '../../hsm/crypto/pin-block';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import type { E2e } from './harness';
import {
  CARD_RICH,
  cardNeedles,
  databaseText,
  decodedHistoryText,
  ledgerBalanced,
  rawHistoryText,
  startE2e,
} from './harness';

const BIN = '629999';
const DEFINITIONS = join(__dirname, '..', '..', 'definitions');
const MERCHANT = accountIdFor('merchant:M0001');

/** The mailer printer: opens the ISO format 1 block with its key and reads the PIN. */
const printerBlock = (mailer: string): Buffer =>
  blockCipher('tdes', fromHex(DEMO_PRINTER_KEY_HEX)).decrypt(fromHex(mailer));
const pinOf = (mailer: string): string => decodePinBlock(1, printerBlock(mailer));
const track2Of = (c: BureauCard): string => `${c.pan}=${c.expiry}${c.serviceCode}0000000000`;
/** The card bureau: opens its file with its copy of the bureau key. */
const bureauOpener = clearKeyOpener(fromHex(DEMO_BUREAU_KEY_HEX));

describe('prepaid cards end to end: API, CLI and the phone over FSK', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let server: Server;
  let base = '';
  const alice = newOperatorToken();
  const bob = newOperatorToken();
  const runIds: string[] = [];
  /** Financial requests (not sign-ons) the bank received, with the card number each carried. */
  const bankSaw: { mti: string; pan: string }[] = [];
  const secrets: string[] = [];
  let batchRunId = '';
  let reissueRunId = '';
  const workDir = mkdtempSync(join(tmpdir(), 'fixpay-bureau-'));
  let cards: BureauCard[] = [];
  let card: BureauCard;
  let pin = '';

  beforeAll(async () => {
    e2e = await startE2e();
    for (const d of compileFiles(
      ['terminal-menu.yaml', 'card-load.yaml'].map((n) => join(DEFINITIONS, n)),
      defaultCatalogue(),
    )) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await e2e.registry.promote(d.plan.serviceId, d.plan.version);
    }
    const handle = e2e.bank.handle.bind(e2e.bank);
    e2e.bank.handle = (msg) => {
      if (!msg.mti.startsWith('08')) {
        const pan = msg.fields.get(2);
        bankSaw.push({ mti: msg.mti, pan: typeof pan === 'string' ? pan : '' });
      }
      return handle(msg);
    };
    const runner = temporalLifecycleRunner(e2e.env.client, 'services');
    const app = createApp({
      version: 'test',
      checks: [],
      operator: {
        operators: [
          { id: 'alice', role: 'operator', tokenSha256: alice.tokenSha256 },
          { id: 'bob', role: 'supervisor', tokenSha256: bob.tokenSha256 },
        ],
        core: e2e.core,
        prisma: e2e.db.prisma,
        runLifecycle: (workflowId, command, actor) => {
          runIds.push(workflowId);
          return runner(workflowId, command, actor);
        },
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 240_000);
  afterAll(async () => {
    rmSync(workDir, { recursive: true, force: true });
    await new Promise((r) => server.close(r));
    await e2e.stop();
  });

  async function api(
    method: string,
    path: string,
    o: { token?: string; body?: unknown; key?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${o.token ?? alice.token}`,
        ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(method === 'GET' ? {} : { 'idempotency-key': o.key ?? randomUUID() }),
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const cli = async (token: string, ...args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(__dirname, '..', '..', 'bin', 'fixpay.js'), 'core', ...args, '--api', base],
        { env: { ...process.env, FIXPAY_OPERATOR_BEARER: token }, timeout: 120_000 },
      );
      return { code: 0, out: stdout };
    } catch (e) {
      const x = e as { code?: number; stdout?: string };
      return { code: x.code ?? -1, out: x.stdout ?? '' };
    }
  };

  /** A supervisor (bob) approves what alice asked for; the answer carries the run's outcome. */
  async function approve(approvalId: string, extra: Record<string, unknown> = {}) {
    const r = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
      token: bob.token,
      body: { decision: 'approve', ...extra },
    });
    expect(r.status).toBe(200);
    return r.body['outcome'] as {
      ok: boolean;
      reason: string;
      bureau?: BureauFile;
      pinMailer?: BureauFile;
      cards?: CardView[];
    } & Record<string, unknown>;
  }

  const view = async (cardId: string): Promise<CardView> => {
    const r = await api('GET', `/operator/v1/cards/${cardId}`);
    expect(r.status).toBe(200);
    return r.body['card'] as CardView;
  };

  let nextStan = 20_000;
  /** The demo merchant's phone (T0000001) with `c` in its reader, on fresh STANs. */
  function phone(c: { track2: string; pin: string }): PosTerminal {
    nextStan += 100;
    return new PosTerminal(e2e.terminal({ card: c }), {
      stateStore: new MemoryStateStore({ stan: nextStan, batch: '000001', psamCounter: nextStan }),
    });
  }

  async function purchase(c: { track2: string; pin: string }, amountMinor: number) {
    const t = phone(c);
    expect((await t.signOn()).outcome).toBe('approved');
    const r = await t.purchase(amountMinor);
    await t.hangUp();
    return r;
  }

  it('a BIN range is a supervisor’s; a batch waits for a second person and is refused for a BIN that is not ours', async () => {
    const asOperator = await api('POST', '/operator/v1/card-ranges', {
      body: { binLow: BIN, binHigh: BIN, issuerId: 'fixpay-prepaid' },
    });
    expect(asOperator.status).toBe(403);
    const hostile = await api('POST', '/operator/v1/card-ranges', {
      token: bob.token,
      body: { binLow: "62'; DROP TABLE", binHigh: BIN, issuerId: 'x' },
    });
    expect(hostile.status).toBe(400);
    const range = await cli(bob.token, 'card-range', BIN, BIN, '--issuer', 'fixpay-prepaid');
    expect(range.code).toBe(0);
    expect(JSON.parse(range.out)).toMatchObject({ ok: true });
    expect(await e2e.core.routeCard(`${BIN}0000000001`)).toMatchObject({ ok: true, value: { network: 'onus' } });

    for (const body of [
      { bin: BIN, firstSequence: 1, count: 0, currency: 'CNY' },
      { bin: BIN, firstSequence: 1, count: 10_001, currency: 'CNY' },
      { bin: 'abcdef', firstSequence: 1, count: 1, currency: 'CNY' },
      { bin: BIN, firstSequence: 1, count: 1, currency: 'CNY', pan: CARD_RICH.pan },
    ])
      expect((await api('POST', '/operator/v1/card-batches', { body })).status).toBe(400);

    // The scheme's BIN of the bank simulator's cards is routed to the network: no batch of it here.
    const foreign = await api('POST', '/operator/v1/card-batches', {
      body: { bin: '622588', firstSequence: 900, count: 1, currency: 'CNY' },
    });
    expect(foreign).toMatchObject({ status: 202, body: { status: 'pending' } });
    const refused = await approve(String(foreign.body['approvalId']));
    expect(refused).toMatchObject({ ok: false, reason: 'CARD_ISSUANCE_INVALID' });
    expect(await e2e.db.prisma.prepaidCard.count()).toBe(0);
  });

  it('issues a batch under four eyes: the sealed bureau file opens with the bureau key to the cards stored, nothing clear kept', async () => {
    const asked = await api('POST', '/operator/v1/card-batches', {
      body: { bin: BIN, firstSequence: 1, count: 3, currency: 'CNY' },
      key: 'batch-1',
    });
    expect(asked).toMatchObject({ status: 202, body: { status: 'pending' } });
    const approvalId = String(asked.body['approvalId']);
    expect(await e2e.db.prisma.prepaidCard.count()).toBe(0);
    // Four eyes: the requester and an operator cannot approve.
    const self = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, { body: { decision: 'approve' } });
    expect(self.status).toBe(403);
    const runsBefore = runIds.length;
    const outcome = await approve(approvalId);
    batchRunId = runIds[runsBefore] ?? '';
    expect(outcome).toMatchObject({ ok: true });
    const file = outcome.bureau;
    if (file === undefined) throw new Error('no bureau file');
    expect(file).toMatchObject({ format: 'fixpay-bureau/v1', content: 'cards' });
    expect(file.records).toHaveLength(3);
    // The bureau opens its file with its copy of the key; a wrong key opens nothing.
    await expect(openBureauFile(file, clearKeyOpener(Buffer.alloc(32, 9)))).rejects.toMatchObject({
      codeName: 'CARD_BUREAU_FILE_INVALID',
    });
    cards = await openBureauFile(file, bureauOpener);
    expect(cards).toHaveLength(3);
    for (const c of cards) {
      expect(c.pan.startsWith(BIN)).toBe(true);
      expect(isLuhnValid(c.pan)).toBe(true);
      expect(c).toMatchObject({ serviceCode: '120', cvv: expect.stringMatching(/^\d{3}$/) as unknown });
      // The CVVs are the card's: the Visa method under the programme's CVK gives the same.
      const cvk = fromHex(DEMO_CVK_HEX);
      expect([c.cvv, c.cvv2, c.icvv]).toEqual([
        visaCvv(cvk, c.pan, c.expiry, c.serviceCode),
        visaCvv(cvk, c.pan, c.expiry, '000'),
        visaCvv(cvk, c.pan, c.expiry, '999'),
      ]);
      // The card stored under that id has this number (masked) and expiry, and keeps it only under the LMK.
      const stored = await e2e.db.prisma.prepaidCard.findUniqueOrThrow({ where: { id: c.cardId } });
      expect(stored).toMatchObject({ panMasked: maskPan(c.pan), expiry: c.expiry });
      expect(stored.panUnderLmk).toMatch(/^Q[0-9A-F]+$/);
      expect(file.records.find((r) => r.cardId === c.cardId)?.panMasked).toBe(maskPan(c.pan));
      expect(c.pinMailer).toMatch(/^[0-9A-Fa-f]{16}$/);
      secrets.push(c.pan, track2Of(c), c.pinMailer, printerBlock(c.pinMailer).toString('hex'));
    }
    expect(new Set(cards.map((c) => c.pan)).size).toBe(3);
    expect(JSON.stringify(outcome)).not.toContain(cards[0]?.pan);
    // Audited: the decision and the issuance, with both people.
    expect(await e2e.core.auditTrail(`approval:${approvalId}`)).toEqual([
      expect.objectContaining({ action: 'approve', actor: 'supervisor:bob', outcome: 'OK' }),
    ]);
    expect((await e2e.core.auditTrail(`bin:${BIN}`)).map((a) => `${a.action}:${a.outcome}:${a.actor}`)).toContain(
      'issueCards:OK:operator:alice+supervisor:bob',
    );
    expect(outcome.cards?.map((c) => c.state)).toEqual(['issued', 'issued', 'issued']);
    // The approval keeps the outcome without the bureau file; asking again gives the same approval, no new cards.
    const row = await e2e.db.prisma.operatorApproval.findUniqueOrThrow({ where: { id: approvalId } });
    expect(JSON.stringify(row.outcome)).not.toContain(cards[0]?.pan);
    expect(JSON.stringify(row.outcome)).not.toContain('pinMailer');
    const again = await api('POST', '/operator/v1/card-batches', {
      body: { bin: BIN, firstSequence: 1, count: 3, currency: 'CNY' },
      key: 'batch-1',
    });
    expect(again.body['approvalId']).toBe(approvalId);
    const decidedAgain = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
      token: bob.token,
      body: { decision: 'approve' },
    });
    expect(decidedAgain.body['outcome']).not.toHaveProperty('bureau');
    expect(await e2e.db.prisma.prepaidCard.count()).toBe(3);
    // A batch overlapping issued numbers is refused whole.
    const overlap = await api('POST', '/operator/v1/card-batches', {
      body: { bin: BIN, firstSequence: 3, count: 2, currency: 'CNY' },
    });
    expect(await approve(String(overlap.body['approvalId']))).toMatchObject({
      ok: false,
      reason: 'CARD_ISSUANCE_INVALID',
    });
    expect(await e2e.db.prisma.prepaidCard.count()).toBe(3);
    const [first] = cards;
    if (first === undefined) throw new Error('no card');
    card = first;
    pin = pinOf(card.pinMailer);
    expect(pin).toMatch(/^\d{6}$/);
  });

  it('not yet activated: a purchase is declined 78 on-us and the bank sees nothing; activated by the CLI', async () => {
    const saw = bankSaw.length;
    const r = await purchase({ track2: track2Of(card), pin }, 500);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '78' });
    expect(bankSaw.length).toBe(saw);
    const activated = await cli(alice.token, 'card', card.cardId, 'activate');
    expect(activated.code).toBe(0);
    expect(JSON.parse(activated.out)).toMatchObject({ ok: true, card: { state: 'active', balanceMinor: 0 } });
    const twice = await cli(alice.token, 'card', card.cardId, 'activate');
    expect(twice.code).toBe(1);
    expect(JSON.parse(twice.out)).toMatchObject({ ok: false, reason: 'CARD_TRANSITION_INVALID' });
  });

  it('loaded from a phone over FSK (Cards → Load card): the owner pays, the card is credited once, the network sees nothing', async () => {
    const saw = bankSaw.length;
    const [before] = await e2e.ledger.lookupAccounts([MERCHANT]);
    const t = phone({ track2: track2Of(card), pin });
    expect((await t.signOn()).outcome).toBe('approved');
    expect((await t.downloadMenu()).outcome).toBe('approved');
    const entry = t.menu?.entries.find((e) => e.code === 'card-load');
    expect(entry).toMatchObject({ card: true, path: ['Cards', 'Load card'] });
    const r = await t.service('card-load', { amount: '5000' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.receipt.join('\n')).toMatch(/PREPAID CARD LOAD[\s\S]*AMOUNT 50\.00[\s\S]*BALANCE 50\.00/);
    expect(r.receipt.join('\n')).not.toContain(card.pan);
    // NO at the prompt loads nothing.
    const no = await t.service('card-load', { amount: '7000' }, [{ key: '2' }]);
    expect(no.outcome).not.toBe('approved');
    await t.hangUp();
    expect(bankSaw.length).toBe(saw);
    expect(await view(card.cardId)).toMatchObject({ state: 'active', balanceMinor: 5000 });
    const [after] = await e2e.ledger.lookupAccounts([MERCHANT]);
    expect((after?.debitsPosted ?? 0n) - (before?.debitsPosted ?? 0n)).toBe(5000n);
    // A card that is not ours cannot be loaded: declined, nothing moves, the network is not asked.
    const foreign = phone(CARD_RICH);
    await foreign.signOn();
    await foreign.downloadMenu();
    const f = await foreign.service('card-load', { amount: '5000' }, [{ key: '1' }]);
    expect(f).toMatchObject({ outcome: 'declined', responseCode: '57' });
    await foreign.hangUp();
    expect(bankSaw.length).toBe(saw);
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('an on-us purchase over FSK never reaches the card network; a card of another BIN still goes there and is approved', async () => {
    const saw = bankSaw.length;
    const onUs = await purchase({ track2: track2Of(card), pin }, 1200);
    expect(onUs).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(bankSaw.length).toBe(saw);
    expect(bankSaw.some((m) => m.pan.startsWith(BIN))).toBe(false);

    const wrongPin = await purchase({ track2: track2Of(card), pin: pin === '000000' ? '111111' : '000000' }, 100);
    expect(wrongPin).toMatchObject({ outcome: 'declined', responseCode: '55' });
    expect(bankSaw.length).toBe(saw);

    const richBefore = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? Number.NaN;
    const network = await purchase(CARD_RICH, 800);
    expect(network).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(bankSaw.slice(saw).map((m) => [m.mti, m.pan])).toContainEqual(['0200', CARD_RICH.pan]);
    expect(e2e.bank.account(CARD_RICH.pan)?.balanceMinor).toBe(richBefore - 800);

    // Balance after = load − purchase; the ledger balances.
    expect(await view(card.cardId)).toMatchObject({ balanceMinor: 5000 - 1200 });
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('blocked: declined 62 on-us; unblocked it buys again; every change is in the audit trail with its run', async () => {
    expect(
      await api('POST', `/operator/v1/cards/${card.cardId}/commands`, { body: { command: 'block' } }),
    ).toMatchObject({ status: 200, body: { ok: true, card: { state: 'blocked' } } });
    const saw = bankSaw.length;
    expect(await purchase({ track2: track2Of(card), pin }, 100)).toMatchObject({
      outcome: 'declined',
      responseCode: '62',
    });
    // A blocked card takes no load from the phone either; nothing moves.
    const balanceBlocked = (await view(card.cardId)).balanceMinor;
    const t = phone({ track2: track2Of(card), pin });
    await t.signOn();
    await t.downloadMenu();
    expect(await t.service('card-load', { amount: '2000' }, [{ key: '1' }])).toMatchObject({
      outcome: 'declined',
      responseCode: '62',
    });
    await t.hangUp();
    expect((await view(card.cardId)).balanceMinor).toBe(balanceBlocked);
    expect(
      await api('POST', `/operator/v1/cards/${card.cardId}/commands`, { body: { command: 'unblock' } }),
    ).toMatchObject({ status: 200, body: { ok: true, card: { state: 'active' } } });
    expect(await purchase({ track2: track2Of(card), pin }, 300)).toMatchObject({ outcome: 'approved' });
    expect(bankSaw.length).toBe(saw);
    // An operator load (funding → card), once per Idempotency-Key.
    for (let i = 0; i < 2; i++)
      expect(
        await api('POST', `/operator/v1/cards/${card.cardId}/commands`, {
          body: { command: 'load', amountMinor: 1000 },
          key: 'load-once',
        }),
      ).toMatchObject({ status: 200, body: { ok: true } });
    expect(await view(card.cardId)).toMatchObject({ balanceMinor: 5000 - 1200 - 300 + 1000 });
    const trail = (await e2e.core.auditTrail(`card:${card.cardId}`)).map((a) => `${a.action}:${a.outcome}`);
    expect(trail).toEqual(
      expect.arrayContaining([
        'activateCard:OK',
        'activateCard:CARD_TRANSITION_INVALID',
        'blockCard:OK',
        'unblockCard:OK',
        'loadCard:OK',
      ]),
    );
    expect(trail.filter((a) => a === 'loadCard:OK')).toHaveLength(1);
  });

  it('replacement (four eyes, approved with the CLI, which writes the sealed file) moves the balance to a new number and refuses the old card; a PIN reissue names the card only and gives a sealed mailer', async () => {
    const balance = (await view(card.cardId)).balanceMinor;
    const asked = await api('POST', `/operator/v1/cards/${card.cardId}/commands`, {
      body: { command: 'replace', sequence: 50 },
    });
    expect(asked).toMatchObject({ status: 202, body: { status: 'pending' } });
    const sealedFile = join(workDir, 'replacement.json');
    const decided = await cli(
      bob.token,
      'decide',
      String(asked.body['approvalId']),
      'approve',
      '--bureau-out',
      sealedFile,
    );
    expect(decided.code).toBe(0);
    const answer = JSON.parse(decided.out) as { outcome: Record<string, unknown> };
    expect(answer.outcome).toMatchObject({ ok: true, card: { state: 'issued', balanceMinor: balance } });
    expect(statSync(sealedFile).mode & 0o777).toBe(0o600);
    // The bureau's tool opens the file with the bureau's key file.
    const keyFile = join(workDir, 'bureau.key');
    writeFileSync(keyFile, `${DEMO_BUREAU_KEY_HEX}\n`, { mode: 0o600 });
    const opened = await promisify(execFile)(
      process.execPath,
      [
        join(__dirname, '..', '..', 'bin', 'fixpay.js'),
        'core',
        'bureau-open',
        '--key-file',
        keyFile,
        '--in',
        sealedFile,
      ],
      { timeout: 120_000 },
    );
    const fromCli = opened.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as BureauCard);
    const file = JSON.parse(readFileSync(sealedFile, 'utf8')) as BureauFile;
    expect(fromCli).toEqual(await openBureauFile(file, bureauOpener));
    const fresh = fromCli[0];
    if (fresh === undefined) throw new Error('no new card');
    expect(readFileSync(sealedFile, 'utf8')).not.toContain(fresh.pan);
    secrets.push(fresh.pan, track2Of(fresh), fresh.pinMailer, printerBlock(fresh.pinMailer).toString('hex'));
    expect(fresh.pan).not.toBe(card.pan);
    expect(await view(card.cardId)).toMatchObject({ state: 'replaced', balanceMinor: 0 });
    const saw = bankSaw.length;
    expect(await purchase({ track2: track2Of(card), pin }, 100)).toMatchObject({ responseCode: '62' });
    await api('POST', `/operator/v1/cards/${fresh.cardId}/commands`, { body: { command: 'activate' } });
    expect(await purchase({ track2: track2Of(fresh), pin: pinOf(fresh.pinMailer) }, 100)).toMatchObject({
      outcome: 'approved',
    });
    expect(bankSaw.length).toBe(saw);

    // PIN reissue: the run names the card only (the HSM opens the number kept under the LMK); an
    // approver who still sends a number is refused by the API's schema.
    const a = await api('POST', `/operator/v1/cards/${fresh.cardId}/commands`, { body: { command: 'reissuePin' } });
    expect(a.status).toBe(202);
    const withPan = await api('POST', `/operator/v1/approvals/${String(a.body['approvalId'])}/decision`, {
      token: bob.token,
      body: { decision: 'approve', pan: fresh.pan },
    });
    expect(withPan.status).toBe(400);
    const runsBefore = runIds.length;
    const re = await approve(String(a.body['approvalId']));
    reissueRunId = runIds[runsBefore] ?? '';
    expect(re).toMatchObject({ ok: true });
    if (re.pinMailer === undefined) throw new Error('no PIN mailer file');
    expect(JSON.stringify(re)).not.toContain(fresh.pan);
    const [opened1] = await openPinMailerFile(re.pinMailer, bureauOpener);
    expect(opened1?.cardId).toBe(fresh.cardId);
    const mailer = opened1?.pinMailer ?? '';
    secrets.push(mailer, printerBlock(mailer).toString('hex'));
    const newPin = pinOf(mailer);
    const oldPin = pinOf(fresh.pinMailer);
    if (newPin !== oldPin)
      expect(await purchase({ track2: track2Of(fresh), pin: oldPin }, 100)).toMatchObject({ responseCode: '55' });
    expect(await purchase({ track2: track2Of(fresh), pin: newPin }, 100)).toMatchObject({ outcome: 'approved' });
    expect(bankSaw.length).toBe(saw);
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('a batch run and a PIN reissue run, their payloads opened by the codec, hold no number, CVV or PIN block', async () => {
    expect(batchRunId).toMatch(/issueCards/);
    expect(reissueRunId).toMatch(/reissuePin/);
    const needles = secrets.flatMap((s) => [s, s.toLowerCase(), s.toUpperCase()]);
    const batch = await decodedHistoryText(e2e.env, batchRunId);
    // Opened for real: the run's result is readable, with its sealed file and masked numbers.
    expect(batch).toContain('fixpay-bureau/v1');
    expect(batch).toContain(maskPan(cards[0]?.pan ?? ''));
    for (const n of needles) expect(batch).not.toContain(n);
    expect(batch).not.toMatch(/"i?cvv2?"/);
    const reissue = await decodedHistoryText(e2e.env, reissueRunId);
    expect(reissue).toContain('pin-mailer');
    for (const n of needles) expect(reissue).not.toContain(n);
    expect(reissue).not.toMatch(/"pan"/);
  });

  it('no card number, PIN mailer block or clear PIN block in the logs, the database or any run history', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    const needles = [...secrets.flatMap((s) => [s, s.toLowerCase(), s.toUpperCase()]), ...cardNeedles()];
    const db = await databaseText(e2e.db);
    for (const n of needles) expect(db).not.toContain(n);
    const logs = e2e.logText();
    for (const n of needles) expect(logs).not.toContain(n);
    const ids = new Set([...runIds, ...e2e.workflowIds]);
    expect(ids.size).toBeGreaterThan(10);
    for (const id of ids) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(history).not.toContain(n);
    }
  });
});
