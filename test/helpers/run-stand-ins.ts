/**
 * Starts the provider stand-ins for a walk-through by hand (README "Assistants: walk-throughs"): prints the
 * settings that point Hearth at them, and each request they receive. Stop with Ctrl-C.
 *   npx tsx test/helpers/run-stand-ins.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { alexaGatewayStandIn, googleStandIn, iftttRealtimeStandIn, lwaStandIn } from './providers.js';

const lwa = await lwaStandIn().start();
const gateway = await alexaGatewayStandIn().start();
const realtime = await iftttRealtimeStandIn().start();
const google = await googleStandIn();
const keyFile = path.join(mkdtempSync(path.join(tmpdir(), 'hearth-stand-ins-')), 'service-account.json');
writeFileSync(keyFile, JSON.stringify(google.serviceAccount), { mode: 0o600 });

console.log(`export HEARTH_LWA_TOKEN_URL=${lwa.url}/auth/o2/token
export HEARTH_LWA_CLIENT_ID=amzn1.application-oa2-client.stand-in HEARTH_LWA_CLIENT_SECRET=stand-in-secret
export HEARTH_ALEXA_EVENT_GATEWAY_URL=${gateway.url}/v3/events
export HEARTH_HOMEGRAPH_URL=${google.server.url} HEARTH_GOOGLE_SERVICE_ACCOUNT_FILE=${keyFile}
export HEARTH_IFTTT_REALTIME_URL=${realtime.url}/v1/notifications`);

const stands = { lwa, 'alexa gateway': gateway, 'ifttt realtime': realtime, google: google.server };
for (const [name, stand] of Object.entries(stands)) {
  let seen = 0;
  setInterval(() => {
    for (const request of stand.requests.slice(seen))
      console.log(`${name}: ${request.method} ${request.path} ${request.text}`);
    seen = stand.requests.length;
  }, 500);
}
