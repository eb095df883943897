/**
 * The organization (tenant) requests belong to before a caller is identified by a token. Every stored row
 * carries an org id; the repository never reads or writes across orgs.
 */
export const DEFAULT_ORG_ID = '00000000-0000-4000-8000-000000000001';
