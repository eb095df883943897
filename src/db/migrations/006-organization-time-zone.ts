/**
 * Each organization's IANA time zone: schedules, the web app and visit times are shown in the clinic's zone,
 * whatever zone the viewer's browser is in.
 */
export const sql = `
ALTER TABLE auth_organizations ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
`;
