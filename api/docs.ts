/**
 * `/docs`: the API reference rendered by Scalar (@scalar/express-api-reference) from
 * `/openapi.yaml`, with its browser bundle served from the package (`/docs/scalar.js`), so the
 * page works offline and its CSP allows scripts from this origin only (plus the page's one inline
 * start-up script, by hash).
 */
import { createHash } from 'node:crypto';
import express from 'express';
import { partnerSpec } from './openapi';

const BUNDLE = require.resolve('@scalar/api-reference/browser/standalone.js');

/** The page's CSP: this origin's scripts, the inline start-up script by hash, no third parties. */
export function docsCsp(html: string): string {
  const hashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] ?? '')
        .digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    `script-src 'self' ${hashes.join(' ')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

async function renderDocs(): Promise<string> {
  // The package is an ES module: loaded when the page is first asked for, not at start-up.
  const { apiReference } = await import('@scalar/express-api-reference');
  let html = '';
  const capture = {
    type: () => capture,
    send: (s: string) => {
      html = s;
    },
  };
  const handler = apiReference({
    url: '/openapi.yaml',
    cdn: '/docs/scalar.js',
    withDefaultFonts: false,
    telemetry: false,
    // No third-party calls from the page (the CSP would refuse them anyway): no AI agent, no
    // developer tools, no hosted proxy.
    agent: { disabled: true },
    showDeveloperTools: 'never',
    hideClientButton: false,
  }) as unknown as (req: unknown, res: unknown) => void;
  handler({}, capture);
  return html;
}

export function docsRouter(): express.Router {
  const router = express.Router();
  let page: Promise<string> | undefined;
  router.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(partnerSpec().text);
  });
  router.get('/docs', (_req, res, next) => {
    page ??= renderDocs();
    page.then((html) => {
      res.setHeader('Content-Security-Policy', docsCsp(html));
      res.type('text/html').send(html);
    }, next);
  });
  router.get('/docs/scalar.js', (_req, res, next) => {
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.sendFile(BUNDLE, (e) => {
      if (e !== undefined) next(e);
    });
  });
  return router;
}
