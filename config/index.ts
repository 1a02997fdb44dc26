/**
 * The one configuration module. Defaults live in `schema/config.schema.json`; environment
 * variables override them; the result is validated by that schema at start-up and frozen.
 * This is the only file that reads `process.env`.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import Ajv from 'ajv';
import { FixpayError } from '../domain/errors';
import schema from '../schema/config.schema.json';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TemporalConfig {
  readonly embedded: boolean;
  readonly host: string;
  readonly port: number;
  readonly uiPort: number;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Worker Deployment name of the central workers (ADR 0022). */
  readonly workerDeployment: string;
  /** This central worker's build id; set = Worker Versioning on, runs pinned to their build (ADR 0022). */
  readonly workerBuildId?: string;
  /**
   * An access node sharing its process with a central worker (`fixpay dev`) starts the verification
   * and the run eagerly on that worker's connection (docs/adr/0013-purchase-cost.md).
   */
  readonly eagerStart: boolean;
  readonly cliPath?: string;
  /** The central worker schedules the push campaign files at start (ADR 0021). */
  readonly campaignSchedules: boolean;
  /** Folder of the campaign files; default the package's campaigns/. */
  readonly campaignsDir?: string;
  readonly cliVersion: string;
  readonly cacheDir: string;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** mTLS to the frontend (production): PEM files; TLS is on when tlsCertFile or tlsCaFile is set. */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly tlsCaFile?: string;
  readonly tlsServerName?: string;
}

export interface DatabaseConfig {
  readonly url?: string;
  readonly embeddedHost: string;
  readonly embeddedPort: number;
  readonly embeddedMaxConnections: number;
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
}

export interface ApiConfig {
  readonly host: string;
  readonly port: number;
  /** Comma-separated CIDRs webhooks may reach although not public (partners/webhook-egress.ts). */
  readonly webhookAllowedNetworks: string;
  /** How often a worker asks the database for catalogue entries written by API (ADR 0029). */
  readonly catalogueRefreshMs: number;
}

export interface SecurityConfig {
  readonly codecKeys?: string;
  readonly operatorToken?: string;
  readonly lmk?: string;
  readonly secretsFile: string;
  readonly codecPort: number;
  /** Shared secret of the HSM client `hsm.clientId` (hex or base64url). */
  readonly hsmClientSecret?: string;
  /** The operator API's operators (id, role, token digest); without it the operator API is off. */
  readonly operatorsFile?: string;
  /** The token `fixpay core` commands send to the operator API. */
  readonly operatorBearer?: string;
}

export interface AccessConfig {
  readonly nodeId: string;
  readonly host: string;
  readonly tcpPcmPort: number;
  readonly sipPort: number;
  readonly answerTimeoutMs: number;
  readonly maxLines: number;
  readonly reservedLines: number;
  /** Comma-separated IPv4 CIDRs (split by the access node). */
  readonly sipAllowedSources: string;
  readonly sipTrunkSources: string;
  readonly sipAckTimeoutMs: number;
  readonly sipInviteRatePerSecond: number;
  readonly sipInviteBurst: number;
  readonly sipSharedRtp: boolean;
  readonly sipSharedRtpReceiveBufferBytes: number;
  /** `a=ptime` of the SIP answers (10, 20, 30, 40 or 60 ms; ADR 0015). */
  readonly sipPtimeMs: number;
  /** Profile for callers bound to no terminal (docs/protocols/call.md). */
  readonly defaultProfileId: string;
  readonly profileLookupTimeoutMs: number;
  readonly profileCacheTtlMs: number;
  readonly profileCacheMaxEntries: number;
  /** TCP PCM gateway for push calls (docs/protocols/push.md); empty: this node makes no push calls. */
  readonly pushGatewayHost: string;
  readonly pushGatewayPort: number;
  /** Push calls open at once on this node. */
  readonly pushMaxLines: number;
  /** TCP PCM to a gateway, or SIP INVITEs to a trunk at pushGatewayHost:pushGatewayPort. */
  readonly pushLine: 'tcp-pcm' | 'sip';
}

export interface CardNetworkConfig {
  readonly simulator: boolean;
  readonly host: string;
  readonly port: number;
  readonly requestTimeoutMs: number;
  /** Field 32. */
  readonly acquirerId: string;
  /** Field 33. */
  readonly forwardingId: string;
  readonly lengthPrefix: 'ascii4' | 'binary2';
}

/** The prepaid card programme (ADR 0026). */
export interface CardsConfig {
  /** Longest a card batch or replacement may hold its one database transaction, ms. */
  readonly batchTransactionTimeoutMs: number;
  /** Seconds a phone's card load holds the owner's money before it lapses unposted. */
  readonly loadHoldSeconds: number;
}

