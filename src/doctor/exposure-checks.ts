import { type DoctorCheck, type Finding, isLoopbackHost } from './model.js';

/** host:port of a URL, without user name, password, path or query. */
export function addressOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

/** Hearth speaks plain HTTP; beyond loopback, only a TLS-terminating proxy in front of it makes that safe. */
export const httpExposure: DoctorCheck = {
  id: 'http',
  title: 'HTTP listener',
  async run({ http }) {
    if (isLoopbackHost(http.host) || http.trustedProxy !== null) return [];
    return [
      {
        id: 'http.plain-beyond-loopback',
        severity: 'high',
        title: 'HTTP listens beyond loopback without TLS and no trusted proxy is declared',
        evidence: `HOST=${http.host} PORT=${http.port}; Hearth serves plain HTTP and HEARTH_TRUSTED_PROXY is not set, so passwords and tokens may cross the network in clear`,
        fix: 'Put a TLS-terminating reverse proxy in front of Hearth, bind Hearth to HOST=127.0.0.1 (or the private address the proxy reaches) and set HEARTH_TRUSTED_PROXY to the proxy’s address',
      },
    ];
  },
};

export const publicUrlCheck: DoctorCheck = {
  id: 'public-url',
  title: 'PUBLIC_URL',
  async run({ http }) {
    const url = new URL(http.publicUrl);
    if (url.protocol === 'https:' || isLoopbackHost(url.hostname)) return [];
    return [
      {
        id: 'public-url.not-https',
        severity: 'high',
        title: 'PUBLIC_URL is not https outside loopback',
        evidence: `PUBLIC_URL is ${addressOf(http.publicUrl)}: links in e-mails (password resets, invitations) would travel and open in clear`,
        fix: 'Set PUBLIC_URL to the https:// address of the TLS proxy in front of Hearth',
      },
    ];
  },
};

/** /dev/mail answers loopback only, but caught mail holds every sign-in link: it has no place on a server. */
export const devRoutesCheck: DoctorCheck = {
  id: 'dev-routes',
  title: 'Development mail catcher and /dev routes',
  async run({ http }) {
    if (!http.devRoutes) return [];
    const exposed = [
      ...(isLoopbackHost(http.host) ? [] : [`HOST=${http.host}`]),
      ...(isLoopbackHost(hostOf(http.publicUrl)) ? [] : [`PUBLIC_URL ${addressOf(http.publicUrl)}`]),
    ];
    if (exposed.length === 0) return [];
    return [
      {
        id: 'dev-routes.non-loopback',
        severity: 'high',
        title: 'The development mail catcher and /dev/mail run on a non-loopback deployment',
        evidence: `SMTP_URL is not set, so mail (sign-in, reset and invitation links) is kept in memory and shown at /dev/mail; the deployment is reachable beyond loopback (${exposed.join(', ')})`,
        fix: 'Set SMTP_URL to your mail relay (smtps:// or smtp:// with STARTTLS); the catcher and /dev routes are then off',
      },
    ];
  },
};

/** A real connection attempt, with no password and no TLS, to the configured server. */
export const databaseExposure: DoctorCheck = {
  id: 'database',
  title: 'Database connection',
  async run({ database }) {
    if (database.kind === 'pglite') return [];
    const loopback = isLoopbackHost(database.host);
    const where = `${database.host}:${database.port}`;
    const probe = await database.probe();
    const findings: Finding[] = [];
    if (probe.outcome === 'accepted') {
      findings.push({
        id: 'database.no-password',
        severity: loopback ? 'medium' : 'high',
        title: loopback
          ? 'PostgreSQL on loopback accepts a connection without a password'
          : 'PostgreSQL accepts a connection without a password from the network',
        evidence: `A connection to ${where} as the configured user, with no password and no TLS, was accepted`,
        fix: loopback
          ? 'Use scram-sha-256 instead of trust for host connections in pg_hba.conf, so every local user and process needs the password'
          : 'In pg_hba.conf, replace trust with scram-sha-256 and allow only hostssl lines for the application’s address; then reload PostgreSQL',
      });
    }
    if (!loopback && probe.outcome !== 'tls-required' && probe.outcome !== 'unreachable') {
      findings.push({
        id: 'database.plaintext',
        severity: 'high',
        title: 'PostgreSQL beyond loopback accepts connections without TLS',
        evidence: `${where} went on to authentication over a connection without TLS${database.tlsRequested ? '' : ', and DATABASE_URL does not ask for TLS (sslmode)'}`,
        fix: 'Allow only hostssl lines in pg_hba.conf (hostnossl … reject), enable ssl on the server, and add sslmode=verify-full to DATABASE_URL',
      });
    }
    if (probe.outcome === 'unreachable') {
      findings.push({
        id: 'database.unreachable',
        severity: 'info',
        title: 'The database could not be reached for the check',
        evidence: `Connecting to ${where} failed (${probe.code})`,
        fix: 'Run hearth doctor from a machine that reaches the database',
      });
    }
    return findings;
  },
};

/** A real anonymous CONNECT to the broker devices use, and where its plain-TCP listeners are reachable. */
export const mqttExposure: DoctorCheck = {
  id: 'mqtt',
  title: 'MQTT broker',
  async run({ mqtt }) {
    const findings: Finding[] = [];
    const probe = await mqtt.probe();
    const target = addressOf(mqtt.target);
    const exposedBroker = mqtt.endpoints.some((endpoint) => !isLoopbackHost(hostOf(endpoint.url)));
    if (probe.outcome === 'accepted') {
      findings.push({
        id: 'mqtt.anonymous',
        severity: exposedBroker || !isLoopbackHost(hostOf(mqtt.target)) ? 'high' : 'medium',
        title: 'The MQTT broker accepts an anonymous client',
        evidence: `A CONNECT without user name or password to ${target} was accepted (CONNACK 0)`,
        fix:
          mqtt.mode === 'external'
            ? 'Set allow_anonymous false in mosquitto.conf (per listener when per_listener_settings is on) and restart Mosquitto'
            : 'The embedded broker refuses anonymous clients; check that MQTT_HOST and MQTT_PORT point at Hearth’s broker and not another one',
      });
    }
    if (probe.outcome === 'unreachable') {
      findings.push({
        id: 'mqtt.unreachable',
        severity: 'info',
        title: 'The MQTT broker could not be reached for the check',
        evidence: `Connecting to ${target} failed (${probe.code})`,
        fix: 'Run hearth doctor beside the running service (hearth serve), from a machine that reaches the broker',
      });
    }
    for (const endpoint of mqtt.endpoints) {
      const url = new URL(endpoint.url);
      if (url.protocol !== 'mqtt:' || isLoopbackHost(url.hostname)) continue;
      findings.push({
        id: 'mqtt.plain-beyond-loopback',
        severity: 'high',
        title: 'MQTT without TLS beyond loopback',
        evidence: `${endpoint.name} is ${addressOf(endpoint.url)}: device passwords and messages would cross the network in clear`,
        fix:
          mqtt.mode === 'external'
            ? 'Use an mqtts:// listener (Mosquitto listener with certfile/keyfile) for MQTT_URL and MQTT_PUBLIC_URL, and bind plain listeners to 127.0.0.1'
            : 'The embedded broker opens its plain MQTT_PORT on MQTT_HOST beside any TLS listener: set MQTT_HOST=127.0.0.1 behind a TLS-terminating TCP proxy, or block MQTT_PORT at the firewall and give devices MQTT_PUBLIC_URL=mqtts://… on MQTT_TLS_PORT',
      });
    }
    return findings;
  },
};
