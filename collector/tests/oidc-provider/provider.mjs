// A real OpenID provider (panva/oidc-provider, OpenID Certified) on loopback
// for the collector's OIDC sign-in tests (collector/tests/console_oidc.rs).
//
// Environment:
//   REDIRECT_URI  the collector's callback, registered for clients
//                 "forewarn" and "other-app" (secret "test-client-secret").
//   ACCOUNTS      JSON {sub: {claims...}}: who may sign in and their claims.
//   ID_TOKEN_CLAIMS  "minimal": the ID token carries no profile or groups
//                 claims, only userinfo does (as many providers do by
//                 default); otherwise the ID token carries them too.
// Prints one line {"issuer": "http://127.0.0.1:PORT"} once listening.
// Clients may come back after signing out (RP-initiated logout) to /login on
// the origin of REDIRECT_URI.
//
// What the test plays as the person at the browser:
//   GET /interaction/:uid?login=SUB  signs SUB in and grants the requested
//                                    scopes (the login and consent pages).
// What the test plays as a provider gone wrong (POST /test/tamper?mode=M):
//   wrong-audience  the next ID token is re-signed with the provider's own
//                   key for audience "other-app";
//   expired         the next ID token is re-signed with the provider's own
//                   key, issued two hours ago and expired one hour ago.
// What the test asks to check what the collector was given:
//   GET /test/last-id-token  the claims of the last ID token issued.
import { generateKeyPair, exportJWK, SignJWT, decodeJwt } from 'jose';
import Provider from 'oidc-provider';

const redirectUri = process.env.REDIRECT_URI;
const accounts = JSON.parse(process.env.ACCOUNTS ?? '{}');
if (!redirectUri) {
  console.error('REDIRECT_URI must name the collector callback');
  process.exit(2);
}

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const client = (client_id) => ({
  client_id,
  client_secret: 'test-client-secret',
  redirect_uris: [redirectUri],
  post_logout_redirect_uris: [`${new URL(redirectUri).origin}/login`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const port = await new Promise((resolve) => {
  // Find a free port first: the issuer URL must name it.
  import('node:net').then(({ createServer }) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
});
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [client('forewarn'), client('other-app')],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  // false: the ID token carries the claims of the scopes asked for;
  // true: only userinfo does, and the collector must ask it.
  conformIdTokenClaims: process.env.ID_TOKEN_CLAIMS === 'minimal',
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    if (!(sub in accounts)) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) };
  },
});

let tamper = 'none';
let lastIdToken = {};

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/tamper' && ctx.method === 'POST') {
    tamper = ctx.query.mode ?? 'none';
    ctx.status = 204;
    return;
  }
  if (ctx.path === '/test/last-id-token' && ctx.method === 'GET') {
    ctx.body = lastIdToken;
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (interaction && ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = ctx.query.login;
    if (!(accountId in accounts)) {
      ctx.status = 400;
      ctx.body = `unknown account ${accountId}`;
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    ctx.redirect(returnTo);
    return;
  }
  await next();
  if (ctx.path === '/token' && tamper !== 'none' && ctx.body?.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    if (tamper === 'wrong-audience') claims.aud = 'other-app';
    if (tamper === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
    ctx.body.id_token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
      .sign(privateKey);
    tamper = 'none';
  }
  if (ctx.path === '/token' && ctx.body?.id_token) {
    lastIdToken = decodeJwt(ctx.body.id_token);
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ issuer }));
});