/** The network HSM: where it is, who this process is to it, and the server's limits. */
export interface HsmConfig {
  readonly host: string;
  readonly port: number;
  readonly clientId: string;
  readonly clientsFile?: string;
  /** `tls-psk` (default): TLS 1.3 with a PSK per client; `plain` only when set, with a warning at start. */
  readonly transport: 'tls-psk' | 'plain';
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly frameTimeoutMs: number;
  readonly messageBytesMax: number;
  readonly connectionsMax: number;
  readonly connectionsPerAddressMax: number;
  readonly connectionsPerClientMax: number;
  readonly handshakesMax: number;
  readonly socketBufferBytes: number;
}

/** The Prometheus endpoint of a fixpay process (infra/metrics.ts). */
export interface MetricsConfig {
  readonly enabled: boolean;
  readonly host: string;
  /** 0 picks a free port (printed in the ready line). */
  readonly port: number;
  /**
   * The Temporal SDK's own Prometheus endpoint (infra/temporal/runtime.ts) on `host`; 0 = off.
   * Unset: `port + 1`, or off when `port` is 0 (the SDK cannot report a port it picked itself).
   */
  readonly sdkPort: number;
}

/** OpenTelemetry traces of a fixpay process (infra/tracing.ts). */
export interface TracingConfig {
  readonly exporter: 'none' | 'otlp';
  readonly otlpEndpoint: string;
}

