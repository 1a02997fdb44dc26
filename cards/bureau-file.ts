/**
 * The card bureau's file (issue 16): each card's record — number, expiry, service code, CVVs and
 * the PIN mailer block — sealed in the HSM under the bureau key (a BUREAU key, TR-31 D0, AES) as
 * AES-GCM with associated data `fixpay-bureau/v1|<content>|<cardId>`. What leaves an activity, a
 * run's history, the API and the CLI is this sealed file only; the bureau opens it with its copy of
 * the key (docs/cards.md, "The bureau file"), the platform only at the HSM console.
 */
import { createDecipheriv } from 'node:crypto';
import { BUREAU_FILE_FORMAT, bureauRecordAad } from '../activities/terminal-lifecycle';
import type { BureauCard, BureauFile, PinMailerCard, SealedBureauRecord } from '../activities/terminal-lifecycle';
import { FixpayError } from '../domain/errors';
import { maskPan } from '../domain/masking';
import type { HsmPort, KeyHandle, SealedData } from '../hsm/port';
import type { IssuedCard } from './issuance';

/** Largest bureau file `parseBureauFile` reads, bytes (10 000 cards of a few hundred bytes each). */
export const BUREAU_FILE_BYTES_MAX = 16 * 1024 * 1024;

async function seal(
  hsm: Pick<HsmPort, 'sealData'>,
  key: KeyHandle,
  content: BureauFile['content'],
  cardId: string,
  clear: BureauCard | PinMailerCard,
): Promise<SealedData> {
  return hsm.sealData({
    key,
    data: Buffer.from(JSON.stringify(clear), 'utf8'),
    aad: Buffer.from(bureauRecordAad(content, cardId), 'utf8'),
  });
}

function fileOf(content: BureauFile['content'], records: SealedBureauRecord[]): BureauFile {
  const kcv = records[0]?.sealed.kcv ?? '';
  return { format: BUREAU_FILE_FORMAT, content, kcv, records };
}

/** Seals the cards of a batch or a replacement, one record per card. */
export async function sealBureauFile(
  hsm: Pick<HsmPort, 'sealData'>,
  key: KeyHandle,
  cards: readonly IssuedCard[],
): Promise<BureauFile> {
  const records: SealedBureauRecord[] = [];
  for (const c of cards) {
    const clear: BureauCard = {
      cardId: c.cardId,
      pan: c.pan,
      expiry: c.expiry,
      serviceCode: c.serviceCode,
      cvv: c.cvv,
      cvv2: c.cvv2,
      icvv: c.icvv,
      pinMailer: c.pinMailer,
    };
    records.push({
      cardId: c.cardId,
      panMasked: maskPan(c.pan),
      sealed: await seal(hsm, key, 'cards', c.cardId, clear),
    });
  }
  return fileOf('cards', records);
}

/** Seals a reissued PIN's mailer block. */
export async function sealPinMailer(
  hsm: Pick<HsmPort, 'sealData'>,
  key: KeyHandle,
  card: { readonly cardId: string; readonly panMasked: string; readonly pinMailer: string },
): Promise<BureauFile> {
  const sealed = await seal(hsm, key, 'pin-mailer', card.cardId, { cardId: card.cardId, pinMailer: card.pinMailer });
  return fileOf('pin-mailer', [{ cardId: card.cardId, panMasked: card.panMasked, sealed }]);
}

/** Opens one sealed record: with the clear key (the bureau's tool) or in the HSM (the console). */
export type RecordOpener = (sealed: SealedData, aad: Buffer) => Promise<Buffer>;

/**
 * The bureau's side: AES-GCM under its copy of the bureau key (16, 24 or 32 bytes), tag at the end
 * of `data`. Any AES-GCM implementation does the same; this is ours, for tests and `fixpay core
 * bureau-open`.
 */
