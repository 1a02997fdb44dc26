/** `fixpay iso8583`: operator tools for ISO 8583 traffic (decode a hex dump, check a spec file). */
import type { Command } from 'commander';
import { prefixBytes, readLength } from '../../gateways/card-network/framing';
import type { EnvelopeOptions, MessageSpec } from '../../gateways/iso8583';
import { describeMessage, loadSpec, MessageCodec, openEnvelope } from '../../gateways/iso8583';

interface DecodeOptions {
  spec: string;
  framing: string;
  tpdu?: boolean;
  headerBytes?: string;
  lri: string;
}

function envelopeOf(spec: MessageSpec, o: DecodeOptions): EnvelopeOptions & { lengthPrefix: string } {
  const base = spec.envelope ?? { lengthPrefix: 'none', tpduBytes: 0, applicationHeaderBytes: 0 };
  const headerBytes = o.headerBytes === undefined ? base.applicationHeaderBytes : Number(o.headerBytes);
  if (!Number.isInteger(headerBytes) || headerBytes < 0 || headerBytes > 32)
    throw new Error('--header-bytes must be 0–32');
  const lri = o.lri === 'auto' || o.lri === 'never' ? o.lri : o.lri.split(',');
  return {
    lengthPrefix: o.framing === 'spec' ? base.lengthPrefix : o.framing,
    tpduBytes: o.tpdu === undefined ? base.tpduBytes : o.tpdu ? 5 : 0,
    applicationHeaderBytes: headerBytes,
    lri,
  };
}

/** Decodes what it can and says where it stopped; returns false on a decoding error. */
export function decodeHex(hex: string, o: DecodeOptions, print: (line: string) => void): boolean {
  const clean = hex.replace(/[\s:]/g, '');
  if (!/^([0-9A-Fa-f]{2})+$/.test(clean)) throw new Error('input must be hex (spaces and colons are ignored)');
  const spec = loadSpec(o.spec);
  const env = envelopeOf(spec, o);
  let bytes = Buffer.from(clean, 'hex');
  try {
    if (env.lengthPrefix === 'binary2' || env.lengthPrefix === 'ascii4') {
      const length = readLength(bytes, env.lengthPrefix);
      bytes = bytes.subarray(prefixBytes(env.lengthPrefix));
      print(
        `length        ${length} bytes (0x${length.toString(16).toUpperCase().padStart(4, '0')})${length === bytes.length ? '' : `, ${bytes.length} present`}`,
      );
    }
    const opened = openEnvelope(bytes, env);
    if (opened.tpdu !== undefined)
      print(
        `TPDU          id ${opened.tpdu.id.toString(16).toUpperCase()} destination ${opened.tpdu.destination} source ${opened.tpdu.source}`,
      );
    if (opened.lri !== undefined)
      print(`LRI           caller (ANI) ${opened.lri.ani} dialled (DNIS) ${opened.lri.dnis}`);
    if (opened.applicationHeader !== undefined) print(`app header    ${opened.applicationHeader}`);
    const codec = new MessageCodec(spec);
    const result = codec.tryUnpack(opened.body);
    if (result.ok) print(describeMessage(result.message, spec));
    else {
      if (result.partial.mti !== '') {
        print(`MTI           ${result.partial.mti}`);
        print(`bitmap        fields ${codec.bitmapFields(opened.body).join(', ')}`);
        if (result.partial.fields.size > 0) print(describeMessage(result.partial, spec));
      }
      print(`error ${result.error.code} ${result.error.message}`);
      return false;
    }
    return true;
  } catch (e) {
    print(`error ${e instanceof Error ? e.message : String(e)}`);
    return false;
  }
}

export function register(program: Command): void {
  const group = program.command('iso8583').description('ISO 8583 tools: decode hex dumps (masked), check spec files');
  group
    .command('decode <hex>')
    .description(
      'decode one message from hex: length header, TPDU, dial-up LRI block, application header, MTI, bitmap and fields. ' +
        'Card data is masked (PAN as BIN + last four; track, PIN block, keys and ICC data hidden). ' +
        'Example: fixpay iso8583 decode "019D 6000040000 602200000000 0200 702406C020C0BA93 …"',
    )
    .option('--spec <name|file>', 'terminal (BCD, TPDU + header), network (ASCII), or a JSON spec file', 'terminal')
    .option('--framing <kind>', 'length header: spec (the spec default), binary2, ascii4, none', 'spec')
    .option('--tpdu', 'a 5-byte TPDU follows the length (default: as the spec says)')
    .option('--no-tpdu', 'no TPDU')
    .option('--header-bytes <n>', 'application header bytes after the TPDU (default: as the spec says)')
    .option('--lri <mode>', 'dial-up LRI block: auto (detect), never, or comma-separated TPDUs that carry it', 'auto')
    .action((hex: string, o: DecodeOptions) => {
      const ok = decodeHex(hex, o, (line) => console.log(line));
      if (!ok) process.exitCode = 1;
    });
  group
    .command('check-spec <file>')
    .description('validate an ISO 8583 spec file against schema/iso8583-spec.schema.json and the part registry')
    .action((file: string) => {
      const spec = loadSpec(file);
      new MessageCodec(spec);
      console.log(`${file}: spec ${spec.name} v${spec.version} is valid (${spec.fields.length} fields)`);
    });
}
