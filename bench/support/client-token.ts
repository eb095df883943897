/**
 * An Authorization header for the bootstrap system client (client credentials grant); no header when the
 * server has no token endpoint.
 */
export async function clientAuthorization(base: string, clientId: string, clientSecret: string): Promise<Record<string, string>> {
  const res = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials&scope=system/*.cruds',
  });
  if (res.status === 404) return {};
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { access_token: string };
  return { authorization: `Bearer ${body.access_token}` };
}