export interface Config {
  /** Absolute path of the data folder. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly temporal: TemporalConfig;
  readonly database: DatabaseConfig;
  readonly api: ApiConfig;
  readonly security: SecurityConfig;
  readonly access: AccessConfig;
  readonly cardNetwork: CardNetworkConfig;
  readonly cards: CardsConfig;
  readonly hsm: HsmConfig;
  readonly metrics: MetricsConfig;
  readonly tracing: TracingConfig;
}

/** Environment variables and the config paths they set. Documented in docs/configuration.md. */
export const ENV_VARS: Readonly<Record<string, string>> = {
  FIXPAY_DATA_DIR: 'dataDir',
  FIXPAY_LOG_LEVEL: 'logLevel',
  FIXPAY_TEMPORAL_EMBEDDED: 'temporal.embedded',
  FIXPAY_TEMPORAL_HOST: 'temporal.host',
  FIXPAY_TEMPORAL_PORT: 'temporal.port',
  FIXPAY_TEMPORAL_UI_PORT: 'temporal.uiPort',
  FIXPAY_TEMPORAL_NAMESPACE: 'temporal.namespace',
  FIXPAY_TEMPORAL_TASK_QUEUE: 'temporal.taskQueue',
  FIXPAY_WORKER_DEPLOYMENT: 'temporal.workerDeployment',
  FIXPAY_WORKER_BUILD_ID: 'temporal.workerBuildId',
  FIXPAY_TEMPORAL_EAGER_START: 'temporal.eagerStart',
  FIXPAY_CAMPAIGN_SCHEDULES: 'temporal.campaignSchedules',
  FIXPAY_CAMPAIGNS_DIR: 'temporal.campaignsDir',
  FIXPAY_TEMPORAL_CLI: 'temporal.cliPath',
  FIXPAY_TEMPORAL_CLI_VERSION: 'temporal.cliVersion',
  FIXPAY_TEMPORAL_CACHE_DIR: 'temporal.cacheDir',
  FIXPAY_TEMPORAL_START_TIMEOUT_MS: 'temporal.startTimeoutMs',
  FIXPAY_TEMPORAL_TLS_CERT_FILE: 'temporal.tlsCertFile',
  FIXPAY_TEMPORAL_TLS_KEY_FILE: 'temporal.tlsKeyFile',
  FIXPAY_TEMPORAL_TLS_CA_FILE: 'temporal.tlsCaFile',
  FIXPAY_TEMPORAL_TLS_SERVER_NAME: 'temporal.tlsServerName',
  DATABASE_URL: 'database.url',
  FIXPAY_DB_HOST: 'database.embeddedHost',
  FIXPAY_DB_PORT: 'database.embeddedPort',
  FIXPAY_DB_MAX_CONNECTIONS: 'database.embeddedMaxConnections',
  FIXPAY_DB_POOL_MAX: 'database.poolMax',
  FIXPAY_API_HOST: 'api.host',
  FIXPAY_API_PORT: 'api.port',
  FIXPAY_WEBHOOK_ALLOWED_NETWORKS: 'api.webhookAllowedNetworks',
  FIXPAY_CATALOGUE_REFRESH_MS: 'api.catalogueRefreshMs',
  FIXPAY_METRICS_ENABLED: 'metrics.enabled',
  FIXPAY_METRICS_HOST: 'metrics.host',
  FIXPAY_METRICS_PORT: 'metrics.port',
  FIXPAY_SDK_METRICS_PORT: 'metrics.sdkPort',
  FIXPAY_TRACING_EXPORTER: 'tracing.exporter',
  FIXPAY_OTLP_ENDPOINT: 'tracing.otlpEndpoint',
  FIXPAY_CODEC_KEYS: 'security.codecKeys',
  FIXPAY_OPERATOR_TOKEN: 'security.operatorToken',
  FIXPAY_LMK: 'security.lmk',
  FIXPAY_SECRETS_FILE: 'security.secretsFile',
  FIXPAY_CODEC_PORT: 'security.codecPort',
  FIXPAY_NODE_ID: 'access.nodeId',
  FIXPAY_ACCESS_HOST: 'access.host',
  FIXPAY_TCP_PCM_PORT: 'access.tcpPcmPort',
  FIXPAY_SIP_PORT: 'access.sipPort',
  FIXPAY_ANSWER_TIMEOUT_MS: 'access.answerTimeoutMs',
  FIXPAY_MAX_LINES: 'access.maxLines',
  FIXPAY_RESERVED_LINES: 'access.reservedLines',
  FIXPAY_SIP_ALLOWED_SOURCES: 'access.sipAllowedSources',
  FIXPAY_SIP_TRUNK_SOURCES: 'access.sipTrunkSources',
  FIXPAY_SIP_ACK_TIMEOUT_MS: 'access.sipAckTimeoutMs',
  FIXPAY_SIP_INVITE_RATE: 'access.sipInviteRatePerSecond',
  FIXPAY_SIP_INVITE_BURST: 'access.sipInviteBurst',
  FIXPAY_SIP_SHARED_RTP: 'access.sipSharedRtp',
  FIXPAY_SIP_SHARED_RTP_RECV_BUFFER_BYTES: 'access.sipSharedRtpReceiveBufferBytes',
  FIXPAY_SIP_PTIME_MS: 'access.sipPtimeMs',
  FIXPAY_DEFAULT_PROFILE: 'access.defaultProfileId',
  FIXPAY_PROFILE_LOOKUP_TIMEOUT_MS: 'access.profileLookupTimeoutMs',
  FIXPAY_PROFILE_CACHE_TTL_MS: 'access.profileCacheTtlMs',
  FIXPAY_PROFILE_CACHE_MAX_ENTRIES: 'access.profileCacheMaxEntries',
  FIXPAY_PUSH_GATEWAY_HOST: 'access.pushGatewayHost',
  FIXPAY_PUSH_GATEWAY_PORT: 'access.pushGatewayPort',
  FIXPAY_PUSH_MAX_LINES: 'access.pushMaxLines',
  FIXPAY_PUSH_LINE: 'access.pushLine',
  FIXPAY_BANK_SIMULATOR: 'cardNetwork.simulator',
  FIXPAY_CARD_NETWORK_HOST: 'cardNetwork.host',
  FIXPAY_CARD_NETWORK_PORT: 'cardNetwork.port',
  FIXPAY_CARD_NETWORK_TIMEOUT_MS: 'cardNetwork.requestTimeoutMs',
  FIXPAY_CARD_NETWORK_ACQUIRER_ID: 'cardNetwork.acquirerId',
  FIXPAY_CARD_NETWORK_FWD_ID: 'cardNetwork.forwardingId',
  FIXPAY_CARD_NETWORK_FRAMING: 'cardNetwork.lengthPrefix',
  FIXPAY_CARD_BATCH_TX_TIMEOUT_MS: 'cards.batchTransactionTimeoutMs',
  FIXPAY_CARD_LOAD_HOLD_SECONDS: 'cards.loadHoldSeconds',
  FIXPAY_HSM_CLIENT_SECRET: 'security.hsmClientSecret',
  FIXPAY_OPERATORS_FILE: 'security.operatorsFile',
  FIXPAY_OPERATOR_BEARER: 'security.operatorBearer',
  FIXPAY_HSM_HOST: 'hsm.host',
  FIXPAY_HSM_PORT: 'hsm.port',
  FIXPAY_HSM_CLIENT_ID: 'hsm.clientId',
  FIXPAY_HSM_CLIENTS_FILE: 'hsm.clientsFile',
  FIXPAY_HSM_TRANSPORT: 'hsm.transport',
  FIXPAY_HSM_HANDSHAKE_TIMEOUT_MS: 'hsm.handshakeTimeoutMs',
  FIXPAY_HSM_IDLE_TIMEOUT_MS: 'hsm.idleTimeoutMs',
  FIXPAY_HSM_FRAME_TIMEOUT_MS: 'hsm.frameTimeoutMs',
  FIXPAY_HSM_MESSAGE_BYTES_MAX: 'hsm.messageBytesMax',
  FIXPAY_HSM_CONNECTIONS_MAX: 'hsm.connectionsMax',
  FIXPAY_HSM_CONNECTIONS_PER_ADDRESS_MAX: 'hsm.connectionsPerAddressMax',
  FIXPAY_HSM_CONNECTIONS_PER_CLIENT_MAX: 'hsm.connectionsPerClientMax',
  FIXPAY_HSM_HANDSHAKES_MAX: 'hsm.handshakesMax',
  FIXPAY_HSM_SOCKET_BUFFER_BYTES: 'hsm.socketBufferBytes',
};

const ajv = new Ajv({ useDefaults: true, coerceTypes: true, allErrors: true });
/** The shape the schema validates: the cache folder is computed when absent. */
type RawConfig = Omit<Config, 'temporal' | 'security' | 'metrics'> & {
  metrics: Omit<MetricsConfig, 'sdkPort'> & { sdkPort?: number };
  temporal: Omit<TemporalConfig, 'cacheDir'> & { cacheDir?: string };
  security: Omit<SecurityConfig, 'secretsFile'> & { secretsFile?: string };
};
const validate = ajv.compile<RawConfig>(schema);

function setPath(target: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next === 'object' && next !== null) node = next as Record<string, unknown>;
    else {
      const created: Record<string, unknown> = {};
      node[part] = created;
      node = created;
    }
  }
  const last = parts[parts.length - 1];
  if (last !== undefined) node[last] = value;
}

