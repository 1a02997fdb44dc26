/**
 * The channel engine's public surface (line side): the engine and its RequestHandler port, line
 * drivers, device profiles, the link layer and the session machine.
 */
export { ChannelEngine, DEFAULT_ENGINE_OPTIONS } from './engine';
export type { ChannelEngineOptions, EngineMetrics, LiveCallInfo, RequestHandler, TerminalRequest } from './engine';
export { SipLineDriver, DEFAULT_SIP_OPTIONS } from './lines/sip/uas';
export type { SipDriverOptions } from './lines/sip/uas';
export { TcpPcmLineDriver, TcpPcmClient, DEFAULT_TCP_PCM_OPTIONS } from './lines/tcp-pcm';
export type { TcpPcmDriverOptions } from './lines/tcp-pcm';
export type { CallOffer, LineCall, LineDriver, LineHost, LineLogger } from './lines/types';
export { loadProfiles, parseProfile, requireProfile, BUILTIN_PROFILES_DIR } from './profiles';
export type { DeviceProfile } from './profiles';
export { TerminalEndpoint } from './session';