export function clearKeyOpener(key: Uint8Array): RecordOpener {
  const name =
    key.length === 16
      ? 'aes-128-gcm'
      : key.length === 24
        ? 'aes-192-gcm'
        : key.length === 32
          ? 'aes-256-gcm'
          : undefined;
  if (name === undefined) throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'the bureau key is 16, 24 or 32 bytes');
  return (sealed, aad) => {
    try {
      const raw = Buffer.from(sealed.data, 'hex');
      if (!/^[0-9A-F]{24}$/i.test(sealed.iv) || raw.length < 16) throw new Error('shape');
      const d = createDecipheriv(name, key, Buffer.from(sealed.iv, 'hex'), { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Promise.resolve(Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]));
    } catch {
      return Promise.reject(new FixpayError('CARD_BUREAU_FILE_INVALID', 'a record does not open with this key'));
    }
  };
}

/** The console's side: the HSM opens (operator mode, audited) under the bureau key's handle. */
export function hsmOpener(hsm: Pick<HsmPort, 'openSealedData'>, key: KeyHandle): RecordOpener {
  return (sealed, aad) => hsm.openSealedData({ key, sealed, aad });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a bureau file's JSON; anything else is CARD_BUREAU_FILE_INVALID. */
export function parseBureauFile(text: string): BureauFile {
  if (text.length > BUREAU_FILE_BYTES_MAX) throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'too large');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'not JSON');
  }
  const bad = (what: string): never => {
    throw new FixpayError('CARD_BUREAU_FILE_INVALID', what);
  };
  if (!isObject(v) || v['format'] !== BUREAU_FILE_FORMAT) return bad(`not a ${BUREAU_FILE_FORMAT} file`);
  const content = v['content'];
  if (content !== 'cards' && content !== 'pin-mailer') return bad('content');
  const kcv = v['kcv'];
  const records = v['records'];
  if (typeof kcv !== 'string' || !Array.isArray(records)) return bad('kcv or records');
  const out: SealedBureauRecord[] = records.map((r: unknown, i) => {
    if (!isObject(r) || !isObject(r['sealed'])) return bad(`record ${i}`);
    const s = r['sealed'];
    const cardId = r['cardId'];
    const panMasked = r['panMasked'];
    if (
      typeof cardId !== 'string' ||
      typeof panMasked !== 'string' ||
      s['format'] !== 'AES-GCM' ||
      typeof s['kcv'] !== 'string' ||
      typeof s['iv'] !== 'string' ||
      typeof s['data'] !== 'string'
    )
      return bad(`record ${i}`);
    return { cardId, panMasked, sealed: { format: 'AES-GCM', kcv: s['kcv'], iv: s['iv'], data: s['data'] } };
  });
  return { format: BUREAU_FILE_FORMAT, content, kcv, records: out };
}

/** Opens every record of a `cards` file, checking each against its card id. */
export async function openBureauFile(file: BureauFile, open: RecordOpener): Promise<BureauCard[]> {
  if (file.content !== 'cards') throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'not a cards file');
  const out: BureauCard[] = [];
  for (const r of file.records) {
    const clear = JSON.parse(
      (await open(r.sealed, Buffer.from(bureauRecordAad('cards', r.cardId)))).toString('utf8'),
    ) as BureauCard;
    if (clear.cardId !== r.cardId) throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'record of another card');
    out.push(clear);
  }
  return out;
}

/** Opens a `pin-mailer` file. */
export async function openPinMailerFile(file: BureauFile, open: RecordOpener): Promise<PinMailerCard[]> {
  if (file.content !== 'pin-mailer') throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'not a PIN mailer file');
  const out: PinMailerCard[] = [];
  for (const r of file.records) {
    const aad = Buffer.from(bureauRecordAad('pin-mailer', r.cardId));
    const clear = JSON.parse((await open(r.sealed, aad)).toString('utf8')) as PinMailerCard;
    if (clear.cardId !== r.cardId) throw new FixpayError('CARD_BUREAU_FILE_INVALID', 'record of another card');
    out.push(clear);
  }
  return out;
}
