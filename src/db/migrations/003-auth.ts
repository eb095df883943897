/**
 * Accounts, sessions and OAuth clients. Secrets are never stored in the clear: passwords and client secrets as
 * scrypt hashes, refresh tokens as SHA-256 hashes (they are random and long, a fast hash is enough).
 */
export const sql = `
CREATE TABLE auth_organizations (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_users (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES auth_organizations (id),
  email text NOT NULL,
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'practitioner', 'patient')),
  fhir_user text,
  display_name text,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX auth_users_email ON auth_users (lower(email));
CREATE INDEX auth_users_org ON auth_users (org_id);

CREATE TABLE auth_clients (
  client_id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES auth_organizations (id),
  name text NOT NULL,
  secret_hash text,
  jwks jsonb,
  scopes text[] NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_clients_org ON auth_clients (org_id);

-- One sign-in; logout or refresh-token reuse revokes it, and with it every access token that names it.
CREATE TABLE auth_sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES auth_users (id),
  org_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE TABLE auth_refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id text NOT NULL REFERENCES auth_sessions (id),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);

-- The key pair access tokens are signed with, shared by every server of the installation.
CREATE TABLE auth_signing_keys (
  kid text PRIMARY KEY,
  purpose text NOT NULL UNIQUE,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- jti of client assertions already used (SMART Backend Services: a replay is refused until it expires).
CREATE TABLE auth_client_assertions (
  client_id text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX auth_client_assertions_expiry ON auth_client_assertions (expires_at);
`;
