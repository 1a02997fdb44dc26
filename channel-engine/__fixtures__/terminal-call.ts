/**
 * Test fixture: a terminal (TerminalEndpoint with the real modem) dialled into a TCP PCM driver,
 * with its audio plumbed both ways, ready after the engine's EST.
 */
import { TcpPcmClient } from '../lines/tcp-pcm';
import type { DeviceProfile } from '../profiles';
import { TerminalEndpoint } from '../session';

export interface TerminalCall {
  readonly terminal: TerminalEndpoint;
  readonly client: TcpPcmClient;
  /** Resolves with the reason when the engine (or the network) ends the call. */
  readonly ended: Promise<string>;
  /** Releases the fixture's resources (not the engine). */
  readonly dispose: () => void;
}

export async function dialTerminal(port: number, profile: DeviceProfile, callerNumber: string): Promise<TerminalCall> {
  const terminal = new TerminalEndpoint(profile);
  const client = new TcpPcmClient();
  const ended = new Promise<string>((resolve) => {
    client.onEnd = resolve;
  });
  client.onAudio = (pcm) => {
    terminal.pushAudio(pcm);
  };
  terminal.onAudioOut = (pcm) => {
    client.sendAudio(pcm);
    setImmediate(() => {
      terminal.playoutDone();
    });
  };
  try {
    await client.dial('127.0.0.1', port, callerNumber);
    await terminal.waitForEst();
  } catch (e) {
    terminal.dispose();
    client.destroy();
    throw e;
  }
  return {
    terminal,
    client,
    ended,
    dispose: () => {
      terminal.dispose();
      client.destroy();
    },
  };
}
