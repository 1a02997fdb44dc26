/**
 * Fuzz targets: every parser that takes bytes or text from outside. Each has valid seeds (mutated by
 * the engine) and `run(input)`, which either accepts the input or fails the documented way (a
 * FixpayError or a Result); anything else thrown is a crash. See docs/testing.md, "Fuzzing".
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, Agent, type Server } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTerminalRequest } from '../../terminal-protocol/messages';
import { createApp } from '../../api/app';
import { buildNotice, decodeMessage, encodeMessage } from '../../channel-engine/callerid';
import { decodeFrame, encodeFrame, FrameHunter } from '../../channel-engine/link';
import type { LinkSpec } from '../../channel-engine/link';
import { parseSdp } from '../../channel-engine/lines/sip/sdp';
import { parseSipMessage } from '../../channel-engine/lines/sip/message';
import { TcpPcmReader, parseHello } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { createCodecApp } from '../../codec/codec-server';
import { AesGcmPayloadCodec } from '../../codec/payload-codec';
import { isFixpayError } from '../../domain/errors';
import { FrameDecoder } from '../../gateways/card-network/framing';
import { MessageCodec, networkSpec, terminalSpec } from '../../gateways/iso8583';
import type { FieldValue, IsoMessage } from '../../gateways/iso8583';
import { FrameReader, frame as hsmFrame } from '../../hsm/host-protocol/codec';
import { handleHostMessage } from '../../hsm/host-protocol/server';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileDefinition } from '../../services/compiler/compile';

export interface FuzzTarget {
  readonly name: string;
  /** What the inputs are (for the report). */
  readonly what: string;
  /** Valid inputs the mutator starts from. */
  readonly seeds: readonly Uint8Array[];
  /** Largest input the mutator makes, bytes. */
  readonly maxBytes: number;
  /** Accepts or refuses the input; throws only on a crash (the engine classifies with `expected`). */
  run(input: Uint8Array): void | Promise<void>;
  /** A thrown value that is the documented refusal (FixpayError by default). */
  readonly expected?: (e: unknown) => boolean;
  /** Sets up what `run` needs (servers); `close` tears it down. */
  open?(): Promise<void>;
  close?(): Promise<void>;
}

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

// --- link frames ---------------------------------------------------------------------------------

function linkTarget(): FuzzTarget {
  const specs: LinkSpec[] = [...loadProfiles().values()].map((p) => p.link);
  const seeds: Uint8Array[] = [];
  for (const spec of specs) {
    for (const f of [
      { kind: 'data', seq: 0, more: false, payload: randomBytes(40) },
      { kind: 'data', seq: 1, more: true, payload: randomBytes(spec.maxPayloadBytes) },
      { kind: 'ack', seq: 1 },
      { kind: 'nak', cause: 1 },
      { kind: 'est', payload: randomBytes(4) },
      { kind: 'rel' },
    ] as const) {
      const r = encodeFrame(spec, f);
      if (r.ok) seeds.push(r.value);
    }
  }
  return {
    name: 'link-frames',
    what: 'link layer frames (decodeFrame and the FrameHunter over a burst), every device profile',
    seeds,
    maxBytes: 2_048,
    run(input) {
      for (const spec of specs) {
        decodeFrame(spec, input); // a Result: never throws
        const hunter = new FrameHunter(spec);
        hunter.push(input);
        hunter.push(input.subarray(0, input.length >> 1));
        hunter.endOfBurst();
      }
    },
    expected: () => false,
  };
}

// --- ISO 8583 ------------------------------------------------------------------------------------

function isoSeeds(codec: MessageCodec, messages: readonly [string, [number, FieldValue][]][]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [mti, fields] of messages) {
    try {
      out.push(codec.pack({ mti, fields: new Map(fields) } satisfies IsoMessage));
    } catch {
      // a seed the spec does not take: skip it
    }
  }
  return out;
}

const TEST_PAN = '6225880000000001'; // bank simulator test card
const NETWORK_SEEDS: [string, [number, FieldValue][]][] = [
  [
    '0800',
    [
      [7, '1126030000'],
      [11, '000001'],
      [70, '001'],
    ],
  ],
  [
    '0200',
    [
      [2, TEST_PAN],
      [3, '000000'],
      [4, '000000001250'],
      [7, '1126030000'],
      [11, '000123'],
      [12, '030000'],
      [13, '1126'],
      [22, '021'],
      [32, '1234'],
      [33, '5678'],
      [37, '000000000123'],
      [41, 'T0000001'],
      [42, 'M00000000000001'],
      [49, '156'],
    ],
  ],
  [
    '0210',
    [
      [3, '000000'],
      [4, '000000001250'],
      [11, '000123'],
      [37, '000000000123'],
      [38, 'A1B2C3'],
      [39, '00'],
      [41, 'T0000001'],
    ],
  ],
  [
    '0420',
    [
      [3, '000000'],
      [4, '000000001250'],
      [11, '000123'],
      [39, '98'],
      [41, 'T0000001'],
    ],
  ],
];
const TERMINAL_SEEDS: [string, [number, FieldValue][]][] = [
  [
    '0200',
    [
      [2, '6225880000000000001'],
      [3, '000000'],
      [4, '000000001250'],
      [11, '000001'],
      [41, 'T0000001'],
      [42, '898100000000001'],
      [49, '156'],
    ],
  ],
  [
    '0800',
    [
      [11, '000002'],
      [41, 'T0000001'],
      [42, '898100000000001'],
    ],
  ],
];

