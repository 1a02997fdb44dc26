import { isFixpayError } from '../domain/errors';
import { decodeTlv, encodeTlv } from '../gateways/iso8583';
import {
  decodeMenu,
  decodePromptReply,
  decodeReceipt,
  decodeScreen,
  decodeServiceRequest,
  encodeMenu,
  encodePromptReply,
  encodeReceipt,
  encodeScreen,
  encodeServiceRequest,
  fitText,
  formatAmount,
  inputProblem,
  sanitizeText,
} from './conversation';
import type { InputSpec, Menu } from './conversation';
import { serviceFor, SERVICE_TAGS } from './spec';

const customer: InputSpec = { name: 'customer', kind: 'digits', label: 'Customer no', min: 6, max: 12 };
const amount: InputSpec = { name: 'amount', kind: 'amount', label: 'Amount', min: 100, max: 100_000 };
const confirm: InputSpec = {
  name: 'answer',
  kind: 'choice',
  label: '',
  choices: [
    { key: '1', label: 'YES' },
    { key: '2', label: 'NO' },
  ],
};

const rejects = (fn: () => unknown): void => {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(isFixpayError(error, 'ISO8583_FIELD_INVALID')).toBe(true);
};

describe('conversation field 59', () => {
  it('routes the menu request, the service request and the prompt reply; sign-on still routes without F3', () => {
    expect(serviceFor('0800', '930000')).toBe('terminal-menu');
    expect(serviceFor('0200', '950000')).toBe('menu-service');
    expect(serviceFor('0200', '960000')).toBe('prompt-reply');
    expect(serviceFor('0800', null)).toBe('sign-on');
    expect(serviceFor('0800', '990000')).toBeUndefined();
  });

  it('a menu round-trips; an unchanged version carries no entries', () => {
    const menu: Menu = {
      version: '0123456789abcdef',
      entries: [{ code: 'electricity', path: ['Bills', 'Electricity'], title: 'Electricity', inputs: [customer] }],
    };
    expect(decodeMenu(encodeMenu(menu, undefined))).toEqual(menu);
    expect(decodeMenu(encodeMenu(menu, 'ffffffffffffffff')).entries).toHaveLength(1);
    expect(decodeMenu(encodeMenu(menu, menu.version))).toEqual({ version: menu.version, entries: [] });
  });

  it('a service request round-trips and refuses malformed codes, names, duplicates and values', () => {
    const r = { code: 'electricity', menuVersion: 'abc', inputs: { customer: '12345678', amount: '4550' } };
    expect(decodeServiceRequest(decodeTlv(encodeServiceRequest(r)))).toEqual(r);
    const tag = SERVICE_TAGS;
    const tlv = (items: [string, string][]) => items.map(([t, v]) => ({ tag: t, value: Buffer.from(v, 'latin1') }));
    rejects(() => decodeServiceRequest(tlv([])));
    rejects(() => decodeServiceRequest(tlv([[tag.itemCode, 'Bad Code']])));
    rejects(() => decodeServiceRequest(tlv([[tag.itemCode, '__proto__']])));
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          [tag.inputValue, '=1'],
        ]),
      ),
    );
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          [tag.inputValue, 'noequals'],
        ]),
      ),
    );
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          [tag.inputValue, 'a=1'],
          [tag.inputValue, 'a=2'],
        ]),
      ),
    );
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          [tag.inputValue, 'a=\u0007'],
        ]),
      ),
    );
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          [tag.inputValue, `a=${'9'.repeat(40)}`],
        ]),
      ),
    );
    rejects(() =>
      decodeServiceRequest(
        tlv([
          [tag.itemCode, 'x'],
          ...Array.from({ length: 9 }, (_, i) => [tag.inputValue, `a${i}=1`] as [string, string]),
        ]),
      ),
    );
  });

  it('a screen and a reply round-trip; a reply without id or status is refused', () => {
    const screen = {
      promptId: '000123/confirm#0',
      lines: ['PAY 45.50?', '1=YES 2=NO'],
      input: confirm,
      timeoutSeconds: 30,
    };
    expect(decodeScreen(encodeScreen(screen))).toEqual(screen);
    const reply = { promptId: screen.promptId, status: 'answered' as const, value: '1' };
    expect(decodePromptReply(decodeTlv(encodePromptReply(reply)))).toEqual(reply);
    rejects(() =>
      decodePromptReply(decodeTlv(encodeTlv([{ tag: SERVICE_TAGS.replyStatus, value: Buffer.from('A') }]))),
    );
    rejects(() =>
      decodePromptReply(
        decodeTlv(
          encodeTlv([
            { tag: SERVICE_TAGS.promptId, value: Buffer.from('p') },
            { tag: SERVICE_TAGS.replyStatus, value: Buffer.from('X') },
          ]),
        ),
      ),
    );
    expect(decodeReceipt(encodeReceipt(['A', 'B']))).toEqual(['A', 'B']);
  });

  it('checks inputs by kind, length, range and choices', () => {
    expect(inputProblem(customer, '12345678')).toBeNull();
    expect(inputProblem(customer, '12345')).toMatch(/at least 6/);
    expect(inputProblem(customer, '1234567890123')).toMatch(/at most 12/);
    expect(inputProblem(customer, '12a456')).toMatch(/digits/);
    expect(inputProblem(amount, '4550')).toBeNull();
    expect(inputProblem(amount, '0')).toMatch(/above zero/);
    expect(inputProblem(amount, '99')).toMatch(/below/);
    expect(inputProblem(amount, '100001')).toMatch(/above/);
    expect(inputProblem(amount, '-5')).toMatch(/minor units/);
    expect(inputProblem(confirm, '1')).toBeNull();
    expect(inputProblem(confirm, '3')).toMatch(/choices/);
  });
});

describe('text for displays and printers', () => {
  it('removes control and bidi characters and masks card numbers, plain or grouped', () => {
    expect(sanitizeText('PAY\u0007 45.50\u202e?\u200b\r\n')).toBe('PAY 45.50?');
    expect(sanitizeText('card 6225880000000001 ok')).toBe('card 622588******0001 ok');
    expect(sanitizeText('card 6225 8800 0000 0001')).toBe('card 622588******0001');
    expect(sanitizeText('6225880000000001=30122011234567890')).not.toMatch(/6225880000000001/);
    // A customer number that is no card number stays.
    expect(sanitizeText('REF 12345678901234')).toBe('REF 12345678901234');
    expect(sanitizeText('中文')).toBe('??');
  });

  it('fits lines to the width and line count of the profile', () => {
    expect(fitText(['ELECTRICITY BILL PAYMENT'], 16)).toEqual(['ELECTRICITY BILL', 'PAYMENT']);
    expect(fitText(['ABCDEFGHIJKLMNOPQRST'], 16)).toEqual(['ABCDEFGHIJKLMNOP', 'QRST']);
    expect(fitText(['a', 'b', 'c', 'd', 'e'], 16, 4)).toEqual(['a', 'b', 'c', 'd'.slice(0, 15) + '>']);
    for (const l of fitText(['x'.repeat(200), 'card 6225880000000001'], 24)) expect(l.length).toBeLessThanOrEqual(24);
    expect(fitText(['card 6225880000000001'], 24).join('')).not.toContain('6225880000000001');
    expect(() => fitText(['a'], 0)).toThrow(RangeError);
  });

  it('formats amounts', () => {
    expect(formatAmount(4550)).toBe('45.50');
    expect(formatAmount(5)).toBe('0.05');
    expect(formatAmount(-120)).toBe('-1.20');
  });
});
