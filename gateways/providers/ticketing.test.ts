import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { loadProviderCatalog, parseProviderDocument } from './profile';
import { checkSelection, offerChoices, type TicketOffer } from './ticket-offers';
import { payStatusOf } from './ticketing';

const code = (f: () => unknown): string => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return isFixpayError(e) ? e.codeName : String(e);
  }
};

const GAME = `apiVersion: fixpay/v1
kind: LotteryGame
metadata: { id: lotto }
spec:
  provider: tix
  pick: { count: 6, min: 1, max: 49 }
  pricePerBoard: 200
`;
const CINEMA = `apiVersion: fixpay/v1
kind: Cinema
metadata: { id: cine }
spec:
  provider: tix
  shows:
    - { id: a, startsAt: '2026-12-24T19:30:00+08:00', price: 4500 }
`;
const AIR = `apiVersion: fixpay/v1
kind: Airline
metadata: { id: air }
spec: { provider: tix, carrier: SK }
`;
const PROVIDER = (connector: string): string => `apiVersion: fixpay/v1
kind: Provider
metadata: { id: tix }
spec:
  connector: ${connector}
  endpoint: http://127.0.0.1:1/
  auth: { scheme: hmac-sha256, keyId: k, secret: sixteen-chars-long }
  timeouts: { requestMs: 1000 }
  statusQuery: { queries: 2 }
`;

