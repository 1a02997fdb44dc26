/**
 * Starts a channel engine process (`fixpay channel-engine`): loads device profiles, opens the
 * line drivers, wires the RequestHandler. Until the Temporal client lands (issue 4, later), the
 * handlers here are test/demo ones: `echo` answers each request with its own bytes, `fixed`
 * with a fixed answer.
 */
import { FixpayError } from '../domain/errors';
import { ChannelEngine, DEFAULT_ENGINE_OPTIONS } from './engine';
import type { RequestHandler } from './engine';
import { SipLineDriver } from './lines/sip/uas';
import { TcpPcmLineDriver } from './lines/tcp-pcm';
import { SILENT_LOGGER } from './lines/types';
import type { LineLogger } from './lines/types';
import { BUILTIN_PROFILES_DIR, loadProfiles } from './profiles';

export interface ChannelEngineProcessOptions {
  readonly nodeId: string;
  readonly sip: { readonly host: string; readonly port: number } | undefined;
  readonly tcpPcm: { readonly host: string; readonly port: number; readonly pace: boolean } | undefined;
  readonly defaultProfileId: string;
  readonly profileDirs: readonly string[];
  readonly handler: RequestHandler;
  readonly maxLines: number;
  readonly handlerTimeoutMs: number;
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 60000;

export function echoHandler(): RequestHandler {
  return (req) => Promise.resolve(req.payload);
}

/** @throws FixpayError BAD_REQUEST for a non-hex answer. */
export function fixedHandler(hex: string): RequestHandler {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new FixpayError('BAD_REQUEST', 'fixed answer must be hex bytes');
  const answer = Uint8Array.from(Buffer.from(hex, 'hex'));
  return () => Promise.resolve(answer);
}

export interface RunningChannelEngine {
  readonly engine: ChannelEngine;
  readonly sipPort: number | undefined;
  readonly tcpPcmPort: number | undefined;
  /** Drains (no new calls, finish current ones) then closes the drivers. */
  shutdown(drainTimeoutMs: number): Promise<void>;
}

export async function startChannelEngineProcess(
  o: ChannelEngineProcessOptions,
  log: LineLogger = SILENT_LOGGER,
): Promise<RunningChannelEngine> {
  const profiles = loadProfiles([BUILTIN_PROFILES_DIR, ...o.profileDirs]);
  const engine = new ChannelEngine(
    {
      nodeId: o.nodeId,
      profiles,
      defaultProfileId: o.defaultProfileId,
      handler: o.handler,
      maxLines: o.maxLines,
      handlerTimeoutMs: o.handlerTimeoutMs,
    },
    log,
  );
  const sip = o.sip === undefined ? undefined : new SipLineDriver({ host: o.sip.host, port: o.sip.port }, log);
  const tcp =
    o.tcpPcm === undefined
      ? undefined
      : new TcpPcmLineDriver({ host: o.tcpPcm.host, port: o.tcpPcm.port, pace: o.tcpPcm.pace }, log);
  if (sip !== undefined) engine.addDriver(sip);
  if (tcp !== undefined) engine.addDriver(tcp);
  await engine.start();
  return {
    engine,
    sipPort: sip?.port,
    tcpPcmPort: tcp?.port,
    async shutdown(drainTimeoutMs) {
      await engine.drain(drainTimeoutMs);
      await engine.stop();
    },
  };
}

export { DEFAULT_ENGINE_OPTIONS };
