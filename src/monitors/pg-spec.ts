// pg://CONNINFO;QUERY as uWSGI's emperor_pg takes it: CONNINFO is what libpq's PQconnectdb accepts (keyword=value
// pairs, or a postgres:// URI), QUERY defaults to emperor_pg's own.
import type { ClientConfig } from 'pg';
import { MonitorSpecError } from './types';

/** emperor_pg's query when the spec names none. */
export const DEFAULT_PG_QUERY = 'SELECT name,config,EXTRACT(epoch FROM ts) FROM vassals';

export interface PgSpec {
  config: ClientConfig;
  query: string;
}

/** libpq keywords this client can honour, and where each goes. */
const KEYWORDS: Record<string, (c: ClientConfig, v: string) => void> = {
  host: (c, v) => (c.host = v),
  hostaddr: (c, v) => (c.host = v),
  port: (c, v) => (c.port = Number(v)),
  dbname: (c, v) => (c.database = v),
  user: (c, v) => (c.user = v),
  password: (c, v) => (c.password = v),
  connect_timeout: (c, v) => (c.connectionTimeoutMillis = Number(v) * 1000),
  application_name: (c, v) => (c.application_name = v),
  options: (c, v) => (c.options = v),
  sslmode: (c, v) => {
    if (v === 'disable' || v === 'allow' || v === 'prefer') c.ssl = false;
    else c.ssl = { rejectUnauthorized: v === 'verify-ca' || v === 'verify-full' };
  },
};

export function parsePgSpec(spec: string): PgSpec {
  const body = spec.replace(/^pg:\/\//i, '');
  // as emperor_pg: the first ';' ends the connection string, the rest is the query
  const semi = body.indexOf(';');
  const conninfo = semi < 0 ? body : body.slice(0, semi);
  const query = semi < 0 ? DEFAULT_PG_QUERY : body.slice(semi + 1);
  if (query.trim() === '') throw new MonitorSpecError(`--emperor ${spec}: the query after ';' is empty`);
  if (/^postgres(ql)?:\/\//i.test(conninfo)) return { config: { connectionString: conninfo }, query };
  const config: ClientConfig = {};
  for (const [key, value] of conninfoPairs(conninfo, spec)) {
    const set = KEYWORDS[key];
    if (!set)
      throw new MonitorSpecError(
        `--emperor ${spec}: connection option "${key}" is not supported (known: ${Object.keys(KEYWORDS).join(', ')})`,
      );
    set(config, value);
  }
  return { config, query };
}

/** libpq's keyword = value syntax: values may be single-quoted; a backslash escapes the next character. */
function conninfoPairs(s: string, spec: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  for (;;) {
    skipSpace();
    if (i >= s.length) return out;
    const k = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (!k) throw new MonitorSpecError(`--emperor ${spec}: a connection keyword was expected at "${s.slice(i, i + 20)}"`);
    i += k[0].length;
    skipSpace();
    if (s[i] !== '=') throw new MonitorSpecError(`--emperor ${spec}: missing "=" after "${k[0]}"`);
    i++;
    skipSpace();
    let v = '';
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= s.length) throw new MonitorSpecError(`--emperor ${spec}: unterminated quoted value of "${k[0]}"`);
        if (s[i] === "'") break;
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
      i++;
    } else {
      while (i < s.length && !/\s/.test(s[i])) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
    }
    out.push([k[0], v]);
  }
}