describe('ticketing offers as provider documents', () => {
  it('accepts an airline, a cinema and a lottery game', () => {
    for (const t of [GAME, CINEMA, AIR]) expect(code(() => parseProviderDocument(t))).toBe('no error');
  });

  it.each([
    ['more numbers than the range holds', GAME.replace('count: 6', 'count: 20').replace('max: 49', 'max: 10')],
    ['range upside down', GAME.replace('min: 1, max: 49', 'min: 40, max: 4')],
    ['zero price', GAME.replace('pricePerBoard: 200', 'pricePerBoard: 0')],
    ['unknown key', GAME.replace('pricePerBoard', 'jackpot: 1\n  pricePerBoard')],
    ['two shows with one id', CINEMA + "    - { id: a, startsAt: '2026-12-24T21:00:00Z', price: 4000 }\n"],
    ['a start that is not a time', CINEMA.replace('2026-12-24T19:30:00+08:00', 'tonight')],
    ['an impossible date', CINEMA.replace('2026-12-24T19:30:00+08:00', '2026-13-45T99:99:00Z')],
    ['a carrier of three letters', AIR.replace('SK', 'SKY')],
    ['a lower-case carrier', AIR.replace('SK', 'sk')],
  ])('refuses %s with PROVIDER_PROFILE_INVALID', (_name, text) => {
    expect(code(() => parseProviderDocument(text, 'x.yaml'))).toBe('PROVIDER_PROFILE_INVALID');
  });

  it('keeps offers only when their provider is of the ticketing kind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-tix-'));
    try {
      writeFileSync(join(dir, 'p.yaml'), PROVIDER('bill-aggregator'));
      writeFileSync(join(dir, 'g.yaml'), GAME);
      let c = loadProviderCatalog(dir);
      expect(c.ticketOffers.size).toBe(0);
      expect(c.problems.map((p) => p.message)).toEqual(['offer lotto: no ticketing provider tix']);
      writeFileSync(join(dir, 'p.yaml'), PROVIDER('ticketing'));
      writeFileSync(join(dir, 'a.yaml'), AIR);
      writeFileSync(join(dir, 'dup.yaml'), AIR.replace('carrier: SK', 'carrier: XX'));
      c = loadProviderCatalog(dir);
      expect([...c.ticketOffers.keys()].sort()).toEqual(['air', 'lotto']);
      expect(c.ticketOffers.get('lotto')?.type).toBe('lottery');
      expect(c.problems.map((p) => p.message.replace(/^.*: /, ''))).toEqual(['duplicate offer air']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('selections', () => {
  const lotto: TicketOffer = {
    type: 'lottery',
    id: 'lotto',
    provider: 'tix',
    pick: { count: 3, min: 1, max: 9 },
    pricePerBoard: 100,
    maxBoards: 2,
  };
  const cine: TicketOffer = {
    type: 'cinema',
    id: 'cine',
    provider: 'tix',
    maxSeats: 2,
    shows: [{ id: 'a', startsAt: '2026-12-24T19:30:00Z', price: 4500 }],
  };
  const air: TicketOffer = { type: 'air', id: 'air', provider: 'tix', carrier: 'SK' };

  it('prices seats and boards from the data; air is priced by the airline', () => {
    expect(
      checkSelection(lotto, {
        draw: 'd',
        boards: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      }),
    ).toEqual({ expected: 200 });
    expect(checkSelection(cine, { show: 'a', seats: ['A1', 'B12'] })).toEqual({ expected: 9000 });
    expect(checkSelection(air, { booking: 'ABC123' })).toEqual({ expected: undefined });
  });

  it.each([
    [lotto, { draw: 'd', boards: [] }, 'TICKET_SELECTION_INVALID'],
    [
      lotto,
      {
        draw: 'd',
        boards: [
          [1, 2, 3],
          [1, 2, 3],
          [1, 2, 3],
        ],
      },
      'TICKET_SELECTION_INVALID',
    ],
    [lotto, { draw: 'd', boards: [[1, 2]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { draw: 'd', boards: [[1, 2, 2]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { draw: 'd', boards: [[1, 2, 10]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { draw: 'd', boards: [[1, 2, 3.5]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { draw: 'd', boards: [['1', 2, 3]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { draw: '../../etc', boards: [[1, 2, 3]] }, 'TICKET_SELECTION_INVALID'],
    [lotto, { boards: [[1, 2, 3]] }, 'TICKET_SELECTION_INVALID'],
    [cine, { show: 'b', seats: ['A1'] }, 'TICKET_OFFER_UNKNOWN'],
    [cine, { show: 'a', seats: ['A1', 'A2', 'A3'] }, 'TICKET_SELECTION_INVALID'],
    [cine, { show: 'a', seats: ['A1', 'A1'] }, 'TICKET_SELECTION_INVALID'],
    [cine, { show: 'a', seats: ['a1'] }, 'TICKET_SELECTION_INVALID'],
    [cine, { show: 'a', seats: 'A1' }, 'TICKET_SELECTION_INVALID'],
    [air, { booking: 'abc123' }, 'TICKET_SELECTION_INVALID'],
    [air, { booking: 'ABC1234' }, 'TICKET_SELECTION_INVALID'],
    [air, {}, 'TICKET_SELECTION_INVALID'],
  ])('refuses %#', (offer, selection, expected) => {
    expect(code(() => checkSelection(offer, selection as never))).toBe(expected);
  });

  it('reads provider order states conservatively: anything unknown is still open', () => {
    expect(payStatusOf('PAID')).toBe('PAID');
    expect(payStatusOf('ISSUE_FAILED')).toBe('PAID');
    expect(payStatusOf('REFUNDED')).toBe('DECLINED');
    expect(payStatusOf('WHATEVER')).toBe('PENDING');
    expect(payStatusOf(undefined)).toBe('PENDING');
  });

  it('a key a file offer or show holds stays the file’s when only catalogue entries claim it too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-choices-extra-'));
    try {
      writeFileSync(join(dir, 'p.yaml'), PROVIDER('ticketing'));
      writeFileSync(
        join(dir, 'g1.yaml'),
        GAME.replace('metadata: { id: lotto }', "metadata: { id: g1, title: 'Lotto' }").replace(
          '  provider: tix\n',
          "  provider: tix\n  terminalCode: '1'\n",
        ),
      );
      writeFileSync(join(dir, 'c.yaml'), CINEMA.replace('{ id: a,', "{ id: a, terminalCode: '2', title: 'Dune',"));
      const partnerGame = {
        apiVersion: 'fixpay/v1',
        kind: 'LotteryGame',
        metadata: { id: 'pg', title: 'Partner lotto' },
        spec: { provider: 'tix', terminalCode: '1', pick: { count: 6, min: 1, max: 49 }, pricePerBoard: 100 },
      };
      const partnerCinema = {
        apiVersion: 'fixpay/v1',
        kind: 'Cinema',
        metadata: { id: 'pc' },
        spec: {
          provider: 'tix',
          shows: [{ id: 'x', terminalCode: '2', title: 'Partner show', startsAt: '2026-12-24T19:30:00Z', price: 1 }],
        },
      };
      const c = loadProviderCatalog(dir, [
        { source: 'catalogue:pg', value: partnerGame },
        { source: 'catalogue:pc', value: partnerCinema },
      ]);
      expect(offerChoices(c.ticketOffers.values(), 'lotteryGames')).toEqual([{ key: '1', label: 'Lotto' }]);
      expect(offerChoices(c.ticketOffers.values(), 'shows')).toEqual([{ key: '2', label: 'Dune' }]);
      // The partner entries stay (payable by id) without the key, and the clash is reported.
      expect(c.ticketOffers.get('pg')?.terminalCode).toBeUndefined();
      const pc = c.ticketOffers.get('pc');
      expect(pc?.type === 'cinema' ? pc.shows.map((s) => s.terminalCode) : 'not a cinema').toEqual([undefined]);
      expect(c.problems.map((p) => p.message).sort()).toEqual([
        'offers g1 and pg claim terminal code lottery#1',
        'shows cine/a and pc/x claim terminal code 2',
      ]);
      // Two catalogue entries claiming one key with no file among them: neither keeps it.
      const c2 = loadProviderCatalog(dir, [
        { source: 'catalogue:pg', value: { ...partnerGame, spec: { ...partnerGame.spec, terminalCode: '7' } } },
        {
          source: 'catalogue:ph',
          value: { ...partnerGame, metadata: { id: 'ph' }, spec: { ...partnerGame.spec, terminalCode: '7' } },
        },
      ]);
      expect(c2.ticketOffers.get('pg')?.terminalCode).toBeUndefined();
      expect(c2.ticketOffers.get('ph')?.terminalCode).toBeUndefined();
      expect(c2.ticketOffers.get('g1')?.terminalCode).toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('choice lists for phones come from the terminal codes of the data; a code two claim is neither’s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-choices-'));
    try {
      writeFileSync(join(dir, 'p.yaml'), PROVIDER('ticketing'));
      const game = (id: string, title: string, c: string): string =>
        GAME.replace('metadata: { id: lotto }', `metadata: { id: ${id}, title: '${title}' }`).replace(
          '  provider: tix\n',
          `  provider: tix\n  terminalCode: '${c}'\n`,
        );
      writeFileSync(join(dir, 'g1.yaml'), game('g1', 'Lotto 6/49', '1'));
      writeFileSync(join(dir, 'g3.yaml'), game('g3', 'Pick 3', '3'));
      writeFileSync(join(dir, 'g0.yaml'), GAME.replace('id: lotto', 'id: g0'));
      writeFileSync(
        join(dir, 'c.yaml'),
        CINEMA.replace(
          "    - { id: a, startsAt: '2026-12-24T19:30:00+08:00', price: 4500 }",
          "    - { id: a, terminalCode: '2', title: 'Dune 19:30', startsAt: '2026-12-24T19:30:00+08:00', price: 4500 }\n" +
            "    - { id: b, title: 'Heat', startsAt: '2026-12-24T21:00:00+08:00', price: 4000 }",
        ),
      );
      let c = loadProviderCatalog(dir);
      expect(c.problems).toEqual([]);
      // In key order; an offer without a code is for API callers only.
      expect(offerChoices(c.ticketOffers.values(), 'lotteryGames')).toEqual([
        { key: '1', label: 'Lotto 6/49' },
        { key: '3', label: 'Pick 3' },
      ]);
      expect(offerChoices(c.ticketOffers.values(), 'shows')).toEqual([{ key: '2', label: 'Dune 19:30' }]);
      expect(offerChoices(c.ticketOffers.values(), 'airlines')).toEqual([]);
      // A second game claiming code 3: neither keeps it, and it is reported.
      writeFileSync(join(dir, 'g4.yaml'), game('g4', 'Pick 4', '3'));
      c = loadProviderCatalog(dir);
      expect(c.problems.map((p) => p.message)).toEqual(['offers g3 and g4 claim terminal code lottery#3']);
      expect(offerChoices(c.ticketOffers.values(), 'lotteryGames')).toEqual([{ key: '1', label: 'Lotto 6/49' }]);
      // Two shows of one cinema with one code: the file is refused.
      writeFileSync(
        join(dir, 'c.yaml'),
        CINEMA.replace('{ id: a,', "{ id: a, terminalCode: '1',").replace(
          '    - { id: a,',
          "    - { id: z, terminalCode: '1', startsAt: '2026-12-24T19:30:00+08:00', price: 1 }\n    - { id: a,",
        ),
      );
      expect(
        loadProviderCatalog(dir)
          .problems.map((p) => p.message)
          .join('\n'),
      ).toMatch(/share a terminal code/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
