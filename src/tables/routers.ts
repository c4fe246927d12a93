// uWSGI's routers and subscription system (FastRouter, the HTTP/raw/SSL routers, subscribe-to): this emperor runs
// no router and forwards no subscription. Options that ask for them are named in a warning, never silently dropped;
// the README shows the way to published endpoints and an existing proxy instead.

/** An emperor config option that starts or configures one of uWSGI's routers. */
export function isRouterOption(key: string): boolean {
  const k = key.replace(/_/g, '-');
  return (
    /^(fastrouter|rawrouter|sslrouter|forkptyrouter|forkpty-router|http-subscription-server|https-subscription-server)(-|$)/.test(k) ||
    ['http', 'https', 'http-to', 'http-to-https'].includes(k) ||
    isSubscriptionOption(k)
  );
}

/** A vassal option that subscribes the vassal to a router. */
export function isSubscriptionOption(key: string): boolean {
  const k = key.replace(/_/g, '-');
  return (
    [
      'subscribe-to',
      'st',
      'subscribe',
      'subscribe2',
      'subscribe-freq',
      'subscription-tolerance',
      'unsubscribe-on-graceful-reload',
    ].includes(k) || /^subscribe-with-/.test(k)
  );
}