function isoTarget(name: string, codec: MessageCodec, seeds: Uint8Array[], what: string): FuzzTarget {
  return {
    name,
    what,
    seeds,
    maxBytes: 1_024,
    run(input) {
      const r = codec.tryUnpack(input);
      if (r.ok) {
        // A message that decodes must pack again and decode to the same bytes.
        const again = codec.pack(r.message);
        const back = codec.tryUnpack(again);
        if (!back.ok) throw new Error(`re-packed message does not unpack: ${back.error.message}`);
      }
    },
  };
}

function networkFramingTarget(): FuzzTarget {
  const codec = new MessageCodec(networkSpec);
  const seeds = isoSeeds(codec, NETWORK_SEEDS).map((b) =>
    Buffer.concat([Buffer.from(String(b.length).padStart(4, '0')), b]),
  );
  return {
    name: 'iso8583-network-stream',
    what: 'the card network TCP stream: ASCII length framing, then network-spec unpack',
    seeds,
    maxBytes: 2_048,
    run(input) {
      const decoder = new FrameDecoder({ lengthPrefix: 'ascii4' });
      let frames: Buffer[] = [];
      try {
        frames = decoder.push(Buffer.from(input));
      } catch (e) {
        if (!isFixpayError(e)) throw e;
      }
      for (const f of frames) codec.tryUnpack(f);
    },
  };
}

function terminalRequestTarget(): FuzzTarget {
  const codec = new MessageCodec(terminalSpec);
  const header = Buffer.from('600003000060310000000000'.slice(0, 22), 'hex'); // TPDU (5) + application header (6)
  const seeds = isoSeeds(codec, TERMINAL_SEEDS).map((b) => Buffer.concat([header, b]));
  return {
    name: 'terminal-request',
    what: 'terminal requests as the platform opens them: envelope, ISO 8583, PSAM block, MAC',
    seeds,
    maxBytes: 1_024,
    run(input) {
      openTerminalRequest(input);
    },
  };
}

// --- SIP, SDP, TCP PCM, caller ID ----------------------------------------------------------------

const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0 8',
  'a=rtpmap:0 PCMU/8000',
  'a=ptime:20',
  '',
].join('\r\n');
const INVITE = [
  'INVITE sip:95105@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'From: "POS" <sip:057188880000@127.0.0.1>;tag=1928301774',
  'To: <sip:95105@127.0.0.1>',
  'Call-ID: a84b4c76e66710@127.0.0.1',
  'CSeq: 314159 INVITE',
  'Contact: <sip:057188880000@127.0.0.1:5062>',
  'Content-Type: application/sdp',
  `Content-Length: ${SDP.length}`,
  '',
  SDP,
].join('\r\n');

function sipTarget(): FuzzTarget {
  return {
    name: 'sip',
    what: 'SIP messages (parseSipMessage) and the SDP bodies they carry (parseSdp)',
    seeds: [
      text(INVITE),
      text(
        'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
      ),
      text('BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n'),
      text(SDP),
    ],
    maxBytes: 9_000,
    run(input) {
      const r = parseSipMessage(input);
      if (r.ok) parseSdp(r.value.body);
      parseSdp(latin1(input));
    },
    expected: () => false,
  };
}

function tcpPcmTarget(): FuzzTarget {
  return {
    name: 'tcp-pcm',
    what: 'the TCP PCM line stream (message reader) and HELLO bodies',
    seeds: [
      Buffer.from([0x01, 0x00, 0x0c, ...Buffer.from('057188880000')]),
      Buffer.from([0x02, 0x00, 0x04, 1, 2, 3, 4, 0x03, 0, 0]),
    ],
    maxBytes: 8_192,
    run(input) {
      const reader = new TcpPcmReader();
      const r = reader.push(input);
      if (r.ok) for (const m of r.value) if (m.type === 0x01) parseHello(m.body);
      parseHello(input.subarray(0, 64));
    },
    expected: () => false,
  };
}

function callerIdTarget(): FuzzTarget {
  return {
    name: 'caller-id',
    what: 'on-hook caller-ID style messages (decodeMessage)',
    seeds: [
      encodeMessage(buildNotice({ dateTime: '11260300', callingNumber: '95105', display: 'Your bill is due' })),
      encodeMessage(buildNotice({ callingNumber: '95105', name: 'FIXPAY' })),
    ],
    maxBytes: 600,
    run(input) {
      decodeMessage(input);
    },
  };
}

