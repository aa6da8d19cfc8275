import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Services } from '../app.js';
import { deploymentDoctor } from '../doctor/context.js';
import { type Authenticators, enforceRouteAccess, type RouteAccess } from './access.js';
import { AllowedMethods } from './allowed-methods.js';
import { userAuthenticator } from './auth.js';
import { clientErrorAnswerer, frameworkErrorAnswerer, registerProtocolChecks } from './client-errors.js';
import { deviceAuthenticator } from './device-auth.js';
import { parseJsonAllowingEmpty } from './json-body.js';
import { registerApiDocs, registerOpenApi } from './openapi.js';
import { operatorAuthenticator } from './operator-auth.js';
import { registerProblemHandlers } from './problem.js';
import { PUBLIC_ROUTES } from './public-routes.js';
import { registerNulRefusal } from './refuse-nul.js';
import { accountPageRoutes } from './routes/account-pages.js';
import { accountRoutes } from './routes/accounts.js';
import { adminDoctorRoutes } from './routes/admin-doctor.js';
import { adminIncidentProgressRoutes } from './routes/admin-incident-progress.js';
import { adminIncidentRoutes } from './routes/admin-incidents.js';
import { adminOperatorRoutes } from './routes/admin-operators.js';
import { adminSessionRoutes } from './routes/admin-sessions.js';
import { answerAssistantRefusal, assistantRoutes, IFTTT_PREFIX } from './routes/assistants.js';
import { consoleFallback, consoleRoutes, loadConsoleBuild } from './routes/console.js';
import { consoleSessionRoutes } from './routes/console-sessions.js';
import { deviceRoutes } from './routes/devices.js';
import { healthRoutes } from './routes/health.js';
import { homeRoutes } from './routes/homes.js';
import { integrationRoutes } from './routes/integrations.js';
import { liveRoutes } from './routes/live.js';
import { mailCatcherRoutes } from './routes/mail-catcher.js';
import { meRoutes } from './routes/me.js';
import { metricsRoutes, recordHttpMetrics } from './routes/metrics.js';
import { mfaRoutes } from './routes/mfa.js';
import { oauthRoutes } from './routes/oauth.js';
import { oauthAuthorizeRoutes } from './routes/oauth-authorize.js';
import { scaleRoutes } from './routes/scale.js';
import { sessionRoutes } from './routes/sessions.js';
import { telemetryRoutes } from './routes/telemetry.js';
import { scraperAuthenticator } from './scraper-auth.js';
import { registerSecurityHeaders } from './security-headers.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its declared access level (see enforceRouteAccess). */
    routeAccess: RouteAccess[];
  }
}

export interface HttpServerOptions {
  /** Authenticators for the protected access levels; a level without one answers 401 to everyone. */
  authenticate?: Authenticators;
  /** More public addresses beyond PUBLIC_ROUTES; for tests' own routes only. */
  extraPublicRoutes?: readonly string[];
}

/**
 * The HTTP adapter over the services. Returns the app with its routes added but not yet ready, so callers
 * (and tests) may add routes before `listen()` or `ready()`; those routes pass the same access check.
 */
export async function buildHttpServer(
  services: Services,
  options: HttpServerOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: services.config.bodyLimitBytes,
    // Unique across instances and restarts, so a request id quoted by a user finds one log line.
    genReqId: () => randomUUID(),
    // Every error is a problem document (client-errors.ts), or IFTTT's own format under its prefix: none
    // answered in Fastify's or Node's own shape.
    frameworkErrors: frameworkErrorAnswerer({ [IFTTT_PREFIX]: answerAssistantRefusal }),
    clientErrorHandler: clientErrorAnswerer(services.logger),
    return503OnClosing: false,
    // HEARTH_TRUSTED_PROXY: only that proxy's X-Forwarded-For names the client; nobody else's is believed.
    trustProxy: services.config.trustedProxy ?? false,
    http: { requireHostHeader: false },
  });

  // These hooks must come first: they only see routes registered after them.
  const routeAccess = enforceRouteAccess(
    app,
    {
      user: userAuthenticator(services.sessions),
      device: deviceAuthenticator(services.devices.pairing),
      operator: operatorAuthenticator(services.operators),
      scraper: scraperAuthenticator(services.scrapeTokens, services.config.trustedProxy),
      ...options.authenticate,
    },
    [...PUBLIC_ROUTES, ...(options.extraPublicRoutes ?? [])],
  );
  app.decorate('routeAccess', routeAccess);
  recordHttpMetrics(app, services.metrics);
  const allowedMethods = new AllowedMethods();
  allowedMethods.track(app);

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: accepting text/plain would let any web page post to the API without a CORS preflight.
  app.removeContentTypeParser('text/plain');
  // Many HTTP clients label every request JSON, a DELETE without a body too: that is no body, not an error.
  // A POST, PUT or PATCH with an empty JSON body is still refused, saying why.
  parseJsonAllowingEmpty(app, (request) => request.method === 'DELETE');
  const consoleBuild = loadConsoleBuild();
  registerProblemHandlers(app, (path) => allowedMethods.forPath(path), consoleFallback(consoleBuild));
  registerNulRefusal(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  registerProtocolChecks(app);

  await registerSecurityHeaders(app);
  await registerOpenApi(app);

  await app.register(healthRoutes, { db: services.database.db });
  const { accounts, passwordResets, logins, personalData, accountDeletion, sessions } = services;
  await app.register(accountRoutes, { accounts, passwordResets, logins });
  await app.register(meRoutes, { accounts, personalData, accountDeletion });
  await app.register(accountPageRoutes);
  const { catcher } = services.mail;
  if (catcher) await app.register(mailCatcherRoutes, { catcher, publicUrl: services.config.publicUrl });
  await app.register(mfaRoutes, { mfa: services.mfa });
  await app.register(sessionRoutes, { sessions, accounts });
  await app.register(consoleSessionRoutes, { sessions, logins, publicUrl: services.config.publicUrl });
  await app.register(consoleRoutes, { build: consoleBuild });
  await app.register(homeRoutes, { homes: services.homes });
  await app.register(deviceRoutes, { devices: services.devices, broker: services.broker });
  const { commands, events } = services.telemetry;
  await app.register(telemetryRoutes, { commands, events });
  const { updates, eventUpdates } = services.telemetry;
  await app.register(liveRoutes, {
    homes: services.homes,
    devices: services.devices,
    updates,
    eventUpdates,
  });
  await app.register(scaleRoutes, { scale: services.scale });
  await app.register(assistantRoutes, {
    assistants: services.assistants,
    allowedMethods: (path) => allowedMethods.forPath(path),
  });
  await app.register(adminSessionRoutes, { operators: services.operators });
  const { incidents, incidentJobs } = services;
  await app.register(adminIncidentRoutes, { incidents, incidentJobs });
  await app.register(adminIncidentProgressRoutes, { incidents, incidentJobs });
  await app.register(adminOperatorRoutes, { operators: services.operators, audit: services.audit });
  await app.register(adminDoctorRoutes, { doctor: deploymentDoctor(services), audit: services.audit });
  await app.register(metricsRoutes, { metrics: services.metrics });
  await app.register(oauthRoutes, { authorizationServer: services.authorizationServer });
  await app.register(oauthAuthorizeRoutes, {
    accountLinking: services.accountLinking,
    publicUrl: services.config.publicUrl,
  });
  await app.register(integrationRoutes, { grants: services.grants });
  await registerApiDocs(app);
  return app;
}
