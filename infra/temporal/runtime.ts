/**
 * The Temporal SDK runtime of a fixpay process: the SDK's own logs routed into the platform
 * logger (warn and above by default), and optionally the SDK core's metrics (workflow and activity
 * task latencies, polls, slots, sticky cache…) served by the SDK's Prometheus exporter on their
 * own port beside fixpay's `/metrics` (docs/operations/metrics.md).
 */
import { DefaultLogger, Runtime, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from '../logging';

/** The prefix of every SDK metric name. */
export const SDK_METRIC_PREFIX = 'temporal_';

export interface SdkMetricsSettings {
  readonly enabled: boolean;
  readonly host: string;
  /** 0: no SDK endpoint. */
  readonly sdkPort: number;
}

export interface TemporalRuntimeOptions {
  readonly level?: LogLevel;
  /** Signals on which the SDK stops every worker; the SDK's default when absent. */
  readonly shutdownSignals?: NodeJS.Signals[];
  /** Serve the SDK core's metrics per these settings, with these labels on every series. */
  readonly sdkMetrics?: { readonly settings: SdkMetricsSettings; readonly labels: Record<string, string> };
}

/** Where the SDK's metrics are served, or why not. */
export interface SdkMetricsEndpoint {
  readonly url: string | undefined;
}

let installed: SdkMetricsEndpoint | undefined;

/** Brackets an IPv6 literal for a socket address. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Installs the SDK runtime once per process; later calls return the first install's endpoint (the
 * SDK allows one install). A taken SDK metrics port is logged and the runtime is installed without
 * the exporter: metrics are never the reason a process does not start.
 */
export function installTemporalRuntime(log: Logger, options: TemporalRuntimeOptions = {}): SdkMetricsEndpoint {
  if (installed !== undefined) return installed;
  const base: RuntimeOptions = {
    ...(options.shutdownSignals === undefined ? {} : { shutdownSignals: options.shutdownSignals }),
    logger: new DefaultLogger(options.level ?? 'WARN', (entry) => {
      const meta = { ...(entry.meta ?? {}), sdk: true };
      if (entry.level === 'ERROR') log.error(meta, entry.message);
      else if (entry.level === 'WARN') log.warn(meta, entry.message);
      else log.debug(meta, entry.message);
    }),
  };
  const m = options.sdkMetrics;
  if (m !== undefined && m.settings.enabled && m.settings.sdkPort !== 0) {
    const bindAddress = hostPort(m.settings.host, m.settings.sdkPort);
    try {
      // The SDK binds the port here and throws when it is taken; nothing is installed then.
      Runtime.install({
        ...base,
        telemetryOptions: {
          metrics: { metricPrefix: SDK_METRIC_PREFIX, globalTags: { ...m.labels }, prometheus: { bindAddress } },
        },
      });
      installed = { url: `http://${bindAddress}/metrics` };
      return installed;
    } catch (e) {
      log.warn(
        { why: e instanceof Error ? e.message : String(e), bindAddress },
        'Temporal SDK metrics endpoint not served (set FIXPAY_SDK_METRICS_PORT)',
      );
    }
  }
  Runtime.install(base);
  installed = { url: undefined };
  return installed;
}