// --- YAML definitions -----------------------------------------------------------------------------

function yamlTarget(): FuzzTarget {
  const dir = join(__dirname, '..', '..', 'definitions');
  const seeds = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(join(dir, f)));
  const catalogue = defaultCatalogue();
  return {
    name: 'yaml-definitions',
    what: 'service definitions through the compiler (parse, schema, semantic checks, plan)',
    seeds,
    maxBytes: 16_384,
    run(input) {
      compileDefinition(Buffer.from(input).toString('utf8'), 'fuzz.yaml', { catalogue });
    },
  };
}

// --- HSM host commands ----------------------------------------------------------------------------

function hsmTarget(): FuzzTarget {
  const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
  const seeds: Uint8Array[] = [hsmFrame('0001NC'), hsmFrame('0001B20004ABCD'), hsmFrame('0001A00F00U')];
  return {
    name: 'hsm-host-commands',
    what: 'network HSM frames (FrameReader) and host commands (handleHostMessage on the software HSM)',
    seeds,
    maxBytes: 4_096,
    async open() {
      // Seeds with real key handles make the mutations reach the key parsing and the crypto.
      for (const type of ['00F00U', '0002U', '0003U', '0000U', '0F0EU']) {
        const reply = await handleHostMessage(hsm, `0001A0${type}`, 4);
        const handle = reply.slice(8, 8 + 1 + Number(reply.slice(10, 14)));
        seeds.push(
          hsmFrame(`0001BU${handle}`),
          hsmFrame(`0001M631${handle}0010${'00'.repeat(8)}`),
          hsmFrame(`0001A8${handle}${handle}E`),
        );
      }
    },
    async run(input) {
      const reader = new FrameReader(70_000);
      let messages: Buffer[] = [];
      try {
        messages = reader.push(Buffer.from(input));
      } catch (e) {
        if (!isFixpayError(e)) throw e;
      }
      for (const m of messages) await handleHostMessage(hsm, m.toString('latin1'), 4);
    },
  };
}

// --- API and codec endpoint bodies (real HTTP on loopback) ---------------------------------------

function apiTarget(): FuzzTarget {
  const servers: Server[] = [];
  const ports: number[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const token = 'fuzz-operator-token-0123456789abcdef';
  const listen = async (s: Server): Promise<number> =>
    new Promise((resolve) =>
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      }),
    );
  const contentTypes = [
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/json; charset=latin1',
    '',
  ];
  const paths = ['/health', '/decode', '/encode', '/x', '/%ff', '/health?x=1'];
  return {
    name: 'api-bodies',
    what: 'HTTP bodies, content types and paths to the API app and the codec endpoint (real HTTP on loopback)',
    seeds: [
      text('{"payloads":[]}'),
      text('{"payloads":[{"metadata":{"encoding":"YmluYXJ5L3BsYWlu"},"data":"e30="}]}'),
      text('{}'),
      text('[]'),
    ],
    maxBytes: 70_000,
    async open() {
      const api = createServer(createApp({ version: 'fuzz', checks: [] }));
      const codec = createServer(
        createCodecApp({ codec: new AesGcmPayloadCodec([{ id: 'k1', key: randomBytes(32) }]), operatorToken: token }),
      );
      servers.push(api, codec);
      ports.push(await listen(api), await listen(codec));
    },
    async close() {
      agent.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
    async run(input) {
      const pick = input.length > 0 ? (input[0] ?? 0) : 0;
      const port = ports[pick % ports.length] ?? 0;
      const path = paths[pick % paths.length] ?? '/';
      const type = contentTypes[(pick >> 3) % contentTypes.length] ?? '';
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            agent,
            headers: { ...(type === '' ? {} : { 'content-type': type }), authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(Buffer.from(input));
      });
      if (status >= 500) throw new Error(`HTTP ${status} on ${path} (${type || 'no content type'})`);
    },
    expected: () => false,
  };
}

export function fuzzTargets(): FuzzTarget[] {
  return [
    linkTarget(),
    isoTarget(
      'iso8583-terminal',
      new MessageCodec(terminalSpec),
      isoSeeds(new MessageCodec(terminalSpec), TERMINAL_SEEDS),
      'terminal-spec ISO 8583 unpack (and re-pack of what decodes)',
    ),
    isoTarget(
      'iso8583-network',
      new MessageCodec(networkSpec),
      isoSeeds(new MessageCodec(networkSpec), NETWORK_SEEDS),
      'network-spec ISO 8583 unpack (and re-pack of what decodes)',
    ),
    networkFramingTarget(),
    terminalRequestTarget(),
    sipTarget(),
    tcpPcmTarget(),
    callerIdTarget(),
    yamlTarget(),
    hsmTarget(),
    apiTarget(),
  ];
}