/** The SDK metrics port: the one set, else the metrics port + 1 (off when that is 0 or past 65535). */
function sdkMetricsPort(m: { readonly port: number; readonly sdkPort?: number }): number {
  if (m.sdkPort !== undefined) return m.sdkPort;
  return m.port === 0 || m.port >= 65_535 ? 0 : m.port + 1;
}

/**
 * Builds the configuration from schema defaults, then `overrides`, then the environment.
 * Throws FixpayError CONFIG_INVALID naming every offending setting.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Record<string, unknown> = {},
  cwd: string = process.cwd(),
): Config {
  const raw: Record<string, unknown> = structuredClone(overrides);
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath === '' ? '(root)' : e.instancePath.slice(1).replace(/\//g, '.');
      const envName = Object.entries(ENV_VARS).find(([, p]) => p === where)?.[0];
      // An enum's message does not say which values it allows: name them.
      const allowed = e.keyword === 'enum' ? (e.params as { allowedValues?: unknown[] }).allowedValues : undefined;
      const values = allowed === undefined ? '' : ` (${allowed.map((v) => JSON.stringify(v)).join(', ')})`;
      return `${where}${envName === undefined ? '' : ` (${envName})`} ${e.message ?? 'is invalid'}${values}`;
    });
    throw new FixpayError('CONFIG_INVALID', problems.join('; '));
  }
  const dataDir = isAbsolute(raw.dataDir) ? raw.dataDir : resolve(cwd, raw.dataDir);
  const temporal = raw.temporal;
  return Object.freeze({
    ...raw,
    dataDir,
    temporal: Object.freeze({
      ...temporal,
      cacheDir: temporal.cacheDir ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'fixpay', 'temporal'),
    }),
    database: Object.freeze({ ...raw.database }),
    api: Object.freeze({ ...raw.api }),
    access: Object.freeze({ ...raw.access }),
    cardNetwork: Object.freeze({ ...raw.cardNetwork }),
    cards: Object.freeze({ ...raw.cards }),
    hsm: Object.freeze({ ...raw.hsm }),
    metrics: Object.freeze({ ...raw.metrics, sdkPort: sdkMetricsPort(raw.metrics) }),
    tracing: Object.freeze({ ...raw.tracing }),
    security: Object.freeze({
      ...raw.security,
      secretsFile: raw.security.secretsFile ?? join(dataDir, 'secrets.json'),
    }),
  });
}

/** True when running under CI (the CI variable is set). */
export function isCi(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env['CI'] === 'true' || env['CI'] === '1';
}

/**
 * The process environment, for the few places that must hand it on (spawning child processes,
 * looking up PATH). Reading settings from it anywhere but here is refused by lint.
 */
export function processEnv(): Readonly<Record<string, string | undefined>> {
  return process.env;
}
