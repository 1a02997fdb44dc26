/**
 * One role in its own process: opens what the role needs from the configuration (secrets, the
 * database at DATABASE_URL or the embedded one, the Temporal server at FIXPAY_TEMPORAL_HOST/PORT),
 * starts the role, prints its readiness line, and on SIGTERM or SIGINT drains and stops it, then
 * exits 0. A second signal during the drain exits at once (130).
 */
import { createDataConverter } from '../codec/data-converter';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { codecKeysFromText } from '../codec/payload-codec';
import { loadConfig } from '../config';
import type { Config } from '../config';
import { openDatabase } from '../infra/database';
import { createLogger } from '../infra/logging';
import type { Logger } from '../infra/logging';
import { loadSecrets } from '../infra/secrets';
import { ControlSlot, serveProcessMetrics } from '../infra/metrics';
import { installTracing } from '../infra/tracing';
import { waitForTemporal } from '../infra/temporal';
import { installTemporalRuntime } from '../infra/temporal/runtime';
import type { RoleContext, RunningRole } from './roles';

/** The roles whose process runs Temporal workers, so serves the SDK's own metrics too. */
const SDK_METRICS_ROLES: ReadonlySet<string> = new Set(['worker', 'access-node']);

/**
 * The Temporal runtime of a role process: SDK logs into the role's logger, the SDK's metrics on
 * their own port for the roles running workers, and no shutdown on signals — by default the SDK
 * stops every worker at SIGTERM/SIGINT at once, which would cut the access node's lines worker off
 * from the calls it is draining. The role stops its workers itself.
 */
function installRoleRuntime(config: Config, log: Logger, role: string): string | undefined {
  return installTemporalRuntime(log, {
    shutdownSignals: [],
    ...(SDK_METRICS_ROLES.has(role)
      ? { sdkMetrics: { settings: config.metrics, labels: { process: role, node: config.access.nodeId } } }
      : {}),
  }).url;
}

/** Opens a role's context; `close` releases the database. Throws CONFIG_INVALID, DATABASE_UNAVAILABLE, TEMPORAL_*. */
export async function openRoleContext(
  config: Config,
  log: Logger,
  role = 'role',
): Promise<{
  context: RoleContext;
  close: () => Promise<void>;
  metricsUrl: string | undefined;
  sdkMetricsUrl: string | undefined;
}> {
  const sdkMetricsUrl = installRoleRuntime(config, log, role);
  // A production role never invents secrets: they come from the settings or the secrets file.
  const secrets = loadSecrets(config.security, { generate: false });
  const t = config.temporal;
  const temporalAddress = `${t.host}:${t.port}`;
  await waitForTemporal(temporalAddress, t.startTimeoutMs);
  const db = await openDatabase(config, { onMigration: (name) => log.info({ migration: name }, 'migration applied') });
  // Plans travel by reference (ADR 0013): every role's client and worker reads them from the registry.
  const dataConverter = createDataConverter(
    codecKeysFromText(secrets.codecKeys),
    new Registry(new PrismaDefinitionStore(db.prisma)),
  );
  const tracing = installTracing(config.tracing, { process: role, node: config.access.nodeId });
  // The metrics listener also serves the node's control routes (drain/undrain/state) to operators.
  const control = new ControlSlot();
  const metrics = await serveProcessMetrics(
    config.metrics,
    { process: role, node: config.access.nodeId },
    (why) => log.warn({ why }, 'metrics endpoint not served'),
    { token: secrets.operatorToken, slot: control },
  );
  return {
    context: {
      config,
      log,
      prisma: db.prisma,
      secrets,
      dataConverter,
      temporalAddress,
      metrics: metrics.registry,
      control,
      ...(tracing === undefined ? {} : { tracing }),
    },
    metricsUrl: metrics.url,
    sdkMetricsUrl,
    close: async () => {
      await metrics.close();
      await tracing?.shutdown();
      await db.close();
    },
  };
}

/** Runs a role until SIGTERM/SIGINT. */
export async function runRole(name: string, start: (context: RoleContext) => Promise<RunningRole>): Promise<void> {
  const config = loadConfig();
  const log = createLogger(`fixpay-${name}`, { level: config.logLevel });
  const signalled = { stop: false };
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const onSignal = (signal: string): void => {
    if (signalled.stop) {
      process.stderr.write(`fixpay ${name}: forced exit\n`);
      process.exit(130);
    }
    signalled.stop = true;
    log.info({ signal }, 'stopping: draining');
    wake();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  const { context, close, metricsUrl, sdkMetricsUrl } = await openRoleContext(config, log, name);
  let role: RunningRole;
  try {
    role = await start(context);
  } catch (e) {
    await close();
    throw e;
  }
  process.stdout.write(`${role.ready}\n`);
  process.stdout.write(`fixpay ${name} metrics: ${metricsUrl ?? '(not served)'}\n`);
  if (SDK_METRICS_ROLES.has(name))
    process.stdout.write(`fixpay ${name} sdk metrics: ${sdkMetricsUrl ?? '(not served)'}\n`);
  await stopRequested;
  process.stdout.write(`fixpay ${name} draining\n`);
  await role.stop();
  await close();
  process.stdout.write(`fixpay ${name} stopped\n`);
  process.exit(0);
}
