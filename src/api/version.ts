// The Toxiproxy API level faultline speaks; clients that check `GET /version` see this.
export const TOXIPROXY_API_VERSION = '2.12.0';
